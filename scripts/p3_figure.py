"""The before/after picture of docs/cli.md's colour section: a Display P3 photo stylized with
its colours kept (--preserve-color color), with the profile ignored (as before colour management)
and honoured.

    python scripts/p3_figure.py [--out docs/img/p3_before_after.jpg]

The P3 photo is an example photo converted into Display P3, as a phone stores it: the same
colours, other numbers. Read as if it were sRGB (profile ignored) its colours are duller.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from adain.cli import main as adain
from adain.io.images import load_pil
from adain.io.profiles import P3_PRIMARIES, from_srgb, rgb_profile

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "src" / "adain" / "examples" / "content" / "coast.jpg"
STYLE = ROOT / "src" / "adain" / "examples" / "style" / "macke.jpg"


def labelled(path: Path, label: str, height: int) -> Image.Image:
    img = load_pil(path)  # colour-managed: what adain sees
    img = img.resize((round(img.width * height / img.height), height), Image.LANCZOS)
    ImageDraw.Draw(img).rectangle((0, 0, img.width, 18), fill="white")
    ImageDraw.Draw(img).text((4, 3), label, fill="black")
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "p3_before_after.jpg")
    parser.add_argument("--height", type=int, default=160)
    args = parser.parse_args()
    p3 = rgb_profile("Display P3", P3_PRIMARIES)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pixels = from_srgb(Image.open(PHOTO).convert("RGB"), p3)
        pixels.save(tmp / "p3.png", icc_profile=p3)  # a P3 photo, profile embedded
        pixels.save(tmp / "untagged.png")  # the same numbers without the profile: what was read before
        panels = []
        for name, label in (("untagged", "before: profile ignored"), ("p3", "after: profile honoured")):
            adain(["stylize", "--content", str(tmp / f"{name}.png"), "--style", str(STYLE), "--output", str(tmp / f"{name}_out.png"),
                   "--preserve-color", "color", "--content-size", str(args.height * 2)])
            panels.append((labelled(tmp / f"{name}.png", f"photo, {label}", args.height),
                           labelled(tmp / f"{name}_out.png", "stylized, --preserve-color color", args.height)))
    gap = 4
    w = max(a.width + b.width for a, b in panels) + 3 * gap
    grid = Image.new("RGB", (w, len(panels) * (args.height + gap) + gap), "white")
    for i, (a, b) in enumerate(panels):
        y = gap + i * (args.height + gap)
        grid.paste(a, (gap, y))
        grid.paste(b, (2 * gap + a.width, y))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out, quality=85)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
