"""The lite network as two ONNX graphs, what :mod:`adain.lite.runtime` runs without torch.

``lite-encoder.onnx``: ``image`` ``(1, 3, H, W)`` RGB in [0, 1] (H, W multiples of 4) → ``f3``
``(1, C_3, H/4, W/4)`` and each stage's ``mean1, std1, … std3`` ``(1, C_l, 1, 1)``.
``lite-decoder.onnx``: ``f3`` and the targets ``mean1 … std3``, each ``(1, C_l, 1, 1)`` or a spatial map
``(1, C_l, H_l, W_l)`` of its stage's size → ``image`` ``(1, 3, H, W)`` (unclamped).
Both carry the same metadata (:data:`adain.lite.weights.FORMAT`, the widths, the weights' fingerprint
and their training record), so a pair from two different networks is refused.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from adain.atomic import atomic_path
from adain.encoder import fingerprint
from adain.lite.model import LiteNet, stage_stats
from adain.lite.weights import DECODER_FILE, ENCODER_FILE, FORMAT, STATS

OPSET = 17


class _Encode(nn.Module):
    def __init__(self, net: LiteNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        feats = self.net.encoder(image)
        stats = [t for f in feats for t in stage_stats(f)]
        return (feats[-1], *stats)


class _Decode(nn.Module):
    def __init__(self, net: LiteNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, f3: Tensor, m1: Tensor, s1: Tensor, m2: Tensor, s2: Tensor, m3: Tensor, s3: Tensor) -> Tensor:
        return self.net.decoder(f3, [(m1, s1), (m2, s2), (m3, s3)])


def _onnx_bytes(module: nn.Module, args: tuple[Tensor, ...], inputs: list[str], outputs: list[str], dynamic: dict[str, dict[int, str]]) -> bytes:
    """Trace ``module`` to ONNX (the TorchScript exporter: the targets' spatial dims stay free, so a
    ``(1, C, 1, 1)`` vector and a full map both broadcast)."""
    buffer = io.BytesIO()
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), args, buffer, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                              opset_version=OPSET, dynamo=False)
    finally:
        quiet.setLevel(level)
    return buffer.getvalue()


def _with_metadata(model_bytes: bytes, meta: dict[str, str]) -> bytes:
    import onnx

    model = onnx.load_from_string(model_bytes)
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def export_lite(net: LiteNet, folder: str | Path, metadata: dict | None = None) -> tuple[Path, Path]:
    """Write ``lite-encoder.onnx`` and ``lite-decoder.onnx`` for ``net`` into ``folder`` (atomically).

    Returns:
        the two paths.
    """
    folder = Path(folder)
    net = net.float().eval()
    meta = {
        "format": FORMAT,
        "widths": json.dumps(list(net.widths)),
        "weights": fingerprint(net),
        "training": json.dumps(metadata or getattr(net, "metadata", {}), default=str),
    }
    c1, c2, c3 = net.widths
    image = torch.rand(1, 3, 32, 48)
    encoder = _onnx_bytes(_Encode(net), (image,), ["image"], ["f3", *STATS], {"image": {2: "H", 3: "W"}, "f3": {2: "h", 3: "w"}})
    targets = tuple(torch.rand(1, c, 1, 1) for c in (c1, c1, c2, c2, c3, c3))
    dynamic = {"f3": {2: "h", 3: "w"}, "image": {2: "H", 3: "W"}, **{name: {2: f"{name}_h", 3: f"{name}_w"} for name in STATS}}
    decoder = _onnx_bytes(_Decode(net), (torch.rand(1, c3, 8, 12), *targets), ["f3", *STATS], ["image"], dynamic)
    paths = folder / ENCODER_FILE, folder / DECODER_FILE
    for path, data in zip(paths, (encoder, decoder)):
        with atomic_path(path) as tmp:
            tmp.write_bytes(_with_metadata(data, meta))
    return paths
