"""``adain optimize``: the optimisation baseline, or one image optimised."""

from __future__ import annotations

import argparse
from pathlib import Path

from adain.cli._options import Choices, add_command, defaults_of
from adain.errors import UsageError

CONFIG = defaults_of("adain.evaluation.optimize:OptimizeConfig")

OPTIMIZE_EXAMPLES = """examples:
  adain optimize --content photo.jpg --style painting.jpg --output best.png
  adain optimize --content photo.jpg --style painting.jpg --output best.png --steps 300 --method adam --lr 0.02
  adain optimize --baseline docs/eval/optimize_full.json --limit 3 --steps 50   # baseline of adain eval --set full
"""


def register(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--baseline", type=Path,
                   help="instead of one image: optimise the pairs of 'adain eval --set full' and cache their metrics in this JSON file")
    p.add_argument("--data", type=Path, help="eval data folder for --baseline (default: $ADAIN_EVAL_DATA)")
    p.add_argument("--limit", type=int, default=0, help="--baseline: only the first N pairs of the diagonal order (0: all 231)")
    p.add_argument("--outputs", type=Path, help="--baseline: also save the optimised images into this folder")
    p.add_argument("--steps", type=int, default=CONFIG("steps"), help="optimiser steps (default %(default)s)")
    p.add_argument("--method", choices=Choices("adain.evaluation.optimize:METHODS"), default=CONFIG("method"), metavar="METHOD",
                   help="optimiser: %(choices)s (default %(default)s)")
    p.add_argument("--lr", type=float, help="learning rate (default: 1.0 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--style-weight", type=float, default=CONFIG("style_weight"), help="λ in Lc + λ·Ls (default %(default)s)")
    p.add_argument("--content-target", choices=Choices("adain.evaluation.optimize:CONTENT_TARGETS"), default=CONFIG("content_target"), metavar="TARGET",
                   help="relu4_1 target of Lc (%(choices)s): AdaIN(f(c), f(s)) as in training, or f(c) (default %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from adain.evaluation.optimize import OptimizeConfig, optimize_file, run_baseline

    config = OptimizeConfig(steps=args.steps, method=args.method, lr=args.lr, style_weight=args.style_weight, content_target=args.content_target)
    single = (args.content, args.style, args.output)
    if args.baseline is not None:
        if any(single):
            raise UsageError("--baseline runs over the eval pairs: do not give --content, --style or --output with it")
        if args.limit < 0:
            raise UsageError(f"--limit must be ≥ 0, got {args.limit}")
        cache = run_baseline(args.baseline, data=args.data, limit=args.limit, config=config, size=args.size, device=args.device, outputs=args.outputs)
        m = cache["mean"]
        print(f"{len(cache['pairs'])} pairs in {args.baseline}, mean: content {m['content']:.4g}  style {m['style']:.4g}  gram {m['gram']:.4g}  "
              f"{m['seconds']:.1f} s/pair")
        return
    if not all(single):
        raise UsageError("give --content, --style and --output (or --baseline FILE)")
    metrics = optimize_file(args.content, args.style, args.output, config=config, size=args.size, style_size=args.style_size, device=args.device)
    print(f"{args.output}: content {metrics['content']:.4g}  style {metrics['style']:.4g}  gram {metrics['gram']:.4g}  ({metrics['seconds']:.1f} s)")
