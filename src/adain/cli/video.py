"""``adain video``: stylize a video."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from adain.cli._options import (
    add_backend_options,
    add_command,
    add_compile_option,
    add_model_options,
    add_style_controls,
    add_style_size,
    check_compile,
    stylizer_from_args,
)
from adain.errors import UsageError

VIDEO_EXAMPLES = """examples:
  adain video clip.mp4 out.mp4 --style wave.jpg                      # audio, rate, rotation kept
  adain video clip.mp4 out.mp4 --style wave.jpg --temporal flow      # texture follows the motion (optical flow)
  adain video clip.mp4 out.mp4 --style wave.jpg --temporal blend     # less flicker in still regions (= --stabilize)
  adain video clip.mp4 out.mp4 --style a.jpg b.jpg --weights 3 1 --alpha 0.8 --preserve-color color
  adain video clip.mp4 out.mp4 --style a.jpg b.jpg --mask left.png right.png --size 360
  adain video clip.mp4 loop.gif --style wave.jpg --size 240 --max-frames 48    # animated GIF (or .webp)
  adain video clip.mp4 out.mp4 --style wave.jpg --method efdm --stabilize     # histogram matching
  adain video-metrics clip.mp4 out.mp4 --style wave.jpg                        # warping error, flicker, style loss
  adain video clip.mp4 out.mp4 --style wave.jpg --backend onnxruntime --models models/   # no torch networks
  adain video long.mp4 out.mp4 --style wave.jpg --no-compile          # never torch.compile (--compile: always)
  adain video clip.mp4 out.mp4 --style wave.jpg --model lite          # the small model: several times the frames per second

--temporal flow carries the stylized texture along the input's optical flow (OpenCV's DIS:
pip install "adain[video-flow]"): each pixel is sampled once from the stylized frame its texture
came from, where the flow holds; disocclusions and scene cuts are stylized afresh. The flicker printed at the end is the mean absolute difference of
consecutive output frames divided by the same for the input frames (1: the output changes as much
as the input). The output records how it was made (styles with their SHA-256, alpha, weights,
method, colour and temporal modes, sizes): adain info out.mp4 prints it. A long video is compiled
for its frame size when a batch's eager time says the frames left repay the compile time (taken
as 2 minutes: a CPU with an empty compile cache); a failed compilation warns and runs eagerly.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "video",
        help="stylize a video",
        description="Stylize every frame of a video (PyAV/FFmpeg): the styles are encoded once, frames go in batches; "
        "frame rate, size, rotation and audio are kept.",
        epilog=VIDEO_EXAMPLES,
    )
    p.add_argument("input", type=Path, help="input video (anything FFmpeg reads)")
    p.add_argument("output", type=Path, help="output: .mp4, .mov, .mkv (H.264, audio copied), .gif or .webp (animated)")
    p.add_argument("-s", "--style", type=Path, nargs="+", required=True, help="style image(s), style file(s) or bundled style names")
    add_style_controls(
        p,
        mask_help="one mask per style, or one fewer (style 1 takes the rest), drawn on the video as displayed: its aspect ratio, "
        "resized to the frames",
        index_help="palette or grey PNG of the video's aspect ratio; pixel value k (0..K-1) picks style k",
        color_help="keep the video's colours (styles recoloured to the first frames, or luminance only)",
    )
    add_style_size(p)
    p.add_argument("--size", type=int, default=0, metavar="N", help="shorter side of the output frames (0: the input's) (default %(default)s)")
    p.add_argument("--temporal", choices=("none", "blend", "flow"), default="none",
                   help="tie frames together: none, blend (motion-gated running average) or flow (the texture carried "
                   "along the optical flow) (default %(default)s)")
    p.add_argument("--momentum", type=float, metavar="M",
                   help="weight of the past: in [0, 1) for --temporal blend (default 0.8), in [0, 1] for flow (default 1: the "
                   "texture is carried along the flow, not averaged; lower values mix it with the new stylization)")
    p.add_argument("--stabilize", type=float, nargs="?", const=0.8, metavar="M",
                   help="the same as --temporal blend --momentum M (bare flag: 0.8)")
    p.add_argument("--stats-momentum", type=float, default=0.0, metavar="M",
                   help="running average of the content feature statistics across frames (0: off; e.g. 0.9)")
    p.add_argument("--batch", type=int, default=4, help="frames per forward pass (default %(default)s)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, 0 (lossless) .. 51 (default %(default)s)")
    p.add_argument("--codec", help="video encoder instead of the format's default (e.g. mpeg4)")
    p.add_argument("--no-audio", action="store_true", help="do not copy the audio stream")
    add_compile_option(p, "frames")
    p.add_argument("--max-frames", type=int, default=0, metavar="N", help="stop after N frames (0: all)")
    p.add_argument("--model", choices=("full", "lite"), default="full",
                   help="full: the paper's network; lite: the small distilled network in ONNX Runtime, several times faster "
                        "(adain method only, paintings rather than style files) (default %(default)s)")
    add_model_options(p)
    add_backend_options(p)
    p.set_defaults(func=run)


