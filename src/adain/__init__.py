"""adain: arbitrary style transfer in real time with Adaptive Instance Normalization.

The public API, imported on first use (so ``adain --help`` does not load torch):
``from adain import Stylizer, Controls, load_image, save_image``; the lite model without torch:
``from adain import LiteModel, load_photo_array``. Every other name is
importable from its module; docs/architecture.md says which module holds what.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adain.color import match_color
    from adain.controls import Controls, target_features
    from adain.decoder import Decoder, load_decoder, save_decoder
    from adain.encoder import Encoder
    from adain.errors import AdainError, InputError, UsageError, WeightsError
    from adain.geometry import prepare, resize_shorter
    from adain.io.images import load_image, load_photo_array, save_image
    from adain.lite.runtime import LiteModel
    from adain.ops import AdaIN, StyleStats, adain, adain_with_stats, mean_std
    from adain.stylizer import Stylizer

from adain.version import __version__

_HOMES = {
    "adain.color": ("match_color",),
    "adain.controls": ("Controls", "target_features"),
    "adain.decoder": ("Decoder", "load_decoder", "save_decoder"),
    "adain.encoder": ("Encoder",),
    "adain.errors": ("AdainError", "InputError", "UsageError", "WeightsError"),
    "adain.geometry": ("prepare", "resize_shorter"),
    "adain.io.images": ("load_image", "load_photo_array", "save_image"),
    "adain.lite.runtime": ("LiteModel",),
    "adain.ops": ("AdaIN", "StyleStats", "adain", "adain_with_stats", "mean_std"),
    "adain.stylizer": ("Stylizer",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = [
    "AdaIN", "AdainError", "Controls", "Decoder", "Encoder", "InputError", "LiteModel", "StyleStats", "Stylizer", "UsageError",
    "WeightsError", "__version__", "adain", "adain_with_stats", "load_decoder", "load_image", "load_photo_array", "match_color", "mean_std",
    "prepare", "resize_shorter", "save_decoder", "save_image", "target_features",
]
assert set(__all__) == {"__version__", *_HOME_OF}


def __getattr__(name: str) -> Any:
    if name in _HOME_OF:
        return getattr(importlib.import_module(_HOME_OF[name]), name)
    raise AttributeError(f"module 'adain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME_OF))
