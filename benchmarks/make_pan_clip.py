"""Make a camera-motion test clip from one photo: a slow pan with a zoom-in (a "Ken Burns" move).

    python benchmarks/make_pan_clip.py DATA/eval/content/newyork.jpg runs/pan.mp4
    python benchmarks/make_pan_clip.py photo.jpg pan.mp4 --size 640x360 --frames 48 --fps 24

A window of the output's aspect ratio moves across the photo (from 30 % to 70 %
of its width, and a little down) while it shrinks to 75 % of its first width
(1.33× zoom), with smooth start and stop; each frame is that window resampled
(Lanczos, sub-pixel exact) to the output size and written as H.264 (crf 12).
The true motion is known and there is no noise, lighting change or occlusion
except at the frame borders: what boils in a stylization of it is the
stylization's own doing. The clip is generated, not shipped: docs say which
photo and settings made the published figures.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def window(t: float, photo: tuple[int, int], aspect: float) -> tuple[float, float, float, float]:
    """Crop box ``(left, top, right, bottom)`` in photo pixels at time ``t`` in [0, 1]."""
    pw, ph = photo
    s = t * t * (3 - 2 * t)  # smoothstep: the camera starts and stops gently
    width = min(pw * 0.7, ph * 0.9 * aspect) * (1 - 0.25 * s)
    height = width / aspect
    cx = pw * (0.3 + 0.4 * s)
    cy = ph * (0.45 + 0.1 * s)
    left = min(max(cx - width / 2, 0), pw - width)
    top = min(max(cy - height / 2, 0), ph - height)
    return left, top, left + width, top + height


def make_clip(photo: Path, out: Path, size: tuple[int, int], frames: int, fps: int) -> None:
    """Write ``frames`` frames of ``size`` (W, H) at ``fps`` to ``out`` (H.264)."""
    image = Image.open(photo).convert("RGB")
    w, h = size
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.options = {"crf": "12", "preset": "medium"}
        for i in range(frames):
            box = window(i / max(frames - 1, 1), image.size, w / h)
            frame = av.VideoFrame.from_ndarray(np.asarray(image.resize(size, Image.Resampling.LANCZOS, box=box)), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("photo", type=Path)
    p.add_argument("out", type=Path, help="output video (.mp4)")
    p.add_argument("--size", default="1280x720", help="WxH, even sides (default %(default)s)")
    p.add_argument("--frames", type=int, default=96, help="(default %(default)s: 4 s)")
    p.add_argument("--fps", type=int, default=24, help="(default %(default)s)")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    make_clip(args.photo, args.out, (w, h), args.frames, args.fps)
    print(f"wrote {args.out}: {args.frames} frames of {w}x{h} at {args.fps} fps from {args.photo}")


if __name__ == "__main__":
    main()