def video_temporal(args: argparse.Namespace) -> tuple[str, float | None]:
    """``(temporal, momentum)`` from ``--temporal``, ``--momentum`` and their alias ``--stabilize [M]``."""
    if args.stabilize is None:
        return args.temporal, args.momentum
    if args.temporal not in ("none", "blend") or args.momentum is not None:
        raise UsageError("--stabilize M is --temporal blend --momentum M: give one or the other")
    return ("blend", args.stabilize) if args.stabilize > 0 else ("none", None)


def check_lite(args: argparse.Namespace) -> None:
    """``--model lite`` with an option it has no counterpart for: one line naming it."""
    refused = {"--method": args.method not in (None, "adain"), "--stats-momentum": args.stats_momentum > 0, "--backend": args.backend != "torch",
               "--models": args.models is not None, "--decoder": args.decoder is not None, "--precision": args.precision != "auto",
               "--compile": bool(args.compile)}
    for option, given in refused.items():
        if given:
            raise UsageError(f"--model lite does not take {option} (the lite model is one network, run in ONNX Runtime, transferring with adain)")


def run(args: argparse.Namespace) -> None:
    import sys

    import torch
    from tqdm import tqdm

    from adain.apps.files import StylizeOptions, check_style_files, load_style, network_styles, plan_style
    from adain.apps.masks import read_masks
    from adain.apps.plan import find_style
    from adain.apps.video import VideoOptions, check_frames, stylize_video
    from adain.apps.video_io import output_format, probe
    from adain.controls import check_weights_or_masks
    from adain.geometry import resized_shape
    from adain.io.atomic import check_not_an_input

    # fail fast, before the networks load
    check_compile(args)
    lite = args.model == "lite"
    if lite:
        check_lite(args)
    check_not_an_input(args.output, {"video": args.input, **{f"style {i + 1}": s for i, s in enumerate(args.style)},
                                     **{f"mask {i + 1}": m for i, m in enumerate(args.mask or [])}, "index map": args.index_map})
    temporal, momentum = video_temporal(args)
    style_opts = StylizeOptions(alpha=args.alpha, preserve_color=args.preserve_color, style_size=args.style_size, method=args.method)
    opts = VideoOptions(style_opts.controls(weights=args.weights), temporal=temporal, momentum=momentum, stats_momentum=args.stats_momentum,
                        batch=args.batch, size=args.size, crf=args.crf, codec=args.codec, audio=not args.no_audio,
                        max_frames=args.max_frames, style_size=args.style_size)
    output_format(args.output, opts.codec)
    info = probe(args.input)
    check_frames(args.input, info, size=opts.size, batch=opts.batch, temporal=opts.temporal)
    check_weights_or_masks(args.weights, args.mask or args.index_map)
    shown = (info.width, info.height) if info.rotation % 180 else (info.height, info.width)  # (H, W) as displayed
    masks = read_masks(args.mask, args.index_map, len(args.style), resized_shape(*shown, opts.size), names=[str(s) for s in args.style])
    if masks is not None:
        opts = dataclasses.replace(opts, controls=opts.controls.replace(masks=torch.from_numpy(masks)))
    plans = [plan_style(find_style(s, style_opts.needs_paintings or lite), style_opts) for s in args.style]
    styles = [load_style(plan, style_opts) for plan in plans]
    check_style_files(styles, style_opts)
    if lite:
        from adain.lite.stylizer import LiteStylizer

        stylizer: Any = LiteStylizer()
    else:
        stylizer = stylizer_from_args(args)
    result = stylize_video(args.input, args.output, network_styles(styles, stylizer), opts, stylizer=stylizer, sources=[p.entry() for p in plans],
                           compile=args.compile, log=lambda msg: tqdm.write(f"adain video: {msg}", file=sys.stderr))
    print(f"wrote {result.path}: {result.frames} frames in {result.seconds:.1f} s ({result.fps:.2f} frames/s); "
          f"flicker {result.flicker:.3f} (output change {result.output_change:.4f} / input change {result.input_change:.4f})"
          + (f"; {result.scene_cuts} scene cut(s) restarted the temporal state" if result.scene_cuts else ""))
