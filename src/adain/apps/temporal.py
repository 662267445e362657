"""Temporal strategies for video stylization: what ties each stylized frame to the ones before.

Each strategy is called with consecutive batches of input frames and their
per-frame stylizations, both ``(N, 3, H, W)`` in [0, 1], and returns the frames
to write. They act on the stylized pixels only, so they work with every
control and method of the stylizer.

* ``none``: frames are stylized independently (the decoder's texture boils).
* ``blend`` (:class:`TemporalBlend`): a motion-gated running average; still
  regions settle, moving ones pass unchanged.
* ``flow`` (:class:`FlowBlend`): the previous output is warped along the
  input's optical flow and carried over wherever that flow is reliable, so the
  texture moves with the picture; disoccluded pixels and scene cuts take the
  new stylization.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from adain.apps.flow import FlowEstimator, flow_to_previous, gray_u8, warp
from adain.errors import UsageError

MOTION_THRESHOLD = 0.05  # input change (0..1 scale) at which the temporal blend stops keeping the past
FLOW_THRESHOLD = 0.005  # residual of the flow-warped input (0..1 scale) from which the flow strategy drops the past ...
FLOW_SLACK = 0.1  # ... plus this much per unit of the input's local gradient (a small misalignment in texture)
MAX_AGE = 24  # frames a pixel's texture is carried before it is restyled (staggered over the frame)
STRATEGIES = ("none", "blend", "flow")


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the enclosed torch work on one thread, then restore the thread count.

    The strategies work frame by frame on a few small maps; split over threads,
    each operation waits for the others, and on a busy CPU that waiting costs
    more than the work (measured: the flow strategy took 0.45 CPU s a frame at
    320×180 with 2 threads on a loaded 2-core machine, 0.02 s with one).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _box(x: Tensor, size: int) -> Tensor:
    """Box average over ``size × size`` of ``(N, C, H, W)``, same size."""
    return F.avg_pool2d(x, size, stride=1, padding=size // 2, count_include_pad=False)


class TemporalBlend:
    """Motion-gated running average of the output frames (``--temporal blend``, alias ``--stabilize``).

    Per pixel, ``keep = momentum · clamp(1 − d/threshold, 0, 1)`` where ``d`` is
    the input's absolute change since the previous frame (mean over RGB, 5×5
    box average), and ``out_t ← keep·out_{t−1} + (1 − keep)·out_t``. Still
    regions settle (the decoder's texture stops boiling); where the input
    moves, or at a cut, ``keep`` is 0 and the new frame passes unchanged, so
    motion is not smeared.
    """

    def __init__(self, momentum: float = 0.8, threshold: float = MOTION_THRESHOLD) -> None:
        if not 0.0 <= momentum < 1.0 or threshold <= 0:
            raise UsageError(f"stabiliser momentum must be in [0, 1) and threshold > 0, got {momentum}, {threshold}")
        self.momentum, self.threshold = momentum, threshold
        self.last: tuple[Tensor, Tensor] | None = None

    def __call__(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """Consecutive input and output frames ``(N, 3, H, W)`` → blended outputs ``(N, 3, H, W)``."""
        blended = []
        for x, y in zip(inputs, outputs):
            if self.last is not None:
                change = _box((x - self.last[0]).abs().mean(0, keepdim=True)[None], 5)[0]
                keep = self.momentum * (1 - change / self.threshold).clamp(0, 1)
                y = keep * self.last[1] + (1 - keep) * y
            self.last = x, y
            blended.append(y)
        return torch.stack(blended)


def gradient(x: Tensor) -> Tensor:
    """Local contrast: ``|∂x/∂u| + |∂x/∂v|`` (forward differences, mean over channels), ``(N, C, H, W)`` → ``(N, 1, H, W)``."""
    du = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1)).abs()
    dv = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1)).abs()
    return (du + dv).mean(1, keepdim=True)


def flow_keep(occluded: Tensor, residual: Tensor, momentum: float, threshold: float | Tensor) -> Tensor:
    """Per-pixel weight of the warped past, ``(1, 1, H, W)``: ``momentum`` where the flow holds, else 0.

    The flow holds where the forward-backward check passes and the 3×3 mean of
    the residual is under ``threshold`` (a scalar or ``(1, 1, H, W)``). The weight is all or nothing on
    purpose: any partial weight averages two stylizations whose texture
    differs, and repeated every frame that washes the style out (measured in
    docs/video-and-datasets.md).

    Args:
        occluded: ``(1, 1, H, W)`` bool, the forward-backward check's verdict.
        residual: ``(1, 1, H, W)``, how far the warped previous *input* frame is
            from the current one (mean over RGB): large where the flow is wrong
            or the light changed.
        momentum: the weight where the flow holds.
        threshold: the residual from which the past is dropped.
    """
    return momentum * (~occluded & (_box(residual, 3) < threshold)).float()


def staggered_ages(shape: tuple[int, int], max_age: int, cell: int = 16) -> Tensor:
    """Starting ages ``(1, 1, H, W)`` in [0, max_age): smooth random blobs about ``cell`` px wide (fixed seed).

    Pixels that start at different ages are restyled on different frames, so
    the texture renews a patch at a time instead of the whole frame at once.
    """
    h, w = shape
    noise = torch.rand(1, 1, h // cell + 2, w // cell + 2, generator=torch.Generator().manual_seed(0))
    return (F.interpolate(noise, size=(h, w), mode="bilinear", align_corners=True) * max_age).floor().clamp(0, max_age - 1)


def prefer_still(flow: Tensor, occluded: Tensor, residual: Tensor, still_residual: Tensor, margin: float) -> tuple[Tensor, Tensor, Tensor]:
    """Zero motion where it explains the input as well as the flow does: ``(flow, occluded, residual)`` updated.

    In flat regions any flow matches the input, and the flow methods fill them
    with motion spread from their surroundings; the stylized texture there is
    not flat, so warping it along that flow makes it swim. Where the 5×5 mean
    of the unwarped residual ``still_residual`` is within ``margin`` of the
    warped one, the pixel is taken as still (flow 0, not occluded).
    All ``(1, C, H, W)``.
    """
    still = _box(still_residual, 5) <= _box(residual, 5) + margin
    return torch.where(still, 0.0, flow), occluded & ~still, torch.where(still, still_residual, residual)


class FlowBlend:
    """Flow-guided temporal consistency (``--temporal flow``).

    For each frame t: the input's optical flow from t to t−1 (DIS) warps the
    previous *output* frame onto frame t (bicubic: bilinear sampling blurs,
    and the texture is resampled again every frame); where the flow passes the
    forward-backward check and brings the previous input frame close to the
    current one (residual under ``threshold + slack · local gradient``: a flow
    a fraction of a pixel off leaves a residual in proportion to the texture),
    ``out_t ← keep·warp(out_{t−1}) + (1 − keep)·stylized_t`` with
    ``keep = momentum`` (by default 1: the texture is carried, not averaged;
    :func:`flow_keep`), elsewhere the new stylization. Regions that stand still
    keep zero motion (:func:`prefer_still`). A pixel's texture is carried for
    at most ``max_age`` frames, then restyled: carried texture slowly degrades
    (resampling, a zoom enlarges it, seams where fresh texture meets it), so it
    is renewed a patch at a time (:func:`staggered_ages`). When less than
    ``min_reliable`` of the frame is kept (a scene cut, a flash), the frame is
    restyled fully and the ages start over. The
    texture thus moves with the picture (short-term consistency as Ruder et
    al. 2016, at test time as Gao et al. 2018, without retraining).

    Args:
        momentum: weight of the warped past where the flow holds, in [0, 1];
            below 1 the past is averaged with the new stylization (steadier,
            but the style washes out over the frames).
        threshold: input residual (0..1 scale) from which the past is dropped, in flat regions.
        slack: added to ``threshold`` per unit of the input's local gradient (:func:`gradient`, 3×3 mean).
        min_reliable: fraction of kept pixels below which the frame restarts.
        method: the flow method of :class:`adain.apps.flow.FlowEstimator`.
        still_margin: residual margin of :func:`prefer_still`.
        max_age: frames a pixel's texture is carried at most (0: no limit).
    """

    def __init__(self, momentum: float = 1.0, threshold: float = FLOW_THRESHOLD, min_reliable: float = 0.3,
                 slack: float = FLOW_SLACK, method: str = "medium", still_margin: float = 0.002, max_age: int = MAX_AGE) -> None:
        if not 0.0 <= momentum <= 1.0 or threshold <= 0 or slack < 0 or not 0.0 <= min_reliable <= 1.0 or max_age < 0:
            raise UsageError(f"flow blend needs momentum in [0, 1], threshold > 0, slack >= 0, min_reliable in [0, 1], max_age >= 0, "
                             f"got {momentum}, {threshold}, {slack}, {min_reliable}, {max_age}")
        self.momentum, self.threshold, self.slack = momentum, threshold, slack
        self.min_reliable, self.still_margin, self.max_age = min_reliable, still_margin, max_age
        self.age: Tensor | None = None  # frames each pixel's texture has been carried, (1, 1, H, W)
        self.estimator = FlowEstimator(method)
        self.last: tuple[np.ndarray, Tensor, Tensor] | None = None  # gray input, input, output of the last frame
        self.cuts = 0

    def step(self, gray: np.ndarray, x: Tensor, y: Tensor) -> Tensor:
        """One frame: gray ``(H, W)`` uint8, input and stylized ``(1, 3, H, W)`` → output ``(1, 3, H, W)``."""
        if self.last is not None:
            last_gray, last_x, last_y = self.last
            flow, occluded = flow_to_previous(self.estimator, last_gray, gray)
            residual = (warp(last_x, flow, "bicubic") - x).abs().mean(1, keepdim=True)
            still_residual = (last_x - x).abs().mean(1, keepdim=True)
            flow, occluded, residual = prefer_still(flow, occluded, residual, still_residual, self.still_margin)
            keep = flow_keep(occluded, residual, self.momentum, self.threshold + self.slack * _box(gradient(x), 3))
            if self.max_age:
                if self.age is None:
                    self.age = staggered_ages((keep.shape[-2], keep.shape[-1]), self.max_age)
                age = warp(self.age, flow, "nearest") + 1
                keep = keep * (age < self.max_age).float()
            if float((keep > 0).float().mean()) < self.min_reliable:
                self.cuts += 1
                self.age = None
            else:
                y = (keep * warp(last_y, flow, "bicubic") + (1 - keep) * y).clamp(0, 1)
                if self.max_age:
                    self.age = torch.where(keep > 0, age, 0.0)
        self.last = gray, x, y
        return y

    def __call__(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """Consecutive input and stylized frames ``(N, 3, H, W)`` → outputs ``(N, 3, H, W)``."""
        with one_thread():
            grays = gray_u8(inputs)
            return torch.cat([self.step(g, x, y) for g, x, y in zip(grays, inputs.split(1), outputs.split(1))])
