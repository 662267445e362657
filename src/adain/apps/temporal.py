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

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from adain.apps.flow import FlowEstimator, flow_to_previous, gray_u8, normalized, pixel_grid, warp
from adain.errors import UsageError

MOTION_THRESHOLD = 0.05  # input change (0..1 scale) at which the temporal blend stops keeping the past
FLOW_THRESHOLD = 0.02  # residual of the flow-warped input (0..1 scale) from which the flow strategy drops the past ...
FLOW_SLACK = 1.0  # ... plus this much per unit of the input's local gradient (a small misalignment in texture)
BORDER = 8  # px: texture stylized this close to a frame's edge is renewed once it moves further inside
PATCH, PATCH_SHARE = 31, 0.45  # a window of PATCH × PATCH px with more than PATCH_SHARE on seams between sources is restyled
MAX_SOURCES = 64  # stylized frames the flow strategy keeps at most (the least used are restyled)
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


def flow_keep(occluded: Tensor, residual: Tensor, threshold: float | Tensor) -> Tensor:
    """Pixels that carry their texture on, ``(1, 1, H, W)`` bool: the flow holds there.

    The flow holds where the forward-backward check passes and the 3×3 mean of
    the residual is under ``threshold`` (a scalar or ``(1, 1, H, W)``).

    Args:
        occluded: ``(1, 1, H, W)`` bool, the forward-backward check's verdict.
        residual: ``(1, 1, H, W)``, how far the warped previous *input* frame is
            from the current one (mean over RGB): large where the flow is wrong
            or the light changed.
        threshold: the residual from which the past is dropped.
    """
    return ~occluded & (_box(residual, 3) < threshold)


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


def follow(source: Tensor, flow: Tensor) -> Tensor:
    """Source positions carried along ``flow``: ``(1, 3, H, W)`` (x, y, frames back) → the same on the flow's grid.

    Each pixel's position is interpolated (bilinear: the flows compose with
    sub-pixel accuracy); where the neighbours it would mix come from different
    source frames, their positions are in different frames' coordinates, so the
    nearest neighbour's is taken instead. Channel 2 (frames back from the
    current one, a whole number) is the nearest neighbour's.
    """
    smooth, nearest = warp(source, flow, "bilinear"), warp(source, flow, "nearest")
    seam = (smooth[:, 2:] - nearest[:, 2:]).abs() > 1e-4
    position = pixel_grid(*flow.shape[-2:]) + flow
    shifted = nearest[:, :2] + position - position.round()  # the nearest neighbour's position, moved by the sub-pixel rest
    return torch.cat([torch.where(seam, shifted, smooth[:, :2]), nearest[:, 2:]], 1)


def inner(position: Tensor, margin: float) -> Tensor:
    """Positions ``(1, 2, H, W)`` (x, y in pixels) at least ``margin`` px inside an ``H × W`` frame: ``(1, 1, H, W)`` bool."""
    h, w = position.shape[-2:]
    x, y = position.unbind(1)
    return ((x >= margin) & (x <= w - 1 - margin) & (y >= margin) & (y <= h - 1 - margin))[:, None]


def fragmented(back: Tensor, size: int, share: float) -> Tensor:
    """Pixels in a patchwork of sources: more than ``share`` of their ``size × size`` window lies on a seam, ``(1, 1, H, W)`` bool.

    A seam pixel has a right or lower neighbour from another source frame.
    """
    seam = F.pad(back.diff(dim=-1) != 0, (0, 1)) | F.pad(back.diff(dim=-2) != 0, (0, 0, 0, 1))
    pad = size // 2
    density = F.avg_pool2d(seam.float(), (1, size), stride=1, padding=(0, pad), count_include_pad=False)
    density = F.avg_pool2d(density, (size, 1), stride=1, padding=(pad, 0), count_include_pad=False)
    return density > share


