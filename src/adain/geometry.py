"""Image geometry: resizing, centre crops and padding to the encoder's stride."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from adain.errors import UsageError
from adain.limits import MIN_SIDE

MULTIPLE = 8  # the encoder downsamples by 8: inputs are padded to a multiple of it
RANGE_TOLERANCE = 1e-3  # resampling overshoot a caller may not have clipped


def check_image(image: object, name: str = "image", *, batched: bool = False) -> Tensor:
    """An RGB image for the networks, or an error that says what is expected.

    Args:
        image: ``(3, H, W)`` (``batched``: ``(N, 3, H, W)``) float tensor in [0, 1], each side at least
            :data:`~adain.limits.MIN_SIDE`; float64, float16 and bfloat16 are converted.
        name: what messages call it (``"content"``, ``"style 2"``).

    Returns:
        The image as float32.

    Raises:
        TypeError: not a tensor (numpy arrays and PIL images get a hint how to convert them).
        UsageError: wrong shape, integer dtype, NaN or infinite values, values outside [0, 1], too small.
    """
    shape = "(N, 3, H, W)" if batched else "(3, H, W)"
    if not isinstance(image, Tensor):
        hint = {"numpy": ": convert an (H, W, 3) uint8 array with torch.from_numpy(array).permute(2, 0, 1) / 255",
                "PIL": ": convert it with adain.io.images.pil_to_tensor(image)"}.get(type(image).__module__.split(".")[0], "")
        raise TypeError(f"{name} must be a torch.Tensor {shape}, RGB float in [0, 1], got {type(image).__name__}{hint}")
    if image.dim() != (4 if batched else 3) or image.shape[-3] != 3:
        raise UsageError(f"{name} must be a {shape} RGB tensor, got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise UsageError(f"{name} must be a float tensor in [0, 1], got {image.dtype} (divide 0..255 values by 255)")
    h, w = image.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise UsageError(f"{name} is {w}x{h}: each side must be at least {MIN_SIDE} px")
    return check_unit_range(image.float(), name)


def check_unit_range(values: Tensor, name: str) -> Tensor:
    """``values`` if finite and in [0, 1] (up to :data:`RANGE_TOLERANCE`), else a :class:`UsageError` naming ``name``."""
    lo, hi = (float(v) for v in torch.aminmax(values))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise UsageError(f"{name} has NaN or infinite values")
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise UsageError(f"{name} values must be in [0, 1], got {lo:.3g}..{hi:.3g} (for 0..255 values: divide by 255)")
    return values


def resized_shape(height: int, width: int, size: int, *, enlarge: bool = True) -> tuple[int, int]:
    """``(H, W)`` after :func:`resize_shorter` to ``size`` (0 keeps; ``enlarge=False``: only shrinks): for size checks before any allocation."""
    if size <= 0 or (not enlarge and min(height, width) <= size):
        return height, width
    scale = size / min(height, width)
    return max(size, round(height * scale)), max(size, round(width * scale))


def prepared_shape(height: int, width: int, size: int = 0, crop: bool = False, *, enlarge: bool = True) -> tuple[int, int]:
    """``(H, W)`` after :func:`prepare`: for size checks before any allocation."""
    h, w = resized_shape(height, width, size, enlarge=enlarge)
    return (min(h, w),) * 2 if crop else (h, w)


def resize_shorter(image: Tensor, size: int, *, enlarge: bool = True) -> Tensor:
    """Resize ``(C, H, W)`` so its shorter side is ``size`` (0 keeps it), antialiased bilinear, clipped to [0, 1].

    With ``enlarge=False`` an image whose shorter side is already at most ``size`` is kept as it is.
    """
    if size <= 0:
        return image
    if size < MIN_SIDE:
        raise UsageError(f"size must be 0 (keep) or at least {MIN_SIDE}, got {size}")
    h, w = image.shape[-2:]
    nh, nw = resized_shape(h, w, size, enlarge=enlarge)
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


def padded_side(side: int, multiple: int = MULTIPLE) -> int:
    """``side`` rounded up to a multiple, as :func:`pad_to_multiple` pads it: ``padded_side(250) == 256``."""
    return -(-side // multiple) * multiple


def pad_to_multiple(x: Tensor, multiple: int = MULTIPLE) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad ``(N, C, H, W)`` on the bottom/right to a multiple; returns the padded tensor and ``(H, W)``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)
