"""Command line: ``adain stylize | train``.

A thin layer over the Python API: parse, call, turn expected errors into a
one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2

TRAIN_EXAMPLES = """examples:
  adain train --content photos/ --style paintings/                # the paper's recipe
  adain train --content photos/ --style paintings/ --size 256 --crop 128 --lr 2e-4 --out runs/cpu
  adain train --content photos/ --style paintings/ --out runs/cpu --resume   # continue
  torchrun --nproc-per-node 4 -m adain.cli train --content photos/ --style paintings/   # 4 GPUs (DDP)
"""


def add_command(sub: argparse._SubParsersAction, name: str, *, help: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with its examples (``epilog``), kept as written."""
    return sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_model_options(p: argparse.ArgumentParser, device_help: str = "(default %(default)s: cuda if available)") -> None:
    """``--device`` and ``--decoder``, shared by the commands that stylize."""
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help=device_help)
    p.add_argument("--decoder", type=Path, help="decoder weights (.safetensors) (default: the one shipped with adain)")


def add_alpha(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alpha", type=float, default=1.0, help="style strength in [0, 1]; 0 reconstructs the content (default %(default)s)")


def add_style_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style-size", type=int, default=512, metavar="N", help="resize each style's shorter side to N (0: keep) (default %(default)s, the training scale)")


def add_style_controls(p: argparse.ArgumentParser, *, mask_help: str, index_help: str, color_help: str) -> None:
    """The paper's controls (``--alpha``, ``--weights``, ``--mask``/``--index-map``, ``--preserve-color``), shared by stylize and video."""
    add_alpha(p)
    p.add_argument("--weights", type=float, nargs="+", metavar="W", help="interpolation weights, one per style (≥ 0, normalised to sum 1)")
    p.add_argument("--mask", type=Path, nargs="+", metavar="FILE", help=mask_help)
    p.add_argument("--index-map", type=Path, metavar="FILE", help=index_help)
    p.add_argument("--preserve-color", choices=("color", "luminance"), help=color_help)


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "train",
        help="train a decoder",
        description="Train the AdaIN decoder with L = Lc + λ·Ls (defaults: the paper's recipe).",
        epilog=TRAIN_EXAMPLES,
    )
    p.add_argument("--content", type=Path, required=True, help="folder of content photos (searched recursively)")
    p.add_argument("--style", type=Path, required=True, help="folder of style images (searched recursively)")
    p.add_argument("--out", type=Path, default=Path("runs/adain"), help="run folder: checkpoint, decoder, log.csv, samples/ (default %(default)s)")
    p.add_argument("--steps", type=int, default=160_000, help="total steps (default %(default)s)")
    p.add_argument("--batch", type=int, default=8, help="images per step and process (default %(default)s)")
    p.add_argument("--size", type=int, default=512, help="resize the shorter side to this before cropping (default %(default)s)")
    p.add_argument("--crop", type=int, default=256, help="random crop side (default %(default)s)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default %(default)s)")
    p.add_argument("--lr-decay", type=float, default=5e-5, help="lr / (1 + decay·step) (default %(default)s)")
    p.add_argument("--style-weight", type=float, default=10.0, help="λ in Lc + λ·Ls (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default %(default)s)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: on CUDA and on CPUs with native bf16)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True, help="channels_last memory format (default on: 1.5x faster with bf16 on this project's CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the decoder")
    p.add_argument("--cache-images", action="store_true", help="keep the resized training images in memory (about 3·size² bytes each): for GPUs and small data sets")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY", help="also keep an exponential moving average of the weights with this decay (e.g. 0.999) and export it as OUT/decoder-ema.safetensors (default: off)")
    p.add_argument("--init", type=Path, help="start from these decoder weights (.safetensors) instead of scratch")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if present")
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop (and save) after this wall-clock budget (0: no limit)")
    p.add_argument("--save-every", type=int, default=200, help="checkpoint every N steps (default %(default)s)")
    p.add_argument("--sample-every", type=int, default=500, help="write a sample grid every N steps (default %(default)s)")
    p.add_argument("--log-every", type=int, default=10, help="append to log.csv every N steps (default %(default)s)")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> None:
    from adain.train import TrainConfig, train

    if args.crop > args.size:
        raise ValueError(f"--crop ({args.crop}) must not exceed --size ({args.size})")
    if args.batch < 1 or args.steps < 0 or args.lr <= 0:
        raise ValueError("--batch must be ≥ 1, --steps ≥ 0 and --lr > 0")
    if not 0 <= args.ema < 1:
        raise ValueError(f"--ema must be in [0, 1), got {args.ema}")
    cfg = TrainConfig(
        content=args.content, style=args.style, out=args.out, steps=args.steps, batch=args.batch, size=args.size,
        crop=args.crop, lr=args.lr, lr_decay=args.lr_decay, style_weight=args.style_weight, seed=args.seed,
        device=args.device, bf16=args.bf16, channels_last=args.channels_last, compile=args.compile, cache_images=args.cache_images, ema=args.ema, init=args.init,
        resume=args.resume, max_minutes=args.max_minutes, save_every=args.save_every, sample_every=args.sample_every,
        log_every=args.log_every,
    )
    path = train(cfg)
    print(f"decoder weights: {path}")


STYLIZE_EXAMPLES = """examples:
  adain stylize --content photo.jpg --style wave.jpg --output out.jpg
  adain stylize --content photo.jpg --style wave.jpg --output out.jpg --alpha 0.6 --preserve-color color
  adain stylize --content photo.jpg --style a.jpg b.jpg --weights 3 1 --output mix.jpg      # interpolation
  adain stylize --content photo.jpg --style a.jpg b.jpg --mask left.png right.png --output split.jpg
  adain stylize --content photo.jpg --style a.jpg b.jpg c.jpg --index-map regions.png --output regions.jpg
  adain stylize --content photos/ --style paintings/ --output out/ --grid grid.jpg       # every pair
  adain stylize --content huge.jpg --style wave.jpg --output out.jpg --tile 1024         # bounded memory

A folder (for --content or --style) stylizes every content x style combination into the
output folder as <content>_<style>.jpg; a bad image there is skipped with a warning, the rest
is written, and the exit code is 2 at the end. With one content file, --output is one image and
several styles are mixed (equal weights unless --weights, or placed by --mask / --index-map).
"""


def add_stylize_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "stylize",
        help="stylize images",
        description="Render a content image in the style of one or several style images (AdaIN).",
        epilog=STYLIZE_EXAMPLES,
    )
    p.add_argument("-c", "--content", type=Path, required=True, help="content image, or a folder of them")
    p.add_argument("-s", "--style", type=Path, nargs="+", required=True, help="style image(s), or a folder of them")
    p.add_argument("-o", "--output", type=Path, required=True, help="output image (.jpg, .png, .webp), or a folder in folder mode")
    add_style_controls(
        p,
        mask_help="one mask per style, the content's size; white = this style here",
        index_help="palette or grey PNG, the content's size; pixel value k (0..K-1) picks style k",
        color_help="keep the content's colours: recolour the styles first, or transfer luminance only",
    )
    p.add_argument("--content-size", type=int, default=0, metavar="N", help="resize the content's shorter side to N first (0: keep; the output has the input's size) (default %(default)s)")
    add_style_size(p)
    p.add_argument("--crop", action="store_true", help="centre square crop of content and styles (after resizing)")
    p.add_argument("--max-pixels", type=int, metavar="N", help="refuse larger images (decompression bombs, memory) (default: 50 million)")
    add_model_options(p)
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1..100 (default %(default)s)")
    p.add_argument("--grid", type=Path, metavar="FILE", help="folder mode: also write a picture grid (styles across, contents down)")
    p.add_argument("--grid-height", type=int, default=160, metavar="PX", help="height of a grid row (default %(default)s)")
    p.add_argument("--tile", default="0", metavar="SIZE", help="one content file: stylize in SIZE px tiles, bounded memory for huge "
                   "images, same result (0: off; auto: 1024 px tiles above 4 megapixels) (default %(default)s)")
    p.set_defaults(func=run_stylize)


def run_stylize(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from adain.io import InputError, image_format, list_images, save_image
    from adain.tiling import stylize_pair
    from adain.transfer import StylizeOptions, Stylizer, load_pair, stylize_folders

    opts = StylizeOptions(
        alpha=args.alpha, preserve_color=args.preserve_color, content_size=args.content_size,
        style_size=args.style_size, crop=args.crop, quality=args.quality,
        **({} if args.max_pixels is None else {"max_pixels": args.max_pixels}),
    )
    if args.grid_height < 16:
        raise ValueError(f"--grid-height must be at least 16, got {args.grid_height}")

    def make_stylizer() -> Stylizer:
        return Stylizer(args.decoder, device=args.device)

    if not args.content.is_dir() and not any(s.is_dir() for s in args.style):
        if args.grid is not None:
            raise ValueError("--grid needs a folder of contents or styles")
        if args.output.is_dir():
            raise InputError(f"{args.output}: is a folder; give an image file name (a folder is for folder mode)")
        image_format(args.output)
        job = load_pair(args.content, args.style, opts, weights=args.weights, masks=args.mask, index_map=args.index_map)
        save_image(stylize_pair(job, make_stylizer(), opts, args.tile), args.output, opts.quality)
        print(f"wrote {args.output}")
        return
    if args.tile != "0":
        raise ValueError("--tile works with one --content file, not folders")
    if args.weights is not None or args.mask is not None or args.index_map is not None:
        raise ValueError("--weights, --mask and --index-map mix styles into one picture: use one --content file and style files, not folders")
    contents = list_images(args.content) if args.content.is_dir() else [args.content]
    styles = [p for s in args.style for p in (list_images(s) if s.is_dir() else [s])]
    report = stylize_folders(
        contents, styles, args.output, opts, make_stylizer, grid=args.grid, grid_height=args.grid_height,
        warn=lambda msg: tqdm.write(f"adain stylize: warning: {msg}", file=sys.stderr),
    )
    print(f"wrote {len(report.written)} images to {args.output}" + (f" and the grid {args.grid}" if args.grid and report.written else ""))
    if report.skipped:
        raise InputError(f"{len(report.skipped)} input file(s) skipped, their results are missing (see the warnings above)")


EVAL_DATA = Path("../shared/data/eval")
EVAL_EXAMPLES = """examples:
  adain eval --set release --report docs/eval/release          # the 6 pairs of the original release
  adain eval --set full --limit 3 --report docs/eval/full     # first 3 pairs of content x style, vs the baseline
  adain eval --set release --decoder runs/cpu/decoder.safetensors --json numbers.json
  adain eval --set release --write-metadata                    # store the numbers in the shipped decoder
"""


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "eval",
        help="measure a decoder (content, style and Gram loss, speed)",
        description="Stylize the evaluation pairs at alpha = 1 and report content, style and Gram loss and seconds per image.",
        epilog=EVAL_EXAMPLES,
    )
    p.add_argument("--set", choices=("release", "full"), default="release", help="release: the 6 pairs of the original's examples; full: content x style at 512 px (default %(default)s)")
    p.add_argument("--data", type=Path, default=EVAL_DATA, help="eval data folder (default %(default)s)")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N pairs (full: in the diagonal order; 0: all)")
    p.add_argument("--baseline", type=Path, default=Path("docs/eval/optimize_full.json"), help="optimisation baseline of the full set (default %(default)s)")
    p.add_argument("--size", type=int, default=512, help="full set: shorter side of content and style images (default %(default)s)")
    p.add_argument("--report", type=Path, help="write report.md, grid.jpg and results.json into this folder")
    p.add_argument("--json", type=Path, help="write the numbers as JSON to this file")
    p.add_argument("--write-metadata", action="store_true", help="store the results in the decoder file's metadata")
    add_model_options(p)
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> None:
    from adain.decoder import DECODER_PATH
    from adain.evaluate import evaluate, write_eval_metadata, write_json, write_report

    if args.limit < 0:
        raise ValueError(f"--limit must be ≥ 0, got {args.limit}")
    results, images = evaluate(args.set, data=args.data, decoder=args.decoder, limit=args.limit, baseline=args.baseline, size=args.size, device=args.device)
    command = " ".join(
        ["adain eval", f"--set {args.set}"]
        + [f"--data {args.data}"] * (args.data != EVAL_DATA)
        + [f"{flag} {value}" for flag, value in (("--decoder", args.decoder), ("--limit", args.limit), ("--report", args.report)) if value]
        + ([f"--size {args.size}"] if args.set == "full" and args.size != 512 else [])
    )
    m = results["mean"]
    print(f"{results['pairs_evaluated']} pairs, mean: content {m['content']:.4g}  style {m['style']:.4g}  gram {m['gram']:.4g}  {m['seconds']:.3f} s/image")
    if args.set == "release":
        r = results["mean_ratio"]
        print(f"ours / original (mean ratio): content {r['content']:.3f}  style {r['style']:.3f}  gram {r['gram']:.3f}; target met: {results['target']['met']}")
    elif results["baseline"].get("pairs_compared"):
        b = results["baseline"]
        r = b["ratio_of_means"]
        print(f"ours / baseline on {b['pairs_compared']} pairs: content {r['content']:.3f}  style {r['style']:.3f}  gram {r['gram']:.3f}; target met: {b['target']['met']}")
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


OPTIMIZE_EXAMPLES = """examples:
  adain optimize --content photo.jpg --style painting.jpg --output best.png
  adain optimize --content photo.jpg --style painting.jpg --output best.png --steps 300 --method adam --lr 0.02
  adain optimize --baseline docs/eval/optimize_full.json --limit 3 --steps 50   # baseline of adain eval --set full
"""


def add_optimize_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "optimize",
        help="optimise the image itself for Lc + λ·Ls (slow, best single image; eval baseline)",
        description="Gatys-style optimisation of the output pixels for the decoder's training objective Lc + λ·Ls, from the content image.",
        epilog=OPTIMIZE_EXAMPLES,
    )
    p.add_argument("--content", type=Path, help="content image")
    p.add_argument("--style", type=Path, help="style image")
    p.add_argument("--output", type=Path, help="output image (.jpg, .png, .webp)")
    p.add_argument("--size", type=int, default=512, help="shorter side of the content image (with --baseline: of both), 0 keeps it (default %(default)s)")
    p.add_argument("--style-size", type=int, default=512, help="shorter side of the style image, 0 keeps it (default %(default)s)")
    p.add_argument("--baseline", type=Path, help="instead of one image: optimise the pairs of 'adain eval --set full' and cache their metrics in this JSON file")
    p.add_argument("--data", type=Path, default=EVAL_DATA, help="eval data folder for --baseline (default %(default)s)")
    p.add_argument("--limit", type=int, default=0, help="--baseline: only the first N pairs of the diagonal order (0: all 231)")
    p.add_argument("--outputs", type=Path, help="--baseline: also save the optimised images into this folder")
    p.add_argument("--steps", type=int, default=100, help="optimiser steps (default %(default)s)")
    p.add_argument("--method", choices=("lbfgs", "adam"), default="lbfgs", help="optimiser (default %(default)s)")
    p.add_argument("--lr", type=float, help="learning rate (default: 1.0 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--style-weight", type=float, default=10.0, help="λ in Lc + λ·Ls (default %(default)s)")
    p.add_argument("--content-target", choices=("adain", "content"), default="adain", help="relu4_1 target of Lc: AdaIN(f(c), f(s)) as in training, or f(c) (default %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default %(default)s)")
    p.set_defaults(func=run_optimize)


