"""Image geometry: resizing, centre crops and padding to the encoder's stride."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from adain.errors import UsageError

MULTIPLE = 8  # the encoder downsamples by 8: inputs are padded to a multiple of it


def resize_shorter(image: Tensor, size: int, *, enlarge: bool = True) -> Tensor:
    """Resize ``(C, H, W)`` so its shorter side is ``size`` (0 keeps it), antialiased bilinear, clipped to [0, 1].

    With ``enlarge=False`` an image whose shorter side is already at most ``size`` is kept as it is.
    """
    if size <= 0:
        return image
    if size < 16:
        raise UsageError(f"size must be 0 (keep) or at least 16, got {size}")
    h, w = image.shape[-2:]
    if not enlarge and min(h, w) <= size:
        return image
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if (nh, nw) == (h, w):
        return image
    out = F.interpolate(image[None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    return out.clamp(0, 1)


def center_crop(image: Tensor, size: int) -> Tensor:
    """Centre square crop of side ``min(size, H, W)`` from ``(C, H, W)``."""
    h, w = image.shape[-2:]
    s = min(size, h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return image[..., top : top + s, left : left + s]


def prepare(image: Tensor, size: int = 0, crop: bool = False, *, enlarge: bool = True) -> Tensor:
    """``(C, H, W)``: shorter side to ``size`` (0 keeps; ``enlarge=False``: only shrink), then an optional centre square crop."""
    image = resize_shorter(image, size, enlarge=enlarge)
    return center_crop(image, min(image.shape[-2:])) if crop else image


def pad_to_multiple(x: Tensor, multiple: int = MULTIPLE) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad ``(N, C, H, W)`` on the bottom/right to a multiple; returns the padded tensor and ``(H, W)``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)
