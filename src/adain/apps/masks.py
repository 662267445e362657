"""Region masks: the one rule of ``adain stylize`` (both models), ``adain video`` and the server.

A mask (white = this style here, grey = partly) may have any size whose aspect ratio is within
:data:`ASPECT_TOLERANCE` of the content's; it is resized (antialiased bilinear, as the content is)
to the content as processed, and cropped with it. Give one mask per style, or one fewer: style 1
then takes what the others leave. An index map (pixel value k picks style k) replaces the masks.
Every mask covers something, also inside the centre crop; each message names the file.

No torch here (``adain stylize --model lite`` runs without it): masks are numpy ``(K, H, W)``
float32 in [0, 1], which the torch paths take with ``torch.from_numpy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from adain.errors import InputError, UsageError
from adain.io.images import image_size, load_index_map, load_mask_array
from adain.limits import MAX_STORED_PIXELS

ASPECT_TOLERANCE = 0.02
"""How far a mask's aspect ratio may be from the content's, as a fraction of the content's."""


def check_mask_count(n_masks: int, n_styles: int, index_map: bool = False) -> None:
    """No mask, one per style, or one fewer; not with an index map (before any file is read)."""
    if n_masks and index_map:
        raise UsageError("give masks or an index map, not both")
    if n_masks and n_masks not in (n_styles, n_styles - 1):
        raise UsageError(f"{n_masks} masks given for {n_styles} styles: give one per style, or one fewer (style 1 then takes the rest)")


def check_aspect(path: str | Path, mask: tuple[int, int], content: tuple[int, int]) -> None:
    """Refuse a mask of ``(h, w)`` whose aspect ratio is not the content's ``(H, W)`` (within :data:`ASPECT_TOLERANCE`)."""
    (mh, mw), (h, w) = mask, content
    if abs(mw / mh - w / h) > ASPECT_TOLERANCE * (w / h):
        raise InputError(f"{path}: {mw}x{mh} does not have the content's aspect ratio ({w}x{h})")


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Mask ``(h, w)`` → ``(H, W)`` of ``size``: antialiased bilinear, as :func:`adain.geometry.resize_shorter` resizes the content."""
    if mask.shape == tuple(size):
        return mask
    resized = Image.fromarray(np.ascontiguousarray(mask, np.float32)).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, np.float32), 0, 1)


def crop_center(masks: np.ndarray) -> np.ndarray:
    """The centre square of ``(K, H, W)``, as :func:`adain.geometry.center_crop` crops the content."""
    h, w = masks.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return masks[..., top : top + side, left : left + side]


def complete_masks(masks: np.ndarray, n_styles: int, where: str = "image") -> np.ndarray:
    """``K`` masks ``(K, H, W)`` as given, or ``K − 1``: then style 1 takes what the others leave of the ``where``."""
    if len(masks) == n_styles:
        return masks
    rest = np.clip(1 - masks.sum(0), 0, 1)
    if float(rest.max()) < 1 / 255:  # masks are 8-bit: less is resampling noise
        raise InputError(f"the masks cover the whole {where}: nothing is left for style 1")
    return np.concatenate([rest[None], masks])


def index_masks(path: str | Path, n_styles: int, max_pixels: int = MAX_STORED_PIXELS) -> np.ndarray:
    """Index map file (palette or grey; value k picks style k) → one-hot masks ``(K, H, W)``.

    Raises:
        InputError: a value outside ``0..K-1`` (the message names the file).
    """
    idx = load_index_map(path, max_pixels).numpy()
    top = int(idx.max())
    if int(idx.min()) < 0 or top >= n_styles:
        raise InputError(f"{path}: index map has value {top}, but with {n_styles} styles values must be in 0..{n_styles - 1}")
    return (idx[None] == np.arange(n_styles)[:, None, None]).astype(np.float32)


def _check_covered(masks: Sequence[np.ndarray] | np.ndarray, files: list[Path], empty: list[str], where: str = "") -> None:
    for path, m, why in zip(files, masks, empty, strict=True):
        if float(m.max()) <= 0:
            raise InputError(f"{path}: {why}{where}")


def read_masks(
    masks: Sequence[str | Path] | None,
    index_map: str | Path | None,
    n_styles: int,
    size: tuple[int, int],
    *,
    crop: bool = False,
    max_pixels: int = MAX_STORED_PIXELS,
    names: Sequence[str] | None = None,
) -> np.ndarray | None:
    """Mask files (one per style, or one fewer) or an index map → ``(K, H, W)`` float32 in [0, 1], or ``None`` without either.

    Args:
        size: ``(H, W)`` of the content as processed, before its centre square ``crop``: each mask's aspect ratio
            is checked against it from the file's header, then the mask is decoded and resized to it.
        names: what messages call each style (default 1, 2, …).

    Raises:
        UsageError: masks and an index map, or a count that is neither ``K`` nor ``K − 1``.
        InputError: an unreadable file, another aspect ratio, a mask or index value that covers nothing (also inside
            the crop), nothing left for style 1, an index value outside ``0..K-1`` (naming the file).
    """
    check_mask_count(len(masks or ()), n_styles, index_map is not None)
    if not masks and index_map is None:
        return None
    files = [Path(m) for m in masks] if masks else [Path(str(index_map))]
    for path in files:
        w, h = image_size(path, max_pixels)
        check_aspect(path, (h, w), size)
    if masks:
        loaded = [load_mask_array(path, max_pixels) for path in files]
        empty = ["the mask covers nothing (all black)"] * len(files)
    else:
        loaded = list(index_masks(files[0], n_styles, max_pixels))
        files = files * n_styles
        names = names or [str(k + 1) for k in range(n_styles)]
        empty = [f"no pixel has value {k}, so style {name} would not be used" for k, name in enumerate(names)]
    _check_covered(loaded, files, empty)
    region = np.stack([resize_mask(m, size) for m in loaded])
    if crop:
        region = crop_center(region)
        _check_covered(region, files, empty, " inside the centre crop")
    return np.ascontiguousarray(complete_masks(region, n_styles, "centre crop" if crop else "image"))