def run_optimize(args: argparse.Namespace) -> None:
    from adain.optimize import OptimizeConfig, optimize_file, run_baseline

    config = OptimizeConfig(steps=args.steps, method=args.method, lr=args.lr, style_weight=args.style_weight, content_target=args.content_target)
    single = (args.content, args.style, args.output)
    if args.baseline is not None:
        if any(single):
            raise ValueError("--baseline runs over the eval pairs: do not give --content, --style or --output with it")
        if args.limit < 0:
            raise ValueError(f"--limit must be ≥ 0, got {args.limit}")
        cache = run_baseline(args.baseline, data=args.data, limit=args.limit, config=config, size=args.size, device=args.device, outputs=args.outputs)
        m = cache["mean"]
        print(f"{len(cache['pairs'])} pairs in {args.baseline}, mean: content {m['content']:.4g}  style {m['style']:.4g}  gram {m['gram']:.4g}  {m['seconds']:.1f} s/pair")
        return
    if not all(single):
        raise ValueError("give --content, --style and --output (or --baseline FILE)")
    metrics = optimize_file(args.content, args.style, args.output, config=config, size=args.size, style_size=args.style_size, device=args.device)
    print(f"{args.output}: content {metrics['content']:.4g}  style {metrics['style']:.4g}  gram {metrics['gram']:.4g}  ({metrics['seconds']:.1f} s)")


