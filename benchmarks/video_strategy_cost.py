"""CPU seconds a frame of a temporal strategy alone (no networks), over the frames of a clip.

    python benchmarks/video_strategy_cost.py runs/pan.mp4 --size 720 --max-frames 24

The clip's frames (shorter side ``--size``) plus fixed noise stand in for their
stylization (what the strategy costs hardly depends on it); the strategy runs
over them in batches of 4, as ``adain video`` runs it, and its process CPU time
is printed, with the stylized frames the flow strategy keeps at the end.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from adain.apps.temporal import FlowBlend
from adain.apps.video import fit_frames, temporal_strategy
from adain.apps.video_io import read_frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clip", type=Path)
    p.add_argument("--strategy", choices=("blend", "flow"), default="flow")
    p.add_argument("--size", type=int, default=720)
    p.add_argument("--max-frames", type=int, default=24)
    args = p.parse_args()
    frames = torch.cat([fit_frames(f, args.size, True) for f in read_frames(args.clip, 4, args.max_frames)])
    styled = (frames + 0.2 * (torch.rand(frames.shape, generator=torch.Generator().manual_seed(0)) - 0.5)).clamp(0, 1)
    strategy = temporal_strategy(args.strategy)
    assert strategy is not None
    started = time.process_time()
    for x, y in zip(frames.split(4), styled.split(4)):
        strategy(x, y)
    seconds, n = time.process_time() - started, len(frames)
    kept = f", {len(strategy.frames)} stylized frames kept at the end" if isinstance(strategy, FlowBlend) else ""
    print(f"{args.strategy} at {frames.shape[-1]}x{frames.shape[-2]}: {n} frames, {seconds:.1f} CPU s, {seconds / n:.3f} CPU s a frame{kept}")


if __name__ == "__main__":
    main()
