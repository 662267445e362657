"""Warping error, flicker and style loss of the temporal strategies on frames stylized once (no re-encoding).

    python benchmarks/video_temporal_frames.py DATA/eval/video/cutBunny.mp4 --per-frame runs/cutBunny_180.mp4
    python benchmarks/video_temporal_frames.py runs/pan.mp4 --strategies none flow --max-frames 48
    python benchmarks/video_temporal_frames.py runs/pan.mp4 --per-frame runs/pan_180.mp4 --side-by-side docs/img/video_temporal.gif --max-frames 48

The clip's frames (shorter side ``--size``) are stylized once, per frame (or read
from ``--per-frame``, an ``adain video`` output of the clip at that size), each
strategy runs over them as ``adain video --temporal`` does (batches of 4), and the
result is measured against the clip's frames in memory, as ``adain video-metrics``
does (Farnebäck flow; style loss on every ``--style-every``-th frame). The
strategies only post-process the stylized frames, so this isolates what they
change. Prints one JSON line per strategy, then a Markdown table (ratios to
per-frame and to blend).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from video_temporal import LABELS, STRATEGIES, side_by_side

from adain.apps.files import StylizeOptions, load_style
from adain.apps.flow import FlowEstimator
from adain.apps.video import fit_frames, temporal_strategy
from adain.apps.video_io import probe, read_frames
from adain.apps.video_metrics import FlickerMeter, WarpMeter, frame_style_loss
from adain.encoder import Encoder
from adain.stylizer import Stylizer


def run_strategy(name: str, inputs: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
    """The output frames of strategy ``name`` over the clip, fed in batches of 4 as ``adain video`` does."""
    strategy = temporal_strategy(name)
    return styled if strategy is None else torch.cat([strategy(i, o) for i, o in zip(inputs.split(4), styled.split(4))])


def table(rows: dict[str, dict]) -> str:
    """Markdown table of the measured strategies."""
    base, blend = rows.get("none"), rows.get("blend")
    lines = ["| run | warping error | vs per-frame | vs blend | flicker | style loss | vs per-frame |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        we, sl = r["warp_error"], r["style_loss"]
        lines.append(f"| {LABELS[name]} | {we:.4f} | {we / base['warp_error']:.0%} | " if base else f"| {LABELS[name]} | {we:.4f} | | ")
        lines[-1] += f"{we / blend['warp_error']:.0%} | " if blend else " | "
        lines[-1] += f"{r['flicker']:.2f} | {sl:.2f} | " + (f"{sl / base['style_loss'] - 1:+.1%} |" if base else " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clip", type=Path)
    p.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    p.add_argument("--per-frame", type=Path, help="the per-frame stylization of the clip (default: stylize here)")
    p.add_argument("--style", type=Path, default=Path("src/adain/examples/style/hokusai.jpg"))
    p.add_argument("--size", type=int, default=180)
    p.add_argument("--max-frames", type=int, default=0)
    p.add_argument("--style-every", type=int, default=4)
    p.add_argument("--flow", default="farneback", help="the metric's flow (default %(default)s)")
    p.add_argument("--side-by-side", type=Path, metavar="FILE", help="only write the frames of the three strategies side by "
                   "side (animated .webp or .gif), no metrics")
    p.add_argument("--sbs-height", type=int, default=144)
    args = p.parse_args()
    style = load_style(args.style, StylizeOptions())  # as adain video sizes it
    inputs = torch.cat([fit_frames(f, args.size, True) for f in read_frames(args.clip, 8, args.max_frames)])
    if args.per_frame:
        styled = torch.cat(list(read_frames(args.per_frame, 8, args.max_frames)))[: len(inputs)]
        inputs = inputs[: len(styled)]
    else:
        stylizer = Stylizer()
        stats = stylizer.style_stats([style])
        styled = torch.cat([stylizer.stylize_batch(b, stats) for b in inputs.split(4)])
    if args.side_by_side:
        side_by_side([run_strategy(s, inputs, styled) for s in STRATEGIES], args.side_by_side, args.sbs_height, float(probe(args.clip).rate))
        print(f"wrote {args.side_by_side} ({args.side_by_side.stat().st_size / 1e6:.2f} MB)")
        return
    encoder = Encoder().eval()
    with torch.no_grad():
        feats = encoder(style[None])
    rows = {}
    for name in args.strategies:
        started = time.process_time()
        out = run_strategy(name, inputs, styled)
        seconds = time.process_time() - started
        warp, flicker = WarpMeter(FlowEstimator(args.flow)), FlickerMeter()
        warp.update(inputs, out)
        flicker.update(inputs, out)
        loss = torch.cat([frame_style_loss(encoder, b, feats) for b in out[:: args.style_every].split(8)]).mean()
        rows[name] = {"clip": args.clip.name, "strategy": name, "frames": len(out), "size": list(out.shape[-2:]), **warp.result(),
                      "flicker": flicker.flicker, "style_loss": float(loss), "style_every": args.style_every,
                      "strategy_cpu_seconds": seconds, "metric_flow": args.flow}
        print(json.dumps(rows[name]), flush=True)
    print(f"\n{args.clip.name}: {len(inputs)} frames at {inputs.shape[-1]}x{inputs.shape[-2]}, style {args.style.name}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
