"""Former home of the stylize API, kept for one release: import from :mod:`adain` instead.

``from adain.transfer import Stylizer`` keeps working; the code now lives in
:mod:`adain.stylizer` (the model), :mod:`adain.controls`, :mod:`adain.color`,
:mod:`adain.geometry` (pure tensor functions) and :mod:`adain.apps.files`
(file jobs). Importing it warns (``DeprecationWarning``).
"""

import warnings

from adain.apps.files import (
    FolderReport,
    PairJob,
    StylizeOptions,
    index_masks,
    load_content,
    load_pair,
    load_style,
    output_name,
    stylize_folders,
    stylize_pair,
)
from adain.color import (
    PRESERVE_MODES,
    color_inputs,
    color_output,
    keep_chroma,
    luminance_image,
    match_color,
    rgb_to_yiq,
    yiq_to_rgb,
)
from adain.controls import (
    check_alpha,
    check_weights_or_masks,
    index_map_to_masks,
    masks_to_grid,
    normalise_weights,
    target_features,
)
from adain.geometry import MULTIPLE, center_crop, pad_to_multiple, prepare, resize_shorter
from adain.stylizer import StyleStats, Stylizer

__all__ = [
    "MULTIPLE", "PRESERVE_MODES", "FolderReport", "PairJob", "StyleStats", "StylizeOptions", "Stylizer",
    "center_crop", "check_alpha", "check_weights_or_masks", "color_inputs", "color_output", "index_map_to_masks",
    "index_masks", "keep_chroma", "load_content", "load_pair", "load_style", "luminance_image", "masks_to_grid",
    "match_color", "normalise_weights", "output_name", "pad_to_multiple", "prepare", "resize_shorter", "rgb_to_yiq",
    "stylize_folders", "stylize_pair", "target_features", "yiq_to_rgb",
]

warnings.warn("adain.transfer is deprecated and goes in the next release: import Stylizer, Controls, … from adain, "
              "or from the modules docs/architecture.md names", DeprecationWarning, stacklevel=2)