def least_used(back: Tensor, keep: Tensor, sources: int) -> Tensor:
    """The pixels of the source frames beyond the ``sources`` that most kept pixels come from, ``(1, 1, H, W)`` bool."""
    frames, counts = back[keep].unique(return_counts=True)
    if len(frames) <= sources:
        return torch.zeros_like(keep)
    return torch.isin(back, frames[counts.argsort(descending=True)[sources:]])


def render(frames: Mapping[int, Tensor], source: Tensor, keep: Tensor) -> Tensor:
    """Sample each kept pixel's texture once from the stylized frame it came from (bicubic) → ``(1, 3, H, W)``.

    Args:
        frames: past stylized frames ``(1, 3, H, W)`` uint8 by how many frames back they are.
        source: ``(1, 3, H, W)``: x, y in the source frame and how many frames back it is (≥ 1 where kept).
        keep: ``(1, 1, H, W)`` bool, the pixels to render (0 elsewhere).
    """
    h, w = source.shape[-2:]
    out = torch.zeros(1, 3, h, w)
    back = source[0, 2]
    for k in back[keep[0, 0]].unique().tolist():
        here = keep[0, 0] & (back == k)
        grid = normalized(source[0, :2, here].T, h, w)[None, None]  # (1, 1, M, 2)
        frame = frames[int(k)].float() / 255
        out[0, :, here] = F.grid_sample(frame, grid, mode="bicubic", padding_mode="border", align_corners=True)[0, :, 0]
    return out.clamp(0, 1)


