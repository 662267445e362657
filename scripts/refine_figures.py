"""Figures of docs/evaluation.md's refinement section.

    python scripts/refine_figures.py grid --data DATA/eval --output docs/eval/refine/grid.jpg
    python scripts/refine_figures.py memory --sizes 512x512 1024x768
    python scripts/refine_figures.py optimize --data DATA/eval --steps 5 20

``grid``: the release pairs as content | style | original | plain | refined (``--refine`` steps, fp32, as ``adain eval``).
``memory``: the peak memory a refinement adds to a stylization, per pixel (each size in a fresh process: peak RSS
after a plain stylization, then after ``--steps`` refinement steps); prints JSON.
``optimize``: ``adain optimize``'s defaults started from the content with each number of ``--steps``, on the release
pairs (or ``--set full --limit 21``), scored as ``adain eval`` scores (fp32): the means, the mean ratios to the
original's outputs where it has them, and seconds per image (JSON).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path


def grid(args: argparse.Namespace) -> None:
    from adain.evaluation.pairs import eval_data, eval_pairs, load_pair
    from adain.evaluation.report import make_grid
    from adain.geometry import resize_shorter
    from adain.io.images import load_image
    from adain.stylizer import Stylizer

    stylizer = Stylizer(bf16=False)
    rows = []
    for pair in eval_pairs("release", eval_data(args.data)):
        content, style = load_pair(pair, 0)
        shown = (content, style, load_image(pair.reference), stylizer.stylize(content, style), stylizer.stylize(content, style, refine=args.refine))
        rows.append(tuple(resize_shorter(x, args.cell, enlarge=False) for x in shown))
        print(pair.name, flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    make_grid(rows, ("content", "style", "original", "plain", f"refined ({args.refine} steps)"), cell=args.cell).save(args.output, quality=85)
    print(f"wrote {args.output}")


def optimize(args: argparse.Namespace) -> None:
    import time

    from adain.encoder import Encoder
    from adain.evaluation.optimize import OptimizeConfig, optimize_image
    from adain.evaluation.pairs import FULL_SIZE, eval_data, eval_pairs, load_pair
    from adain.io.images import load_image
    from adain.losses import image_metrics

    encoder = Encoder(last="relu5_1")
    pairs = eval_pairs(args.set, eval_data(args.data), args.limit)
    size = FULL_SIZE if args.set == "full" else 0  # as adain eval loads each set
    for steps in args.steps:
        ours: dict[str, list[float]] = {"content": [], "style": [], "gram": []}
        ratios: dict[str, list[float]] = {key: [] for key in ours}
        seconds = []
        for pair in pairs:
            content, style = (x[None] for x in load_pair(pair, size))
            start = time.perf_counter()
            image, _ = optimize_image(content, style, encoder=encoder, config=OptimizeConfig(steps=steps), progress=False)
            seconds.append(time.perf_counter() - start)
            metrics = image_metrics(encoder, image, content, style)
            reference = image_metrics(encoder, load_image(pair.reference)[None], content, style) if pair.reference is not None else None
            for key in ours:
                ours[key].append(metrics[key])
                if reference is not None:
                    ratios[key].append(metrics[key] / reference[key])
        mean = {key: round(sum(v) / len(v), 4) for key, v in ours.items()}
        ratio = {key: round(sum(v) / len(v), 3) for key, v in ratios.items() if v}
        print(json.dumps({"set": args.set, "steps": steps, "pairs": len(pairs), "mean": mean, "mean_ratio": ratio,
                          "seconds": round(sum(seconds) / len(seconds), 1)}), flush=True)


def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_one(size: str, steps: int) -> None:
    import torch

    from adain.stylizer import Stylizer

    w, h = map(int, size.split("x"))
    g = torch.Generator().manual_seed(0)
    content = torch.nn.functional.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w), mode="bilinear")[0]
    style = torch.rand(3, 512, 512, generator=g)
    stylizer = Stylizer(bf16=False)
    stylizer.stylize(content, style)
    plain = peak()
    stylizer.stylize(content, style, refine=steps)
    refined = peak()
    print(json.dumps({"size": size, "pixels": w * h, "plain_peak": plain, "refine_peak": refined, "extra_per_pixel": (refined - plain) / (w * h)}))


def memory(args: argparse.Namespace) -> None:
    for size in args.sizes:
        subprocess.run([sys.executable, __file__, "_one", size, str(args.steps)], check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("grid")
    g.add_argument("--data", type=Path)
    g.add_argument("--refine", type=int, default=10)
    g.add_argument("--cell", type=int, default=256)
    g.add_argument("--output", type=Path, required=True)
    m = sub.add_parser("memory")
    m.add_argument("--sizes", nargs="+", default=["512x512", "1024x768"])
    m.add_argument("--steps", type=int, default=2)
    o = sub.add_parser("optimize")
    o.add_argument("--data", type=Path)
    o.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20])
    o.add_argument("--set", choices=("release", "full"), default="release")
    o.add_argument("--limit", type=int, default=0, help="the first N pairs (0: all)")
    one = sub.add_parser("_one")
    one.add_argument("size")
    one.add_argument("steps", type=int)
    args = p.parse_args()
    if args.what == "grid":
        grid(args)
    elif args.what == "memory":
        memory(args)
    elif args.what == "optimize":
        optimize(args)
    else:
        measure_one(args.size, args.steps)


if __name__ == "__main__":
    main()