SERVE_EXAMPLES = """examples:
  adain serve                                   # http://127.0.0.1:8000/ (page), /openapi.json (API schema)
  adain serve --host 0.0.0.0 --port 8080        # reachable from other machines
  adain serve --max-size 768 --queue 8 --max-upload-mb 10
  curl -F content=@photo.jpg -F style_name=hokusai -F alpha=0.8 -o out.png http://127.0.0.1:8000/api/stylize
"""


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "serve",
        help="web page and HTTP API",
        description="Serve the web page (/) and the HTTP API (/api/stylize, schema at /openapi.json) over one model loaded once.",
        epilog=SERVE_EXAMPLES,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="(default %(default)s)")
    add_model_options(p)
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body in MiB (default %(default)s)")
    p.add_argument("--max-size", type=int, default=1024, help="largest output shorter side a request may ask for (default %(default)s)")
    p.add_argument("--max-styles", type=int, default=4, help="styles per request (default %(default)s)")
    p.add_argument("--queue", type=int, default=4, help="requests waiting or running before 503 (default %(default)s)")
    p.add_argument("--cache", type=int, default=64, help="encoded styles kept in memory (default %(default)s)")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    from adain.server import Limits, serve

    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 2**20), max_size=args.max_size, max_styles=args.max_styles, queue=args.queue, cache=args.cache)
    serve(args.host, args.port, decoder=args.decoder, device=args.device, limits=limits)


