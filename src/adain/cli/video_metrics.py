"""``adain video-metrics``: temporal consistency and style loss of a stylized video."""

from __future__ import annotations

import argparse
from pathlib import Path

from adain.cli._options import add_command, add_style_size

VIDEO_METRICS_EXAMPLES = """examples:
  adain video-metrics clip.mp4 out.mp4 --style wave.jpg              # one line
  adain video-metrics clip.mp4 out.mp4 --style wave.jpg --json       # every number, as JSON
  adain video-metrics clip.mp4 clip.mp4                               # the input against itself: ≈ 0

warping error (Lai et al. 2018): mean |O_t - warp(O_t-1)| over consecutive frames, warped with the
optical flow of the INPUT frames (OpenCV's Farnebäck), over the pixels the forward-backward check keeps
(the occluded fraction is reported); warp_mse is the same squared (Lai et al.'s exact E_warp).
flicker: mean |O_t - O_t-1| / mean |I_t - I_t-1| (no flow). style loss: per frame, the paper's Ls
against the style image (as adain eval), averaged. Needs pip install "adain[video-flow]".
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "video-metrics",
        help="temporal consistency (flow-warped error, flicker) and style loss of a stylized video",
        description="Measure a stylized video against its input: the flow-warped error of Lai et al. (2018) with the "
        "occluded fraction, the flicker ratio, and the per-frame style loss against the style.",
        epilog=VIDEO_METRICS_EXAMPLES,
    )
    p.add_argument("input", type=Path, help="the input video (resized to the output's frame size)")
    p.add_argument("output", type=Path, help="its stylization (frame i against input frame i)")
    p.add_argument("-s", "--style", type=Path, help="the style image, for the style loss (left out without it)")
    add_style_size(p)
    p.add_argument("--flow", choices=("farneback", "ultrafast", "fast", "medium"), default="farneback",
                   help="optical flow of the input: Farnebäck or a DIS preset (default %(default)s: not the DIS flow --temporal flow follows)")
    p.add_argument("--max-frames", type=int, default=0, metavar="N", help="compare the first N frames (0: all)")
    p.add_argument("--style-every", type=int, default=1, metavar="N", help="style loss on every N-th frame only (faster) (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a line")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="for the style loss's VGG-19 (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import torch
    from tqdm import tqdm

    from adain.apps.files import StylizeOptions, load_style
    from adain.apps.flow import FlowEstimator
    from adain.apps.video_io import probe
    from adain.apps.video_metrics import check_videos, measure_video
    from adain.device import pick_device
    from adain.encoder import Encoder
    from adain.errors import UsageError

    check_videos(args.input, args.output, args.max_frames)  # before the progress bar
    info = probe(args.input)
    FlowEstimator(args.flow)  # OpenCV missing: say so before anything runs
    style = load_style(args.style, StylizeOptions(style_size=args.style_size)) if args.style else None
    if style is not None and not isinstance(style, torch.Tensor):
        raise UsageError(f"{args.style}: the style loss needs the style image, not a saved style file")
    encoder = Encoder().to(pick_device(args.device)) if style is not None else None
    total = min(info.frames or 0, args.max_frames or info.frames or 0) or None
    with tqdm(total=total, unit="frame", desc=args.output.name, leave=False, disable=args.json) as bar:
        metrics = measure_video(args.input, args.output, style, encoder=encoder, flow=args.flow, max_frames=args.max_frames,
                                style_every=args.style_every, progress=lambda done: bar.update(done - bar.n))
    print(metrics.to_json() if args.json else metrics.to_text())
