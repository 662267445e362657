"""The learning-curve picture of docs/training.md: every decoder of its release-set table as a point
(content ratio across, style ratio up), coloured by training phase, with the target and the milestone.

    python scripts/learning_curve.py [--table docs/training.md] [--out docs/img/learning_curve.png]

The numbers are read from the table itself (the rows under the ``| decoder | CPU hours | content |
style | gram |`` header), so the picture always shows what the table says. A row whose first cell
starts with "…" continues the phase of the row above it; rows with a style ratio above 2 (the first
minutes of training) are left out so that the rest can be told apart.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
HEADER = "| decoder | CPU hours | content | style | gram |"
PHASES = {  # label: colour, in the order of the legend
    "128 px crops, raw weights": (150, 150, 150),
    "128 px crops, weight average": (31, 119, 180),
    "256 px crops (abandoned)": (188, 189, 34),
    "lr 5e-5 from the average": (44, 160, 44),
    "fork A: lr 1.5e-5": (255, 127, 14),
    "fork B: scale augmentation": (148, 103, 189),
    "fork C: channel-weighted style": (214, 39, 40),
    "mixes of two weight sets": (23, 190, 207),
}
MAX_STYLE = 2.0
OVERVIEW = ((0.96, 1.32), (0.96, 1.76), (0.1, 0.2))  # content range, style range, grid steps
CLOSE_UP = ((1.170, 1.192), (1.280, 1.340), (0.005, 0.01))
SIZE, PANEL, TOP, LEFT = (1160, 640), (470, 440), 40, 70


@dataclass(frozen=True)
class Point:
    phase: str
    content: float
    style: float
    shipped: bool


def phase_of(head: str, label: str) -> str:
    """The phase of a row from the first cell of its phase's first row (``head``) and its own (``label``)."""
    if "mean of" in head or "layer" in head:
        return "mixes of two weight sets"
    for key, phase in (("fork A", "fork A: lr 1.5e-5"), ("fork B", "fork B: scale augmentation"), ("fork C", "fork C: channel-weighted style"),
                       ("lr 5e-5", "lr 5e-5 from the average"), ("256 px", "256 px crops (abandoned)")):
        if key in head:
            return phase
    if head.startswith("128 px"):
        return "128 px crops, weight average" if "average" in label else "128 px crops, raw weights"
    raise SystemExit(f"a row of the table belongs to no known phase: {head!r}")


def read_table(path: Path) -> list[Point]:
    """The rows of the release-ratio table of ``path`` as points."""
    lines = path.read_text().splitlines()
    try:
        start = lines.index(HEADER) + 2
    except ValueError:
        raise SystemExit(f"{path}: no table with the header {HEADER!r}") from None
    points, head = [], ""
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        label, _hours, content, style, _gram = (c.strip() for c in line.strip("|").split("|"))
        head = head if label.startswith("…") else label
        shipped = "**" in content
        points.append(Point(phase_of(head, label), float(content.strip("*")), float(style.strip("*")), shipped))
    return points


def panel(d: ImageDraw.ImageDraw, points: list[Point], origin: tuple[int, int], ranges: tuple, title: str, overview: bool) -> None:
    """One scatter plot of ``points`` with its top-left corner at ``origin``; ``ranges`` is ``(content, style, grid steps)``."""
    (c0, c1), (s0, s1), (cstep, sstep) = ranges
    font = ImageFont.load_default(size=13)
    ox, oy = origin
    w, h = PANEL

    def xy(content: float, style: float) -> tuple[float, float]:
        return ox + (content - c0) / (c1 - c0) * w, oy + (1 - (style - s0) / (s1 - s0)) * h

    if overview:
        d.rectangle([xy(c0, 1.10), xy(1.10, s0)], fill=(232, 244, 232))
        d.text(xy(0.97, 1.095), "milestone: 1.10", fill=(60, 120, 60), font=font)
    for i in range(round((c1 - c0) / cstep) + 1):
        v = round(c0 / cstep) * cstep + i * cstep
        if c0 <= v <= c1:
            d.line([xy(v, s0), xy(v, s1)], fill=(225, 225, 225))
            d.text((xy(v, s0)[0] - 14, oy + h + 6), f"{v:.{math.ceil(-math.log10(cstep))}f}", fill="black", font=font)
    for i in range(round((s1 - s0) / sstep) + 1):
        v = round(s0 / sstep) * sstep + i * sstep
        if s0 <= v <= s1:
            d.line([xy(c0, v), xy(c1, v)], fill=(225, 225, 225))
            d.text((ox - 40, xy(c0, v)[1] - 8), f"{v:.{math.ceil(-math.log10(sstep))}f}", fill="black", font=font)
    d.rectangle([ox, oy, ox + w, oy + h], outline="black")
    d.text((ox, oy - 22), title, fill="black", font=ImageFont.load_default(size=15))
    if overview:
        tx, ty = xy(1.0, 1.0)
        d.line([tx - 8, ty - 8, tx + 8, ty + 8], fill="black", width=3)
        d.line([tx - 8, ty + 8, tx + 8, ty - 8], fill="black", width=3)
        d.text((tx + 10, ty - 22), "target: the original (1, 1)", fill="black", font=font)
        d.rectangle([xy(CLOSE_UP[0][0], CLOSE_UP[1][1]), xy(CLOSE_UP[0][1], CLOSE_UP[1][0])], outline=(120, 120, 120))
    for p in sorted(points, key=lambda p: p.shipped):  # the shipped one on top
        if p.style > MAX_STYLE or not (c0 <= p.content <= c1 and s0 <= p.style <= s1):
            continue
        x, y = xy(p.content, p.style)
        r = (8 if p.shipped else 5) if not overview else (6 if p.shipped else 4)
        d.ellipse([x - r, y - r, x + r, y + r], fill=PHASES[p.phase], outline="black" if p.shipped else None, width=2)
        if p.shipped and not overview:
            d.text((x + 11, y - 7), "shipped", fill="black", font=font)


def draw(points: list[Point], out: Path) -> None:
    img = Image.new("RGB", SIZE, "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=15)
    panel(d, points, (LEFT, TOP), OVERVIEW, "all of training (grey box: the close-up)", overview=True)
    panel(d, points, (LEFT * 2 + PANEL[0] + 40, TOP), CLOSE_UP, "close-up: the last 7,500 steps (from step 24,764)", overview=False)
    d.text((LEFT, TOP + PANEL[1] + 30), "across: content loss, ours / original;  up: style loss, ours / original "
           "(release set, mean of 6 pairs; lower is better for both)", fill="black", font=font)
    for i, (phase, colour) in enumerate(PHASES.items()):
        x, y = LEFT + 270 * (i % 4), TOP + PANEL[1] + 70 + 26 * (i // 4)
        d.ellipse([x, y, x + 11, y + 11], fill=colour)
        d.text((x + 18, y - 2), phase, fill="black", font=ImageFont.load_default(size=13))
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=ROOT / "docs" / "training.md")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "learning_curve.png")
    args = parser.parse_args()
    points = read_table(args.table)
    draw(points, args.out)
    print(f"{args.out}: {sum(p.style <= MAX_STYLE for p in points)} of {len(points)} decoders")


if __name__ == "__main__":
    main()