BENCH_EXAMPLES = """examples:
  adain bench                                   # 256, 512, 1024 px on the default device, markdown table
  adain bench --sizes 512 --runs 9 --compile    # torch.compile'd model (first call compiles)
  adain bench --sizes 256 512 --no-train --accuracy --json > bench.json
  adain bench --compare --sizes 512             # fp32 / bf16 / channels_last / compile side by side
  adain bench --device cuda --sizes 512 1024 --batch 16 --compile --video 1920x1080
"""


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "bench",
        help="measure speed, FLOP/s and memory",
        description="Latency, throughput, training step time, FLOPs, achieved GFLOP/s against this machine's measured "
        "matmul peak, and peak memory; medians of several runs after warm-up.",
        epilog=BENCH_EXAMPLES,
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square sides, multiples of 8 (default %(default)s)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per case; the median is reported (default %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default %(default)s)")
    p.add_argument("--batch", type=int, default=4, help="frames per call of the throughput case (default %(default)s)")
    p.add_argument("--train-batch", type=int, default=2, help="images per training step (default %(default)s)")
    p.add_argument("--no-train", action="store_true", help="skip the training step")
    add_model_options(p)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: on CUDA and on CPUs with native bf16)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True, help="channels_last memory format (default on)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (frozen weights; CUDA graphs on CUDA)")
    p.add_argument("--accuracy", action="store_true", help="also report the output's difference from fp32 on the example images")
    p.add_argument("--video", metavar="WxH", help="also time batches of video frames of this size, e.g. 1920x1080")
    p.add_argument("--compare", action="store_true", help="time fp32, bf16, channels_last and compile variants side by side instead")
    p.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    p.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> None:
    import json
    from dataclasses import asdict

    from adain.bench import compare_variants, run_bench as bench, variants_markdown
    from adain.device import pick_device
    from adain.transfer import Stylizer

    if args.runs < 1 or args.warmup < 0:
        raise ValueError("--runs must be ≥ 1 and --warmup ≥ 0")
    try:
        video = tuple(int(v) for v in args.video.lower().split("x")) if args.video else None
    except ValueError:
        video = ()
    if video is not None and (len(video) != 2 or min(video) < 16):
        raise ValueError(f"--video must be WIDTHxHEIGHT with sides ≥ 16, got {args.video!r}")
    device = pick_device(args.device)
    stylizer = Stylizer(args.decoder, device=device, bf16=args.bf16, channels_last=args.channels_last, compile=args.compile)
    say = lambda line: print(f"bench: {line}", file=sys.stderr, flush=True)  # noqa: E731
    if args.compare:
        results, peaks = compare_variants(stylizer, sizes=tuple(args.sizes), runs=args.runs, warmup=args.warmup)
        print(json.dumps({"peak_gflops": peaks, "variants": [asdict(r) for r in results]}, indent=2) if args.json else variants_markdown(results, peaks, device))
        return
    report = bench(
        stylizer, sizes=tuple(args.sizes), runs=args.runs, warmup=args.warmup, batch=args.batch,
        train_batch=args.train_batch, train=not args.no_train, accuracy=args.accuracy, video=video, progress=say,
    )
    print(report.to_json() if args.json else report.to_markdown())


