"""Compare the temporal strategies of ``adain video`` on one clip: warping error, flicker, style loss, frames/s.

    python benchmarks/video_temporal.py DATA/eval/video/cutBunny.mp4 --size 180
    python benchmarks/video_temporal.py runs/pan.mp4 --size 720 --max-frames 4 --no-metrics --warmup    # throughput only
    python benchmarks/video_temporal.py clip.mp4 --size 180 --side-by-side docs/img/video_temporal.webp

Each strategy (``none``, ``blend``, ``flow``) stylizes the clip with the same
style and settings through :func:`adain.apps.video.stylize_video` (H.264, crf 18),
one after the other in one process; then :func:`adain.apps.video_metrics.measure_video`
measures each output against the clip (Farnebäck flow for the metric; the
stylizer follows DIS ``medium``). Prints a Markdown table; the ratios are to the
per-frame (``none``) run. Frames/s are given by the wall clock and by the
process's CPU time (all its threads): on a loaded machine only the latter compares. ``--side-by-side`` writes the first frames of the
three outputs next to each other as an animated WebP or GIF.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from adain.apps.files import StylizeOptions, load_style
from adain.apps.video import stylize_video
from adain.apps.video_io import probe, read_frames
from adain.apps.video_metrics import measure_video
from adain.geometry import resize_shorter
from adain.stylizer import Stylizer

STRATEGIES = ("none", "blend", "flow")
LABELS = {"none": "per-frame", "blend": "--temporal blend", "flow": "--temporal flow"}


def side_by_side(streams: list[torch.Tensor], dst: Path, height: int, fps: float) -> None:
    """Frames ``(N, 3, H, W)`` of each strategy (in :data:`STRATEGIES` order), ``height`` px high, side by side
    with labels → animated WebP or GIF."""
    pictures = []
    for i in range(min(len(s) for s in streams)):
        tiles = [Image.fromarray(resize_shorter(s[i], height).mul(255).round().byte().permute(1, 2, 0).numpy()) for s in streams]
        w = tiles[0].width
        canvas = Image.new("RGB", (w * len(tiles) + 4 * (len(tiles) - 1), height), "white")
        draw = ImageDraw.Draw(canvas)
        for k, (tile, name) in enumerate(zip(tiles, STRATEGIES)):
            canvas.paste(tile, (k * (w + 4), 0))
            draw.rectangle((k * (w + 4), 0, k * (w + 4) + 7 * len(LABELS[name]) + 6, 14), fill="black")
            draw.text((k * (w + 4) + 3, 1), LABELS[name], fill="white")
        pictures.append(canvas)
    dst.parent.mkdir(parents=True, exist_ok=True)
    extra = {"quality": 80, "method": 4} if dst.suffix.lower() == ".webp" else {"optimize": True}
    pictures[0].save(dst, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0, **extra)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clip", type=Path)
    p.add_argument("--style", type=Path, default=Path("src/adain/examples/style/hokusai.jpg"))
    p.add_argument("--style-size", type=int, default=512)
    p.add_argument("--size", type=int, default=180, help="shorter side of the frames (default %(default)s)")
    p.add_argument("--max-frames", type=int, default=0)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    p.add_argument("--no-metrics", action="store_true", help="throughput only")
    p.add_argument("--style-every", type=int, default=1, help="style loss on every N-th frame (default %(default)s)")
    p.add_argument("--warmup", action="store_true", help="a throw-away run of one batch first (one-time set-up costs out of the timings)")
    p.add_argument("--out", type=Path, default=Path("runs/video_temporal"))
    p.add_argument("--side-by-side", type=Path, metavar="FILE", help="animated .webp or .gif of the three outputs")
    p.add_argument("--sbs-frames", type=int, default=48)
    p.add_argument("--sbs-height", type=int, default=144)
    args = p.parse_args()

    style = load_style(args.style, StylizeOptions(style_size=args.style_size))  # as adain video sizes it
    stylizer = Stylizer()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, outputs = {}, []
    if args.warmup:
        stylize_video(args.clip, args.out / "warmup.mp4", [style], stylizer=stylizer, batch=args.batch, size=args.size,
                      max_frames=args.batch, progress=False)
    for name in args.strategies:
        dst = args.out / f"{args.clip.stem}_{args.size}_{name}.mp4"
        cpu = time.process_time()
        result = stylize_video(args.clip, dst, [style], stylizer=stylizer, temporal=name, batch=args.batch,
                               size=args.size, max_frames=args.max_frames, progress=False)
        cpu = time.process_time() - cpu
        rows[name] = {"fps": result.fps, "frames": result.frames, "seconds": result.seconds, "cuts": result.scene_cuts,
                      "cpu_fps": result.frames / cpu}
        print(f"{name}: {result.frames} frames in {result.seconds:.1f} s ({result.fps:.2f} frames/s), "
              f"{cpu:.1f} CPU s ({result.frames / cpu:.3f} frames per CPU second)", flush=True)
        outputs.append(dst)
        if not args.no_metrics:
            started = time.perf_counter()
            metrics = measure_video(args.clip, dst, style, max_frames=args.max_frames, style_every=args.style_every)
            rows[name].update(vars(metrics))
            print(f"  {metrics.to_text()} ({time.perf_counter() - started:.0f} s)", flush=True)
    base = rows.get("none", {})
    print(f"\n{args.clip.name}, frames {next(iter(rows.values()))['frames']} at shorter side {args.size}, style {args.style.name}\n")
    if args.no_metrics:
        print("| run | frames/s (wall) | frames per CPU second | vs per-frame (CPU) |\n|---|---:|---:|---:|")
        for name, r in rows.items():
            ratio = f"{r['cpu_fps'] / base['cpu_fps']:.0%}" if base else ""
            print(f"| {LABELS[name]} | {r['fps']:.3f} | {r['cpu_fps']:.3f} | {ratio} |")
    else:
        print("| run | warping error (vs per-frame) | flicker | style loss (vs per-frame) | occluded | frames/s |\n|---|---:|---:|---:|---:|---:|")
        for name, r in rows.items():
            we = f"{r['warp_error']:.4f} ({r['warp_error'] / base['warp_error']:.0%})" if base else f"{r['warp_error']:.4f}"
            sl = f"{r['style_loss']:.2f} ({r['style_loss'] / base['style_loss'] - 1:+.1%})" if base else f"{r['style_loss']:.2f}"
            print(f"| {LABELS[name]} | {we} | {r['flicker']:.3f} | {sl} | {r['occluded']:.1%} | {r['fps']:.2f} |")
        print(f"\ninput's own warping error: {next(iter(rows.values()))['input_warp_error']:.4f}")
    if args.side_by_side and len(outputs) == len(STRATEGIES):
        streams = [torch.cat(list(read_frames(path, 16, args.sbs_frames))) for path in outputs]
        side_by_side(streams, args.side_by_side, args.sbs_height, float(probe(args.clip).rate))
        print(f"wrote {args.side_by_side} ({args.side_by_side.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
