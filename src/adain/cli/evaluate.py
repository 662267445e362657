"""``adain eval``: measure a decoder on an evaluation set."""

from __future__ import annotations

import argparse
from pathlib import Path

from adain.cli._options import Choices, add_backend_options, add_command, add_model_options, add_refine_option, stylizer_from_args
from adain.errors import UsageError

EVAL_EXAMPLES = """examples:
  adain eval --set release --report docs/eval/release          # the 6 pairs of the original release
  adain eval --set full --limit 3 --report docs/eval/full     # first 3 pairs of content x style, vs the baseline
  adain eval --set release --decoder runs/cpu/decoder.safetensors --json numbers.json
  adain eval --set release --write-metadata                    # store the numbers in the shipped decoder
  adain eval --set release --method adain wct efdm --report docs/eval/methods-release   # methods side by side
  adain eval --set release --backend onnxruntime --models models-int8/   # an ONNX export (e.g. int8) in ONNX Runtime
  adain eval --set release --precision int8                             # the int8 model adain stylize --precision int8 runs
  adain eval --set release --model lite --report docs/eval/lite-release  # the lite model
  adain eval --set release --model lite --decoder runs/lite/lite-ema.safetensors   # a lite training run's weights
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "eval",
        help="measure a decoder (content, style and Gram loss, speed)",
        description="Stylize the evaluation pairs at alpha = 1 and report content, style and Gram loss and seconds per image.",
        epilog=EVAL_EXAMPLES,
    )
    p.add_argument("--set", choices=Choices("adain.evaluation.pairs:SETS"), default="release", metavar="SET",
                   help="%(choices)s; release: the 6 pairs of the original's examples; full: content x style at 512 px (default %(default)s)")
    p.add_argument("--data", type=Path, help="eval data folder (default: $ADAIN_EVAL_DATA)")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N pairs (full: in the diagonal order; 0: all)")
    p.add_argument("--baseline", type=Path, default=Path("docs/eval/optimize_full.json"), help="optimisation baseline of the full set (default %(default)s)")
    p.add_argument("--size", type=int, default=512, help="full set: shorter side of content and style images (default %(default)s)")
    p.add_argument("--report", type=Path, help="write report.md, grid.jpg and results.json into this folder")
    p.add_argument("--json", type=Path, help="write the numbers as JSON to this file")
    p.add_argument("--write-metadata", action="store_true", help="store the results in the decoder file's metadata (adain only)")
    p.add_argument("--method", nargs="+", choices=Choices("adain.names:Method"), default=["adain"], metavar="M",
                   help="transfer method(s): adain, wct, efdm; several give one table and one grid with a column each (default adain)")
    p.add_argument("--model", choices=("full", "lite"), default="full",
                   help="the network that stylizes: full (the decoder) or lite (the small distilled model, ONNX Runtime) (default %(default)s)")
    add_refine_option(p)
    add_model_options(p)
    add_backend_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from adain.decoder import DECODER_PATH
    from adain.evaluation.evaluate import compare_methods, evaluate
    from adain.evaluation.report import write_eval_metadata, write_json, write_report
    from adain.onnx.runtime import OnnxNetworks

    if args.limit < 0:
        raise UsageError(f"--limit must be ≥ 0, got {args.limit}")
    if args.write_metadata and args.refine:
        raise UsageError("--write-metadata stores the decoder's own numbers: use it without --refine")
    if args.write_metadata and args.method != ["adain"]:
        raise UsageError("--write-metadata stores the adain numbers: use it without --method")
    if args.model == "lite" and (args.method != ["adain"] or args.backend != "torch" or args.precision != "auto" or args.write_metadata):
        raise UsageError("--model lite evaluates the lite model (the shipped one, or --decoder lite.safetensors): no --method, --backend, "
                         "--precision or --write-metadata")
    if args.write_metadata and (args.backend != "torch" or args.precision != "auto"):
        raise UsageError("--write-metadata stores the torch decoder's numbers: use it without --backend or --precision")
    command = " ".join(
        ["adain eval", f"--set {args.set}"]
        + [f"--data {args.data}"] * (args.data is not None)
        + [f"--backend {args.backend} --models {args.models}"] * (args.backend != "torch")
        + [f"--precision {args.precision}"] * (args.precision != "auto")
        + ["--model lite"] * (args.model == "lite")
        + [f"{flag} {value}" for flag, value in (("--decoder", args.decoder), ("--limit", args.limit), ("--report", args.report)) if value]
        + ([f"--size {args.size}"] if args.set == "full" and args.size != 512 else [])
        + ([f"--method {' '.join(args.method)}"] if args.method != ["adain"] else [])
        + ([f"--refine {args.refine}"] if args.refine else [])
    )
    options = dict(data=args.data, decoder=args.decoder, limit=args.limit, baseline=args.baseline, size=args.size, device=args.device, model=args.model,
                   refine=args.refine)
    if args.backend != "torch" or args.precision != "auto":
        stylizer = stylizer_from_args(args)
        if isinstance(stylizer.networks, OnnxNetworks):
            precision = stylizer.networks.manifest.get("precision")
            options.update(stylizer=stylizer, backend=f"onnxruntime {precision} ({args.models or 'built from the decoder'})")
        else:
            options.update(stylizer=stylizer, backend=f"torch {args.precision}")
    if len(args.method) > 1:
        results, images = compare_methods(args.set, args.method, **options)
        for method, r in results["methods"].items():
            m = r["mean"]
            print(f"{method}: {r['pairs_evaluated']} pairs, mean: content {m['content']:.4g}  style {m['style']:.4g}  "
                  f"gram {m['gram']:.4g}  {m['seconds']:.3f} s/image")
        if args.json:
            write_json(args.json, results)
        if args.report:
            print(f"report: {write_report(args.report, results, images, command)}")
        return
    results, images = evaluate(args.set, method=args.method[0], **options)
    m = results["mean"]
    print(f"{results['pairs_evaluated']} pairs, mean: content {m['content']:.4g}  style {m['style']:.4g}  gram {m['gram']:.4g}  {m['seconds']:.3f} s/image")
    if args.set == "release":
        r = results["mean_ratio"]
        print(f"ours / original (mean ratio): content {r['content']:.3f}  style {r['style']:.3f}  gram {r['gram']:.3f}; target met: {results['target']['met']}")
    elif results["baseline"].get("pairs_compared"):
        b = results["baseline"]
        r = b["ratio_of_means"]
        print(f"ours / baseline on {b['pairs_compared']} pairs: content {r['content']:.3f}  style {r['style']:.3f}  gram {r['gram']:.3f}; "
              f"target met: {b['target']['met']}")
    else:
        print(f"no optimisation baseline for these pairs at size {args.size} in {args.baseline}")
    if args.json:
        write_json(args.json, results)
    if args.report:
        print(f"report: {write_report(args.report, results, images, command)}")
    if args.write_metadata:
        path = args.decoder or DECODER_PATH
        write_eval_metadata(path, results)
        print(f"metadata eval_{args.set} written to {path}")
