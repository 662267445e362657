"""The names users choose from, without torch: the command line checks them before any network loads.

The modules that implement them re-export them (:data:`adain.methods.Method`, :data:`adain.color.PreserveColor`,
:data:`adain.onnx.runtime.PRECISIONS_RUN`).
"""

from __future__ import annotations

from typing import Literal

Method = Literal["adain", "wct", "efdm"]
"""The transfer methods (:mod:`adain.methods`)."""
PreserveColor = Literal["color", "luminance"]
"""The colour-preservation modes (:mod:`adain.color`)."""
PRECISIONS_RUN = ("auto", "fp32", "bf16", "int8")
"""The networks' arithmetic a stylizing command may ask for (:func:`adain.onnx.runtime.make_stylizer`)."""
