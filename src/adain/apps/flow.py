"""Optical flow between video frames, warping, and the forward-backward occlusion check.

Flow comes from OpenCV's DIS (Kroeger et al., ECCV 2016): classical, no model
weights, real time on a CPU. It needs the optional extra
``pip install "adain[video-flow]"`` (``opencv-python-headless``); everything
else here is plain torch.

Conventions: a flow ``(N, 2, H, W)`` from frame ``a`` to frame ``b`` gives, for
each pixel ``x`` of ``a``, the displacement ``(dx, dy)`` in pixels to where it
is in ``b``. :func:`warp` samples an image of ``b`` at ``x + flow(x)``, so it
brings ``b`` onto the grid of ``a``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from adain.errors import InputError, UsageError

FLOW_EXTRA = "video-flow"
DIS_PRESETS = ("ultrafast", "fast", "medium")
FLOW_METHODS = (*DIS_PRESETS, "farneback")


def _cv2():
    try:
        import cv2
    except ImportError:
        raise InputError(f'optical flow needs OpenCV: pip install "adain[{FLOW_EXTRA}]" (opencv-python-headless)') from None
    return cv2


def gray_u8(frames: Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` RGB in [0, 1] → ``(N, H, W)`` uint8 luma (BT.601), what DIS works on."""
    y = (0.299 * frames[:, 0] + 0.587 * frames[:, 1] + 0.114 * frames[:, 2]).clamp(0, 1)
    return y.mul(255).round().to(torch.uint8).cpu().numpy()


class FlowEstimator:
    """Dense optical flow with OpenCV: DIS (three presets) or Farnebäck.

    Args:
        method: ``ultrafast``, ``fast`` or ``medium``: DIS presets (more patches
            and refinement iterations, slower and more accurate; at 1280×720 on
            one core about 25, 40 and 230 ms a frame pair); ``farneback``:
            Farnebäck's polynomial expansion (5 levels, 15 px windows), a
            different algorithm, for measuring what DIS produced.
    """

    def __init__(self, method: str = "fast") -> None:
        if method not in FLOW_METHODS:
            raise UsageError(f"flow method must be one of {FLOW_METHODS}, got {method!r}")
        self.cv2 = _cv2()
        self.method = method
        self._dis = self.cv2.DISOpticalFlow_create(DIS_PRESETS.index(method)) if method in DIS_PRESETS else None

    def __call__(self, a: np.ndarray, b: np.ndarray) -> Tensor:
        """Gray frames ``(H, W)`` uint8 (see :func:`gray_u8`) → flow from ``a`` to ``b``, ``(1, 2, H, W)`` float32."""
        if self._dis is not None:
            flow = self._dis.calc(a, b, None)
        else:
            flow = self.cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 5, 15, 3, 5, 1.2, 0)
        return torch.from_numpy(flow).permute(2, 0, 1)[None]

    def pair(self, a: np.ndarray, b: np.ndarray) -> tuple[Tensor, Tensor]:
        """Flows ``a → b`` and ``b → a``, each ``(1, 2, H, W)``."""
        return self(a, b), self(b, a)


def pixel_grid(h: int, w: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The pixel positions of an ``H × W`` frame: ``(1, 2, H, W)``, channel 0 is x (column), 1 is y (row)."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys])[None]


def normalized(positions: Tensor, h: int, w: int) -> Tensor:
    """Pixel positions ``(..., 2)`` (x, y) in an ``H × W`` frame → ``grid_sample`` coordinates in [−1, 1] (``align_corners``)."""
    return positions * positions.new_tensor([2 / max(w - 1, 1), 2 / max(h - 1, 1)]) - 1


def sample_grid(flow: Tensor) -> Tensor:
    """Flow ``(N, 2, H, W)`` → ``grid_sample`` grid ``(N, H, W, 2)`` of the positions ``x + flow(x)`` in [−1, 1]."""
    h, w = flow.shape[-2:]
    return normalized((pixel_grid(h, w, flow.dtype) + flow).permute(0, 2, 3, 1), h, w)


def inside(flow: Tensor) -> Tensor:
    """``(N, 2, H, W)`` → ``(N, 1, H, W)`` bool: ``x + flow(x)`` falls inside the frame."""
    h, w = flow.shape[-2:]
    x, y = (pixel_grid(h, w, flow.dtype) + flow).unbind(1)
    return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1))[:, None]


def warp(image: Tensor, flow: Tensor, mode: str = "bilinear") -> Tensor:
    """Sample ``image`` ``(N, C, H, W)`` at ``x + flow(x)`` (``flow`` ``(N, 2, H, W)``) → ``(N, C, H, W)``.

    Outside the frame the border pixel is repeated (mask such pixels with :func:`inside`).
    ``mode``: ``nearest``, ``bilinear`` or ``bicubic`` (sharper when warped again and again).
    """
    return F.grid_sample(image, sample_grid(flow).to(image), mode=mode, padding_mode="border", align_corners=True)


def _squared_norm(v: Tensor) -> Tensor:
    return v.pow(2).sum(1, keepdim=True)


def occlusion(forward: Tensor, backward: Tensor, boundaries: bool = True) -> Tensor:
    """Pixels of frame ``a`` whose flow is not trusted: ``(N, 1, H, W)`` bool.

    ``forward`` is the flow ``a → b``, ``backward`` ``b → a``, both ``(N, 2, H, W)``.
    The test of Sundaram et al. (ECCV 2010) as used by Ruder et al. (2016) and
    Lai et al. (ECCV 2018): a pixel is occluded (or its flow wrong) when going
    there and back does not return, ``|f + b̃|² > 0.01 (|f|² + |b̃|²) + 0.5``
    with ``b̃`` the backward flow sampled where ``f`` points; or it lies on a
    motion boundary, ``|∇f|² > 0.01 |f|² + 0.002`` (only with ``boundaries``);
    or ``f`` leaves the frame.
    """
    back = warp(backward, forward)
    round_trip = _squared_norm(forward + back) > 0.01 * (_squared_norm(forward) + _squared_norm(back)) + 0.5
    if not boundaries:
        return round_trip | ~inside(forward)
    dx = F.pad(forward[..., :, 1:] - forward[..., :, :-1], (0, 1))
    dy = F.pad(forward[..., 1:, :] - forward[..., :-1, :], (0, 0, 0, 1))
    boundary = _squared_norm(dx) + _squared_norm(dy) > 0.01 * _squared_norm(forward) + 0.002
    return round_trip | boundary | ~inside(forward)


def flow_to_previous(estimator: FlowEstimator, previous: np.ndarray, current: np.ndarray, boundaries: bool = True) -> tuple[Tensor, Tensor]:
    """Flow that brings frame t−1 onto frame t's grid, and where it holds.

    Args:
        estimator: the flow method.
        previous, current: gray frames t−1 and t ``(H, W)`` uint8 (:func:`gray_u8`).
        boundaries: also leave out motion boundaries (:func:`occlusion`).

    Returns:
        The flow ``t → t−1`` ``(1, 2, H, W)`` (``warp(frame_{t−1}, flow)`` lies on frame t), and
        the pixels of frame t it does not hold for, ``(1, 1, H, W)`` bool (:func:`occlusion`).
    """
    backward, forward = estimator.pair(current, previous)
    return backward, occlusion(backward, forward, boundaries)