VIDEO_EXAMPLES = """examples:
  adain video clip.mp4 out.mp4 --style wave.jpg                      # audio, rate, rotation kept
  adain video clip.mp4 out.mp4 --style wave.jpg --stabilize          # less flicker (motion-gated blend)
  adain video clip.mp4 out.mp4 --style a.jpg b.jpg --weights 3 1 --alpha 0.8 --preserve-color color
  adain video clip.mp4 out.mp4 --style a.jpg b.jpg --mask left.png right.png --size 360
  adain video clip.mp4 loop.gif --style wave.jpg --size 240 --max-frames 48    # animated GIF (or .webp)

The flicker printed at the end is the mean absolute difference of consecutive output frames
divided by the same for the input frames (1: the output changes as much as the input).
"""


def add_video_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "video",
        help="stylize a video",
        description="Stylize every frame of a video (PyAV/FFmpeg): the styles are encoded once, frames go in batches; "
        "frame rate, size, rotation and audio are kept.",
        epilog=VIDEO_EXAMPLES,
    )
    p.add_argument("input", type=Path, help="input video (anything FFmpeg reads)")
    p.add_argument("output", type=Path, help="output: .mp4, .mov, .mkv (H.264, audio copied), .gif or .webp (animated)")
    p.add_argument("-s", "--style", type=Path, nargs="+", required=True, help="style image(s)")
    add_style_controls(
        p,
        mask_help="one mask per style, drawn on the video as displayed (resized to the frames)",
        index_help="palette or grey PNG; pixel value k (0..K-1) picks style k",
        color_help="keep the video's colours (styles recoloured to the first frames, or luminance only)",
    )
    add_style_size(p)
    p.add_argument("--size", type=int, default=0, metavar="N", help="shorter side of the output frames (0: the input's) (default %(default)s)")
    p.add_argument("--stabilize", type=float, nargs="?", const=0.8, default=0.0, metavar="M",
                   help="less flicker: motion-gated running average of the output frames with momentum M (0: off; bare flag: 0.8)")
    p.add_argument("--stats-momentum", type=float, default=0.0, metavar="M",
                   help="running average of the content feature statistics across frames (0: off; e.g. 0.9)")
    p.add_argument("--batch", type=int, default=4, help="frames per forward pass (default %(default)s)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, 0 (lossless) .. 51 (default %(default)s)")
    p.add_argument("--codec", help="video encoder instead of the format's default (e.g. mpeg4)")
    p.add_argument("--no-audio", action="store_true", help="do not copy the audio stream")
    p.add_argument("--max-frames", type=int, default=0, metavar="N", help="stop after N frames (0: all)")
    add_model_options(p)
    p.set_defaults(func=run_video)


