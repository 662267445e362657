"""Warping error, flicker and style loss of the temporal strategies on frames stylized once (no re-encoding).

    python benchmarks/video_temporal_frames.py DATA/eval/video/cutBunny.mp4 --strategy flow
    python benchmarks/video_temporal_frames.py runs/pan.mp4 --per-frame runs/pan180/pan_180_none.mp4 --strategy blend

The clip's frames (shorter side ``--size``) are stylized once, per frame (or read
from ``--per-frame``, an ``adain video`` output of the clip), the strategy runs over
them, and the result is measured against the clip's frames in memory, as
``adain video-metrics`` does (Farnebäck flow; style loss on every ``--style-every``-th frame).
The strategies only post-process the stylized frames, so this isolates what they change;
run one process per strategy to use more cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from video_temporal import STRATEGIES, side_by_side

from adain.apps.flow import FlowEstimator
from adain.apps.video import fit_frames, temporal_strategy
from adain.apps.video_io import probe, read_frames
from adain.apps.video_metrics import FlickerMeter, WarpMeter, frame_style_loss
from adain.encoder import Encoder
from adain.geometry import resize_shorter
from adain.io import load_image
from adain.stylizer import Stylizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clip", type=Path)
    p.add_argument("--strategy", choices=("none", "blend", "flow"), default="none")
    p.add_argument("--per-frame", type=Path, help="the per-frame stylization of the clip (default: stylize here)")
    p.add_argument("--style", type=Path, default=Path("src/adain/examples/style/hokusai.jpg"))
    p.add_argument("--size", type=int, default=180)
    p.add_argument("--max-frames", type=int, default=0)
    p.add_argument("--style-every", type=int, default=4)
    p.add_argument("--flow", default="farneback", help="the metric's flow (default %(default)s)")
    p.add_argument("--side-by-side", type=Path, metavar="FILE", help="only write the first --max-frames frames of the three "
                   "strategies side by side (animated .webp or .gif), no metrics")
    p.add_argument("--sbs-height", type=int, default=144)
    args = p.parse_args()
    style = resize_shorter(load_image(args.style), 512)
    inputs = torch.cat([fit_frames(f, args.size, True) for f in read_frames(args.clip, 8, args.max_frames)])
    if args.per_frame:
        styled = torch.cat(list(read_frames(args.per_frame, 8, args.max_frames)))[: len(inputs)]
        inputs = inputs[: len(styled)]
    else:
        stylizer = Stylizer()
        stats = stylizer.style_stats([style])
        styled = torch.cat([stylizer.stylize_batch(b, stats) for b in inputs.split(4)])
    if args.side_by_side:
        streams = [styled if s == "none" else temporal_strategy(s)(inputs, styled) for s in STRATEGIES]
        side_by_side(streams, args.side_by_side, args.sbs_height, float(probe(args.clip).rate))
        print(f"wrote {args.side_by_side} ({args.side_by_side.stat().st_size / 1e6:.2f} MB)")
        return
    strategy = temporal_strategy(args.strategy)
    started = time.perf_counter()
    out = styled if strategy is None else torch.cat([strategy(i, o) for i, o in zip(inputs.split(4), styled.split(4))])
    seconds = time.perf_counter() - started
    warp, flicker = WarpMeter(FlowEstimator(args.flow)), FlickerMeter()
    warp.update(inputs, out)
    flicker.update(inputs, out)
    encoder = Encoder().eval()
    with torch.no_grad():
        feats = encoder(style[None])
    loss = torch.cat([frame_style_loss(encoder, b, feats) for b in out[:: args.style_every].split(8)]).mean()
    print(json.dumps({"clip": args.clip.name, "strategy": args.strategy, "frames": len(out), "size": list(out.shape[-2:]),
                      **warp.result(), "flicker": flicker.flicker, "style_loss": float(loss), "style_every": args.style_every,
                      "strategy_seconds": seconds, "metric_flow": args.flow}))


if __name__ == "__main__":
    main()