class FlowBlend:
    """Flow-guided temporal consistency (``--temporal flow``).

    Each output pixel remembers where its texture came from: a stylized frame
    and a position in it. For each frame t the input's optical flow from t to
    t−1 (DIS) carries those positions onto frame t (:func:`follow`: the flows
    compose), and where the flow passes the forward-backward check and brings
    the previous input frame close to the current one (residual under
    ``threshold + slack · local gradient``: a flow a fraction of a pixel off
    leaves a residual in proportion to the texture), the pixel is sampled from
    its source frame, once, bicubic (:func:`render`); elsewhere (disocclusions,
    unreliable flow) it takes the new stylization and its source becomes frame
    t. The texture is never resampled twice, so it does not blur over a long
    shot as carrying the previous *output* frame did. Regions that stand still
    keep zero motion (:func:`prefer_still`). Two rules renew carried texture:
    texture that was stylized within ``BORDER`` px of a frame's edge (where
    the picture enters in a pan, and the decoder sees padding) once it is
    inside, and a patchwork of sources (:func:`fragmented`: stripes of texture
    that entered on successive frames, each from another stylization), which
    is restyled as one piece. When less than ``min_reliable`` of the frame is
    kept (a scene cut, a flash), the frame is restyled fully. The texture thus
    moves with the picture (short-term consistency as Ruder et al. 2016, at
    test time as Gao et al. 2018, without retraining).

    Memory: the stylized frames that some pixel still comes from, 3 bytes a
    pixel each, at most ``max_sources`` (when there would be more, the pixels
    of the frames that the fewest pixels come from are restyled).

    Args:
        momentum: weight of the carried texture where the flow holds, in [0, 1]
            (by default 1: the texture is carried, not averaged); below 1 it is
            averaged with the new stylization (steadier, but two textures
            averaged have less of either).
        threshold: input residual (0..1 scale) from which the past is dropped, in flat regions.
        slack: added to ``threshold`` per unit of the input's local gradient (:func:`gradient`, 3×3 mean).
        min_reliable: fraction of kept pixels below which the frame restarts.
        method: the flow method of :class:`adain.apps.flow.FlowEstimator`.
        still_margin: residual margin of :func:`prefer_still`.
        patch, share: window side and seam share of :func:`fragmented`.
        max_sources: stylized frames kept at most (≥ 1).
    """

    def __init__(self, momentum: float = 1.0, threshold: float = FLOW_THRESHOLD, min_reliable: float = 0.3,
                 slack: float = FLOW_SLACK, method: str = "medium", still_margin: float = 0.002, patch: int = PATCH,
                 share: float = PATCH_SHARE, max_sources: int = MAX_SOURCES) -> None:
        if (not 0.0 <= momentum <= 1.0 or threshold <= 0 or slack < 0 or not 0.0 <= min_reliable <= 1.0 or patch < 1
                or not 0.0 < share <= 1.0 or max_sources < 1):
            raise UsageError(f"flow blend needs momentum in [0, 1], threshold > 0, slack >= 0, min_reliable in [0, 1], patch >= 1, "
                             f"share in (0, 1], max_sources >= 1, got {momentum}, {threshold}, {slack}, {min_reliable}, {patch}, "
                             f"{share}, {max_sources}")
        self.momentum, self.threshold, self.slack = momentum, threshold, slack
        self.min_reliable, self.still_margin = min_reliable, still_margin
        self.patch, self.share, self.max_sources = patch, share, max_sources
        self.estimator = FlowEstimator(method)
        self.frames: dict[int, Tensor] = {}  # frames back (1 = the last frame) → stylized frame (1, 3, H, W) uint8
        self.source = torch.zeros(0)  # (1, 3, H, W): each pixel's x, y in its source frame and how many frames back it is
        self.last: tuple[np.ndarray, Tensor] | None = None  # gray and RGB input of the last frame
        self.cuts = 0

    def _carried(self, gray: np.ndarray, x: Tensor, here: Tensor) -> tuple[Tensor, Tensor] | None:
        """Sources ``(1, 3, H, W)`` carried onto frame t and where they hold ``(1, 1, H, W)`` bool; ``None``: restyle all."""
        if self.last is None:
            return None
        last_gray, last_x = self.last
        flow, occluded = flow_to_previous(self.estimator, last_gray, gray, boundaries=False)
        residual = (warp(last_x, flow, "bicubic") - x).abs().mean(1, keepdim=True)
        still_residual = (last_x - x).abs().mean(1, keepdim=True)
        flow, occluded, residual = prefer_still(flow, occluded, residual, still_residual, self.still_margin)
        keep = flow_keep(occluded, residual, self.threshold + self.slack * _box(gradient(x), 3))
        source = follow(self.source, flow) + here.new_tensor([0, 0, 1]).view(1, 3, 1, 1)
        keep &= inner(source[:, :2], BORDER) | ~inner(here[:, :2], BORDER)  # texture from a frame's edge, now inside
        keep &= ~fragmented(torch.where(keep, source, here)[:, 2:], self.patch, self.share)
        keep &= ~least_used(source[:, 2:], keep, self.max_sources - 1)  # and frame t itself
        if float(keep.float().mean()) < self.min_reliable:
            self.cuts += 1
            return None
        return source, keep

    def step(self, gray: np.ndarray, x: Tensor, y: Tensor) -> Tensor:
        """One frame: gray ``(H, W)`` uint8, input and stylized ``(1, 3, H, W)`` → output ``(1, 3, H, W)``."""
        h, w = y.shape[-2:]
        here = torch.cat([pixel_grid(h, w), torch.zeros(1, 1, h, w)], 1)
        carried = self._carried(gray, x, here)
        if carried is None:  # the first frame or a cut: all restyled
            self.source = here
        else:
            source, keep = carried
            self.source = torch.where(keep, source, here)
            y = torch.where(keep, self.momentum * render(self.frames, self.source, keep) + (1 - self.momentum) * y, y)
        used = set(self.source[0, 2].unique().add(1).int().tolist())  # frames back, as seen from the next frame
        self.frames = {k + 1: f for k, f in self.frames.items() if k + 1 in used}
        self.frames[1] = y.mul(255).round().to(torch.uint8)  # the source of the pixels restyled here
        self.last = gray, x
        return y

    def __call__(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """Consecutive input and stylized frames ``(N, 3, H, W)`` → outputs ``(N, 3, H, W)``."""
        with one_thread():
            grays = gray_u8(inputs)
            return torch.cat([self.step(g, x, y) for g, x, y in zip(grays, inputs.split(1), outputs.split(1))])