def run_video(args: argparse.Namespace) -> None:
    from adain.transfer import StylizeOptions, Stylizer, check_weights_or_masks, load_style
    from adain.video import probe, read_masks, stylize_video

    probe(args.input)  # fail fast, before the networks load
    opts = StylizeOptions(alpha=args.alpha, preserve_color=args.preserve_color, style_size=args.style_size)
    check_weights_or_masks(args.weights, args.mask or args.index_map)
    masks = read_masks(args.mask, args.index_map, len(args.style))
    styles = [load_style(s, opts) for s in args.style]
    result = stylize_video(
        args.input, args.output, styles, stylizer=Stylizer(args.decoder, device=args.device), alpha=args.alpha,
        weights=args.weights, masks=masks, preserve_color=args.preserve_color, stabilize=args.stabilize,
        stats_momentum=args.stats_momentum, batch=args.batch, size=args.size, crf=args.crf, codec=args.codec,
        audio=not args.no_audio, max_frames=args.max_frames,
    )
    print(f"wrote {result.path}: {result.frames} frames in {result.seconds:.1f} s ({result.fps:.2f} frames/s); "
          f"flicker {result.flicker:.3f} (output change {result.output_change:.4f} / input change {result.input_change:.4f})"
          + (f"; {result.scene_cuts} scene cut(s) restarted the stabiliser" if result.scene_cuts else ""))


