"""adain: arbitrary style transfer in real time with Adaptive Instance Normalization.

The public API; everything else is importable from its module (see docs/architecture.md).
Importing :mod:`adain` loads only the tensor core (no image codec, progress bars or servers);
:func:`load_image` and :func:`save_image` load the codec on first use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from adain.color import match_color
from adain.controls import target_features
from adain.decoder import Decoder, load_decoder, save_decoder
from adain.encoder import Encoder
from adain.errors import AdainError, InputError, UsageError, WeightsError
from adain.geometry import prepare, resize_shorter
from adain.ops import AdaIN, StyleStats, adain, adain_with_stats, mean_std
from adain.stylizer import Stylizer

if TYPE_CHECKING:
    from adain.io import load_image, save_image

try:
    __version__ = version("adain")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AdaIN", "AdainError", "Decoder", "Encoder", "InputError", "StyleStats", "Stylizer", "UsageError", "WeightsError",
    "__version__", "adain", "adain_with_stats", "load_decoder", "load_image", "match_color", "mean_std", "prepare",
    "resize_shorter", "save_decoder", "save_image", "target_features",
]


def __getattr__(name: str) -> Any:
    """``adain.load_image`` / ``adain.save_image``: imported from :mod:`adain.io` on first use (it loads PIL)."""
    if name in ("load_image", "save_image"):
        from adain import io

        return getattr(io, name)
    raise AttributeError(f"module 'adain' has no attribute {name!r}")
