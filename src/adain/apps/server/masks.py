"""The server's rule for masks: any size with the content's aspect ratio (within 2 %), ``K`` or ``K − 1`` of them.

More lenient than ``adain stylize`` (:func:`adain.apps.files.read_masks`: the content's exact size, one
mask per style): a mask painted on the page's preview, or one a client drew at another scale, is
resized to the output; with one mask fewer than styles, the first style takes what the others leave.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from adain.apps.server.uploads import Source, load_source
from adain.errors import InputError
from adain.io import load_mask

ASPECT_TOLERANCE = 0.02  # a mask may differ from the content's aspect ratio by this fraction


def check_mask_count(n_masks: int, n_styles: int) -> None:
    """No mask, one per style, or one fewer (before anything is decoded)."""
    if n_masks and n_masks not in (n_styles, n_styles - 1):
        raise InputError(f"{n_masks} masks given for {n_styles} styles: give one per style, or one fewer (style 1 then takes the rest)")


def resize_mask(mask: Tensor, size: tuple[int, int], label: str) -> Tensor:
    """Mask ``(h, w)`` → ``(H, W)`` of the content's ``size``; its aspect ratio must match the content's."""
    (h, w), (mh, mw) = size, mask.shape
    if abs(mw / mh - w / h) > ASPECT_TOLERANCE * (w / h):
        raise InputError(f"{label}: {mw}x{mh} does not have the content's aspect ratio ({w}x{h})")
    return F.interpolate(mask[None, None], size=size, mode="bilinear", antialias=True, align_corners=False)[0, 0].clamp(0, 1)


def complete_masks(masks: list[Tensor], n_styles: int) -> Tensor:
    """``K`` masks ``(H, W)`` as given, or ``K − 1``: then the first style takes what the others leave.

    Returns:
        ``(K, H, W)``.
    """
    stack = torch.stack(masks)
    if len(masks) == n_styles:
        return stack
    rest = (1 - stack.sum(0)).clamp(0, 1)
    if float(rest.max()) < 1 / 255:  # masks are 8-bit: less is resampling noise
        raise InputError("the masks cover the whole image: nothing is left for style 1")
    return torch.cat([rest[None], stack])


def prepare_masks(sources: list[Source], size: tuple[int, int], n_styles: int, max_pixels: int) -> Tensor | None:
    """The uploaded masks, decoded, resized to the content's ``size`` and completed: ``(K, H, W)``, or ``None`` without masks."""
    if not sources:
        return None
    loaded = [resize_mask(load_source(m, load_mask, max_pixels), size, m.label) for m in sources]
    return complete_masks(loaded, n_styles)
