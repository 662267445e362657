"""The two models side by side on the original release's pairs: content | style | original | full | lite.

    python scripts/lite_figures.py --data DATA/eval --out docs/img/lite_release.jpg [--lite checkpoints/lite/lite-ema.safetensors]

The full model is the shipped decoder (fp32), the lite model the shipped one or ``--lite`` weights; both at the release
pairs' 512 px, each painting at the size its model takes (512 px for the full model, the lite model's 256 px).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from adain.evaluation.pairs import eval_data, release_pairs
from adain.evaluation.report import make_grid
from adain.geometry import resize_shorter
from adain.io.images import load_image, save_image
from adain.lite.export import export_lite
from adain.lite.model import load_lite
from adain.lite.runtime import LiteModel
from adain.lite.weights import STYLE_SIZE
from adain.stylizer import Stylizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="the eval data folder (default: $ADAIN_EVAL_DATA)")
    parser.add_argument("--out", type=Path, default=Path("docs/img/lite_release.jpg"))
    parser.add_argument("--lite", type=Path, help="lite weights (.safetensors) instead of the shipped ones")
    args = parser.parse_args()
    full = Stylizer(device="cpu", bf16=False)
    if args.lite is None:
        lite = LiteModel()
    else:
        with tempfile.TemporaryDirectory() as folder:
            export_lite(load_lite(args.lite), folder)
            lite = LiteModel(folder)
    rows = []
    for pair in release_pairs(eval_data(args.data) / "examples"):
        content, style = load_image(pair.content), load_image(pair.style)
        painting = resize_shorter(style, STYLE_SIZE, enlarge=False).permute(1, 2, 0).numpy()
        small = torch.from_numpy(lite.stylize(content.permute(1, 2, 0).numpy(), [painting])).permute(2, 0, 1)
        rows.append((content, style, load_image(pair.reference), full.stylize(content, style), small))
    save_image(make_grid(rows, ("content", "style", "original", "full", "lite"), cell=200), args.out, quality=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
