"""Temporal consistency and style of a stylized video: ``adain video-metrics``.

For an input video I and its stylization O (frames in [0, 1], the input
resized to the output's size):

* **warping error** (Lai et al., ECCV 2018, "Learning Blind Video Temporal
  Consistency"): for each pair of consecutive frames, output frame t−1 is
  warped onto frame t with the optical flow of the *input* frames, and
  ``|O_t − warp(O_{t−1})|`` is averaged over the pixels (and RGB channels)
  that the forward-backward check (:func:`adain.apps.flow.occlusion`) keeps; the
  mean over the pairs is the warping error. ``warp_mse`` is the same with
  squared differences, the exact form of Lai et al.'s E_warp. The occluded
  fraction (pixels left out) is reported beside it, and the input's own
  warping error: what flow errors and lighting changes leave even for a
  perfectly consistent video (≈ 0 for a pan over a still image).
* **flicker**: mean absolute difference of consecutive output frames over the
  same for the input frames (no flow: real motion counts as change).
* **style loss**: the paper's Ls of each output frame against the style image,
  Σ over relu1_1..relu4_1 of ‖μ(o) − μ(s)‖₂ + ‖σ(o) − σ(s)‖₂
  (:func:`adain.losses.style_distance`, as in ``adain eval``), averaged over
  frames, so that consistency bought by washing the style out shows.

The flow is Farnebäck's by default, not the DIS flow that ``adain video
--temporal flow`` follows: a metric with the stylizer's own flow would reward
agreeing with that flow's errors (measured: it does, by about a fifth).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from adain.apps.flow import FlowEstimator, flow_to_previous, gray_u8, warp
from adain.apps.video_io import probe, read_frames
from adain.encoder import Encoder
from adain.errors import InputError, UsageError
from adain.losses import style_distance

METRIC_FLOW = "farneback"


def frame_difference(frames: Tensor) -> Tensor:
    """Mean absolute difference of consecutive frames: ``(N, 3, H, W)`` → ``(N − 1,)``."""
    return (frames[1:] - frames[:-1]).abs().flatten(1).mean(1)


class FlickerMeter:
    """Accumulates frame-to-frame change of input and output over a stream of batches."""

    def __init__(self) -> None:
        self.last: tuple[Tensor, Tensor] | None = None
        self.input_sum = self.output_sum = 0.0
        self.pairs = 0

    def update(self, inputs: Tensor, outputs: Tensor) -> None:
        """Add a batch of consecutive input and output frames, both ``(N, 3, H, W)``."""
        if self.last is not None:
            inputs, outputs = torch.cat([self.last[0], inputs]), torch.cat([self.last[1], outputs])
        self.input_sum += float(frame_difference(inputs).sum())
        self.output_sum += float(frame_difference(outputs).sum())
        self.pairs += inputs.shape[0] - 1
        self.last = inputs[-1:], outputs[-1:]

    @property
    def input_change(self) -> float:
        """Mean absolute difference of consecutive input frames (0 to 1 scale)."""
        return self.input_sum / max(self.pairs, 1)

    @property
    def output_change(self) -> float:
        """Mean absolute difference of consecutive output frames (0 to 1 scale)."""
        return self.output_sum / max(self.pairs, 1)

    @property
    def flicker(self) -> float:
        """Output change / input change (NaN for a still or one-frame input)."""
        return self.output_change / self.input_change if self.input_change > 0 else math.nan


def pair_warp_error(previous: Tensor, current: Tensor, flow: Tensor, occluded: Tensor) -> tuple[float, float] | None:
    """Warping error of one frame pair.

    Args:
        previous, current: frames t−1 and t ``(1, 3, H, W)``.
        flow: ``(1, 2, H, W)`` from t to t−1 (:func:`adain.apps.flow.flow_to_previous`).
        occluded: ``(1, 1, H, W)`` bool, pixels to leave out.

    Returns:
        Mean absolute and mean squared difference of ``current`` and the warped
        ``previous`` over the kept pixels and channels, or ``None`` when every
        pixel is occluded (a scene cut).
    """
    keep = (~occluded).float()
    n = float(keep.sum()) * current.shape[1]
    if n == 0:
        return None
    diff = (current - warp(previous, flow)) * keep
    return float(diff.abs().sum()) / n, float(diff.pow(2).sum()) / n


class WarpMeter:
    """Accumulates the warping error of output frames (and of the input frames) over a stream of batches.

    Args:
        estimator: optical flow of the input frames.
    """

    def __init__(self, estimator: FlowEstimator) -> None:
        self.estimator = estimator
        self.last: tuple[np.ndarray, Tensor, Tensor] | None = None  # gray input, input, output of the last frame
        self.sums = {"warp_error": 0.0, "warp_mse": 0.0, "input_warp_error": 0.0, "occluded": 0.0}
        self.pairs = self.scored = 0

    def update(self, inputs: Tensor, outputs: Tensor) -> None:
        """Add consecutive frames: inputs and outputs ``(N, 3, H, W)``, the same size."""
        grays = gray_u8(inputs)
        for gray, x, y in zip(grays, inputs.split(1), outputs.split(1)):
            if self.last is not None:
                last_gray, last_x, last_y = self.last
                flow, occluded = flow_to_previous(self.estimator, last_gray, gray)
                self.pairs += 1
                self.sums["occluded"] += float(occluded.float().mean())
                out_err, in_err = pair_warp_error(last_y, y, flow, occluded), pair_warp_error(last_x, x, flow, occluded)
                if out_err is not None and in_err is not None:
                    self.scored += 1
                    self.sums["warp_error"] += out_err[0]
                    self.sums["warp_mse"] += out_err[1]
                    self.sums["input_warp_error"] += in_err[0]
            self.last = gray, x, y

    def result(self) -> dict[str, float]:
        """Means over the frame pairs (NaN without a scored pair); ``occluded`` over all pairs."""
        out = {k: v / self.scored if self.scored else math.nan for k, v in self.sums.items() if k != "occluded"}
        out["occluded"] = self.sums["occluded"] / self.pairs if self.pairs else math.nan
        return out


@torch.no_grad()
def frame_style_loss(encoder: Encoder, frames: Tensor, style_feats: list[Tensor]) -> Tensor:
    """Style loss of each frame ``(N, 3, H, W)`` against the encoded style (its taps) → ``(N,)``."""
    return style_distance(encoder(frames.to(style_feats[0].device)), style_feats).cpu()


@dataclass
class VideoMetrics:
    """The numbers of :func:`measure_video` (see the module docstring)."""

    frames: int
    size: tuple[int, int]
    warp_error: float
    warp_mse: float
    input_warp_error: float
    occluded: float
    flicker: float
    output_change: float
    input_change: float
    style_loss: float | None
    style_every: int
    flow: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def to_text(self) -> str:
        style = f"; style loss {self.style_loss:.3f}" if self.style_loss is not None else ""
        return (f"{self.frames} frames at {self.size[1]}x{self.size[0]}: warping error {self.warp_error:.4f} "
                f"(input's own {self.input_warp_error:.4f}; {100 * self.occluded:.1f} % of pixels occluded); "
                f"flicker {self.flicker:.3f} (output change {self.output_change:.4f} / input change {self.input_change:.4f})"
                + style)


def check_videos(src: str | Path, dst: str | Path, max_frames: int = 0) -> None:
    """Check that the input ``src`` and its stylization ``dst`` are videos of at least two frames each
    (decoding two frames of each), before any work.

    Raises:
        InputError: unreadable, or a single frame (a still picture): naming that file.
        UsageError: ``max_frames`` of 1.
    """
    if max_frames == 1:
        raise UsageError("max_frames must be 0 (all) or at least 2: the metrics compare consecutive frames")
    for path, role in ((Path(src), "input"), (Path(dst), "output")):
        probe(path)
        count = sum(len(b) for b in read_frames(path, 2, max_frames=2))
        if count < 2:
            raise InputError(f"{path}: the {role} has {count} frame(s), at least 2 are needed (the metrics compare consecutive frames of two videos)")


def measure_video(
    src: str | Path,
    dst: str | Path,
    style: Tensor | None = None,
    *,
    encoder: Encoder | None = None,
    flow: str = METRIC_FLOW,
    max_frames: int = 0,
    style_every: int = 1,
    batch: int = 8,
    progress: Callable[[int], None] | None = None,
) -> VideoMetrics:
    """Temporal consistency (and style loss) of ``dst``, a stylization of ``src``, frame by frame.

    Args:
        src: the input video; its frames are resized to the output's size.
        dst: the stylized video (as many frames, or fewer: the shorter sets the count).
        style: the style image ``(3, H, W)`` in [0, 1] for the style loss (``None``: not measured).
        encoder: the VGG-19 for the style loss (default: the pretrained, normalised one).
        flow: the method of the input's optical flow (:class:`adain.apps.flow.FlowEstimator`).
        max_frames: compare at most this many frames (0: all).
        style_every: the style loss on every this-many-th frame only (frames 0, N, 2N, …): the
            VGG-19 costs more than the rest together.
        batch: frames decoded and encoded at a time.
        progress: called with the number of frames done after each batch, or ``None``.

    Raises:
        InputError: an unreadable video, or one of fewer than two frames (naming it).
    """
    src, dst = Path(src), Path(dst)
    if style_every < 1:
        raise UsageError(f"style_every must be at least 1, got {style_every}")
    check_videos(src, dst, max_frames)
    warp_meter, flicker = WarpMeter(FlowEstimator(flow)), FlickerMeter()
    vgg, style_feats = (encoder or Encoder()).eval() if style is not None else None, None
    if vgg is not None and style is not None:
        with torch.no_grad():
            style_feats = vgg(style[None].to(next(vgg.parameters()).device))
    losses: list[Tensor] = []
    frames, size = 0, (0, 0)
    for inputs, outputs in zip(read_frames(src, batch, max_frames), read_frames(dst, batch, max_frames)):
        n = min(len(inputs), len(outputs))
        inputs, outputs = inputs[:n], outputs[:n]
        size = (int(outputs.shape[-2]), int(outputs.shape[-1]))
        if tuple(inputs.shape[-2:]) != size:
            inputs = F.interpolate(inputs, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
        warp_meter.update(inputs, outputs)
        flicker.update(inputs, outputs)
        picked = outputs[(-frames) % style_every :: style_every]
        if vgg is not None and style_feats is not None and len(picked):
            losses.append(frame_style_loss(vgg, picked, style_feats))
        frames += n
        if progress is not None:
            progress(frames)
    if frames < 2:
        raise InputError(f"{dst}: {frames} frame(s) to compare, at least 2 are needed")
    warp_numbers = warp_meter.result()
    return VideoMetrics(
        frames=frames, size=size, **warp_numbers, flicker=flicker.flicker, output_change=flicker.output_change,
        input_change=flicker.input_change, style_loss=float(torch.cat(losses).mean()) if losses else None,
        style_every=style_every, flow=flow,
    )
