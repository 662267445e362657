"""Figures and numbers of the transfer methods' docs: stroke scale (docs/cli.md) and textures (docs/evaluation.md).

    python scripts/methods_figures.py                 # both, into docs/img/
    python scripts/methods_figures.py --only texture --styles hokusai --size 128 --steps 2   # a quick check

Stroke scale: one photo stylized as a small preview and at full size, with a fixed style size
(--style-size 512) and with --style-scale 1, shown at the same display size.
Textures: for each bundled style, the decoded texture of each method, the adain one refined by
Gram-loss steps, and the same number of steps from the noise alone; style and Gram loss of each
(the metrics of adain eval, against the style image) and seconds, printed as a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from adain.apps.files import StylizeOptions, load_content, load_style
from adain.encoder import Encoder
from adain.evaluation.report import make_grid
from adain.geometry import resize_shorter
from adain.io.images import EXAMPLES, save_image
from adain.losses import gram_distance, style_distance
from adain.stylizer import Stylizer
from adain.texture import noise_image, refine_texture, synthesize_texture


def stroke_scale(stylizer: Stylizer, out: Path, preview: int = 256, full: int = 1024, cell: int = 320) -> None:
    content, style = EXAMPLES / "content" / "coast.jpg", EXAMPLES / "style" / "hokusai.jpg"
    rows = []
    for opts in (StylizeOptions(style_size=512), StylizeOptions(style_scale=1.0)):
        row = []
        for size in (preview, full):
            o = dataclasses.replace(opts, content_size=size)
            image = load_content(content, o)
            row.append(resize_shorter(stylizer.stylize(image, load_style(style, o, image)), cell))
        rows.append(tuple(row))
    save_image(make_grid(rows, (f"preview {preview} px", f"full size {full} px"), cell=cell), out, quality=88)
    print(f"wrote {out}: rows --style-size 512, --style-scale 1")


def losses(metrics: Encoder, image: torch.Tensor, style: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        o, s = metrics(image[None]), metrics(style[None])
    return float(style_distance(o, s)), float(gram_distance(o, s))


def timed(make: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    image = make()
    return image, time.perf_counter() - start


def textures(stylizer: Stylizer, names: list[str], size: int, steps: int, out: Path) -> None:
    metrics = Encoder(last="relu5_1")
    rows, table = [], []
    for name in names:
        style = load_style(EXAMPLES / "style" / f"{name}.jpg", StylizeOptions(style_size=size))
        made = {f"decoded, {m}": timed(partial(synthesize_texture, stylizer, style, size, size, method=m)) for m in ("adain", "wct", "efdm")}
        start = made["decoded, adain"][0]
        made[f"adain + {steps} refine steps"] = timed(partial(refine_texture, start, style, stylizer.encoder, steps))
        made[f"noise + {steps} steps (no decoder)"] = timed(partial(refine_texture, noise_image(size, size), style, stylizer.encoder, steps))
        table += [(name, label, *losses(metrics, image, style), seconds) for label, (image, seconds) in made.items()]
        rows.append((resize_shorter(style, size)[:, :size, :size], *(image for image, _ in made.values())))
    labels = ("style", "adain", "wct", "efdm", f"adain + {steps} steps", f"noise + {steps} steps")
    save_image(make_grid(rows, labels, cell=size), out, quality=88)
    print(f"wrote {out}\n\n| style | texture | style loss | Gram loss | s |\n|---|---|---:|---:|---:|")
    for name, label, ls, gram, seconds in table:
        print(f"| {name} | {label} | {ls:.1f} | {gram:.2f} | {seconds:.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("stroke", "texture"))
    p.add_argument("--styles", nargs="+", default=["hokusai", "marc"])
    p.add_argument("--size", type=int, default=256, help="texture side in px")
    p.add_argument("--steps", type=int, default=20, help="refinement steps")
    p.add_argument("--out", type=Path, default=Path("docs/img"))
    args = p.parse_args()
    torch.manual_seed(0)
    stylizer = Stylizer()
    if args.only in (None, "stroke"):
        stroke_scale(stylizer, args.out / "style-scale.jpg")
    if args.only in (None, "texture"):
        textures(stylizer, args.styles, args.size, args.steps, args.out / "textures.jpg")


if __name__ == "__main__":
    main()