DATASET_EXAMPLES = """examples:
  adain stylize-dataset imagenet/train paintings/ stylized/               # Stylized-ImageNet
  adain stylize-dataset photos/ paintings/ out/ --copies 5 --alpha 0.8 --size 256 --format jpg --quality 90
  adain stylize-dataset photos/ paintings/ out/ --shard 0/2 &  adain stylize-dataset photos/ paintings/ out/ --shard 1/2
  torchrun --nproc-per-node 4 -m adain.cli stylize-dataset photos/ paintings/ out/    # one rank per GPU

The tree and file names of SRC are kept (with --copies N: name_0 .. name_{N-1}); a rerun skips the
outputs that exist; OUT/manifest.csv (manifest-I-of-N.csv per shard) lists content -> style.
"""


def add_dataset_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "stylize-dataset",
        help="stylize a whole folder tree with random styles",
        description="Stylize every image below SRC with styles drawn at random from STYLES into OUT "
        "(Stylized-ImageNet); resumable, shardable, deterministic for a seed.",
        epilog=DATASET_EXAMPLES,
    )
    p.add_argument("src", type=Path, help="folder of content images (searched recursively)")
    p.add_argument("styles", type=Path, help="folder of style images (searched recursively)")
    p.add_argument("out", type=Path, help="output folder (the tree of SRC is recreated there)")
    p.add_argument("--copies", type=int, default=1, metavar="N", help="stylized copies per image, each with another style (default %(default)s)")
    add_alpha(p)
    p.add_argument("--size", type=int, default=0, metavar="N", help="shorter side of the outputs (0: keep each image's) (default %(default)s)")
    p.add_argument("--crop", action="store_true", help="centre square crop after resizing")
    add_style_size(p)
    p.add_argument("--format", choices=("jpg", "png", "webp"), help="output format (default: keep each file's suffix)")
    p.add_argument("--quality", type=int, default=90, help="JPEG/WebP quality 1..100 (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the style draw: same seed, same output (default %(default)s)")
    p.add_argument("--shard", metavar="I/N", help="take every N-th image from the I-th (0 ≤ I < N) (default: torchrun's RANK/WORLD_SIZE, else all)")
    add_model_options(p, device_help="(default %(default)s: cuda if available; cuda:LOCAL_RANK under torchrun)")
    p.set_defaults(func=run_dataset)


def run_dataset(args: argparse.Namespace) -> None:
    import os

    from adain.dataset import DatasetOptions, parse_shard, stylize_dataset
    from adain.transfer import Stylizer

    opts = DatasetOptions(
        copies=args.copies, alpha=args.alpha, size=args.size, crop=args.crop, style_size=args.style_size,
        format=args.format, quality=args.quality, seed=args.seed,
    )
    shard = parse_shard(args.shard) if args.shard else None
    device = args.device
    if device == "auto" and "LOCAL_RANK" in os.environ:
        import torch

        device = f"cuda:{os.environ['LOCAL_RANK']}" if torch.cuda.is_available() else "cpu"
    report = stylize_dataset(args.src, args.styles, args.out, opts, stylizer=Stylizer(args.decoder, device=device), shard=shard)
    print(f"wrote {report.written} images in {report.seconds:.1f} s ({report.images_per_s:.2f} images/s); "
          f"{report.existing} existed already; manifest {report.manifest}")
    if report.failed:
        print(f"{len(report.failed)} unreadable file(s) skipped:", file=sys.stderr)
        for _, why in report.failed:
            print(f"  {why}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adain", description="Arbitrary style transfer in real time with AdaIN (Huang & Belongie, 2017).")
    sub = parser.add_subparsers(dest="command", required=True)
    add_stylize_parser(sub)
    add_train_parser(sub)
    add_eval_parser(sub)
    add_optimize_parser(sub)
    add_serve_parser(sub)
    add_bench_parser(sub)
    add_video_parser(sub)
    add_dataset_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from adain.encoder import WeightsError
    from adain.io import InputError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (InputError, WeightsError, ValueError) as exc:
        print(f"adain {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
