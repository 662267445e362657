"""Export the encoder and decoder to ONNX, with a JSON manifest.

An export folder holds ``encoder.onnx`` (RGB in [0, 1] → relu4_1 features; the Caffe
preprocessing and the Gatys normalisation are inside), ``decoder.onnx`` (relu4_1-sized
features → RGB, unclamped) and ``manifest.json`` (format version, versions of the tools,
precision, input convention, the decoder's metadata, and the size and SHA-256 of each file).
Height and width are dynamic. Everything else (AdaIN, α, interpolation, masks, colour
preservation) stays outside the networks, so every runtime shares one definition of it.

Precisions: ``fp32``; ``fp16`` (weights stored in float16 and cast to float32 in the graph:
half the size, float32 arithmetic, runs on every ONNX runtime); ``int8`` (static quantization by
``onnxruntime.quantization``, QDQ: int8 weights per output channel and uint8 activations whose
ranges are calibrated on the bundled example images, up to a percentile; the encoder's first and the
decoder's last convolution, :data:`FLOAT_CONVS`, stay in float).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import Tensor, nn

from adain.decoder import Decoder
from adain.encoder import CAFFE_MEAN_BGR, Encoder, encoder_identity
from adain.errors import AdainError, InputError, UsageError
from adain.limits import MIN_SIDE
from adain.ops import EPS
from adain.version import __version__

if TYPE_CHECKING:
    import onnx

FORMAT = "adain-onnx"
FORMAT_VERSION = 1
OPSET = 18
PRECISIONS = ("fp32", "fp16", "int8")
FILES = {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}
MANIFEST = "manifest.json"
CALIBRATION_SIZE = 256
"""Side of the centre crops of the bundled photos and paintings the int8 activation ranges are calibrated on."""
CALIBRATION_PERCENTILE = 99.999
"""Each int8 activation range covers this percentile of the calibration values' magnitudes (the rare
larger ones are clipped): closer to fp32's release ratios than the whole min–max range (docs/performance.md)."""
FLOAT_CONVS: dict[str, tuple[int, ...]] = {"encoder": (0,), "decoder": (-1,)}
"""Convolutions the int8 export keeps in float, by their index among each network's convolutions (Python
style: -1 the last): the encoder's first (on the image) and the decoder's last (making it); measured in
docs/performance.md."""
EXTRA = 'the ONNX tools are missing: pip install "adain[onnx]"'


class MissingExtraError(AdainError, ImportError):
    """The optional ONNX packages are not installed (an :class:`AdainError`: commands show one line)."""


def require_onnx(names: tuple[str, ...] = ("onnx", "onnxruntime", "onnxscript")) -> None:
    """Raise :class:`MissingExtraError` naming the ``onnx`` extra if one of ``names`` cannot be imported."""
    for name in names:
        try:
            __import__(name)
        except ImportError:
            raise MissingExtraError(f"{EXTRA} (no module {name!r})") from None


class _EncodeRelu41(nn.Module):
    """``(N, 3, H, W)`` RGB in [0, 1] → relu4_1 ``(N, 512, ⌊H/8⌋, ⌊W/8⌋)``."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, image: Tensor) -> Tensor:
        return self.encoder.encode(image)


def _export(module: nn.Module, example: Tensor, path: Path, names: tuple[str, str], dims: dict[int, Any]) -> None:
    """torch.export-based ONNX export of a one-input, one-output module, weights inside the file."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)  # it lists torchvision's operators as missing; none is used here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module.eval(), (example,), input_names=[names[0]], output_names=[names[1]], opset_version=OPSET,
                dynamic_shapes=({i: d for i, d in dims.items()},), dynamo=True, external_data=False, verbose=False,
            )
    finally:
        registration.setLevel(level)
    if program is None:  # only the legacy exporter returns nothing
        raise RuntimeError(f"{path}: torch.onnx.export returned no program")
    program.save(str(path), external_data=False)


def export_encoder(encoder: Encoder, path: str | Path) -> None:
    """Write the encoder (to relu4_1) as ONNX: input ``image`` ``(N, 3, H, W)``, output ``relu4_1``."""
    # relu4_1's reflection padding needs 2 rows and columns there: images of at least MIN_SIDE (16) px
    dims = {0: torch.export.Dim("batch", min=1, max=1024), 2: torch.export.Dim("height", min=MIN_SIDE), 3: torch.export.Dim("width", min=MIN_SIDE)}
    _export(_EncodeRelu41(encoder), torch.rand(1, 3, 64, 64), Path(path), ("image", "relu4_1"), dims)


def export_decoder(decoder: Decoder, path: str | Path) -> None:
    """Write the decoder as ONNX: input ``features`` ``(N, 512, h, w)``, output ``image`` ``(N, 3, 8h, 8w)``."""
    dims = {0: torch.export.Dim("batch", min=1, max=1024), 2: torch.export.Dim("h", min=1), 3: torch.export.Dim("w", min=1)}
    _export(decoder.float(), torch.rand(1, 512, 8, 8), Path(path), ("features", "image"), dims)


def weights_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:  # noqa: F821
    """Store every float32 initializer as float16 behind a ``Cast`` to float32 (half the size, fp32 arithmetic)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts, kept = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < 16:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=f"{init.name}__cast"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def convert_precision(path: Path, precision: str) -> None:
    """Rewrite an fp32 ONNX file in place at ``precision`` (``fp32`` leaves it; ``int8``: see :func:`quantize_int8`)."""
    import onnx

    if precision == "fp16":
        onnx.save(weights_to_fp16(onnx.load(str(path))), str(path))


class _Calibration:
    """An ONNX Runtime ``CalibrationDataReader``: one input ``name``, the arrays in turn."""

    def __init__(self, name: str, arrays: list) -> None:
        self.items = iter([{name: a} for a in arrays])

    def get_next(self) -> dict | None:
        return next(self.items, None)


def calibration_images(size: int = CALIBRATION_SIZE) -> tuple[list[Tensor], list[Tensor]]:
    """The bundled photos and paintings, centre crops ``(3, size, size)`` in [0, 1] (one shape: the
    percentile calibration stacks them)."""
    from adain.geometry import prepare
    from adain.io.images import bundled_examples, load_image

    photos, paintings = ([prepare(load_image(f), size, crop=True) for f in bundled_examples(kind).values()] for kind in ("content", "style"))
    return photos, paintings


def conv_names(path: Path) -> list[str]:
    """The names of the ``Conv`` nodes of an ONNX file, in graph order."""
    import onnx

    return [node.name for node in onnx.load(str(path)).graph.node if node.op_type == "Conv"]


def quantize_int8(folder: Path, photos: list[Tensor], paintings: list[Tensor],
                  float_convs: dict[str, tuple[int, ...]] = FLOAT_CONVS) -> None:
    """Quantize the fp32 ``encoder.onnx`` and ``decoder.onnx`` of ``folder`` in place, statically (QDQ:
    int8 weights per output channel, uint8 activations), their activation ranges calibrated on the images
    (``(3, H, W)`` each, one shape: the encoder on all of them, the decoder on AdaIN of every photo ×
    painting pair) up to :data:`CALIBRATION_PERCENTILE`; the convolutions ``float_convs`` names by role
    and index are left in float."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from adain.ops import adain

    sessions = {role: ort.InferenceSession(str(folder / name), providers=["CPUExecutionProvider"]) for role, name in FILES.items()}
    def encode(x: Tensor) -> Tensor:
        return torch.from_numpy(sessions["encoder"].run(None, {"image": x[None].numpy()})[0])

    styles = [encode(x) for x in paintings]
    data = {"encoder": [x[None].numpy() for x in photos + paintings],
            "decoder": [adain(c, s).numpy() for c in map(encode, photos) for s in styles]}
    for role, name in FILES.items():
        path, pre = folder / name, folder / f"{role}.pre.onnx"
        quant_pre_process(str(path), str(pre))
        convs = conv_names(pre)
        keep = sorted({convs[i] for i in float_convs.get(role, ())})
        quantize_static(str(pre), str(path), _Calibration(sessions[role].get_inputs()[0].name, data[role]),
                        quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, nodes_to_exclude=keep, calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": CALIBRATION_PERCENTILE})
        pre.unlink()


def file_digest(path: Path) -> str:
    """SHA-256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_manifest(folder: Path, precision: str, encoder: Encoder, decoder: Decoder) -> dict:
    """The manifest of an export folder whose model files are written (sizes and digests read from them);
    ``encoder_identity`` is the torch encoder's (style files made with it work with the export)."""
    import onnx
    import onnxruntime

    files = {
        role: {"path": name, "bytes": (folder / name).stat().st_size, "sha256": file_digest(folder / name)}
        for role, name in FILES.items()
    }
    files["encoder"].update(input="image", output="relu4_1")
    files["decoder"].update(input="features", output="image")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "adain_version": __version__,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": onnxruntime.__version__,
        "opset": OPSET,
        "precision": precision,
        "input": {
            "layout": "NCHW", "channels": "RGB", "range": [0.0, 1.0], "dtype": "float32",
            "multiple": 8, "padding": "reflect the content on the bottom/right to a multiple of 8, crop the output back",
        },
        "normalisation": {
            "inside_encoder": True, "caffe_mean_bgr": list(CAFFE_MEAN_BGR), "scale": 255.0,
            "gatys_normalised": True, "note": "the encoder flips RGB to BGR, scales by 255 and subtracts the mean itself",
        },
        "features": {"tap": "relu4_1", "channels": 512, "stride": 8, "adain_eps": EPS},
        "output": {"range": [0.0, 1.0], "clamp": "clip the decoder's output to [0, 1]"},
        "decoder": getattr(decoder, "metadata", {"width": decoder.width}),
        "encoder_identity": encoder_identity(encoder),
        "files": files,
    }


M = TypeVar("M", bound=nn.Module)


def plain_copy(module: M) -> M:
    """A float32 CPU copy in the default memory format (a Stylizer makes its networks channels_last,
    which torch.export would then guard on), in eval mode."""
    module = copy.deepcopy(module).cpu().float()
    return module.to(memory_format=torch.contiguous_format).eval()  # type: ignore[call-overload]


def export_onnx(
    out_dir: str | Path,
    *,
    precision: str = "fp32",
    encoder: Encoder | None = None,
    decoder: Decoder | None = None,
    check: bool = True,
    float_convs: dict[str, tuple[int, ...]] = FLOAT_CONVS,
    calibration_size: int = CALIBRATION_SIZE,
) -> dict:
    """Export encoder and decoder into ``out_dir`` (written in a temporary folder, then moved in place).

    Args:
        out_dir: the export folder (created; its model files and manifest are replaced).
        precision: ``fp32``, ``fp16`` or ``int8`` (static, calibrated on the bundled examples: :func:`quantize_int8`).
        encoder, decoder: the networks (default: the pretrained VGG-19 and the shipped decoder).
        check: run ``onnx.checker`` on both files.
        float_convs: with ``int8``, the convolutions kept in float, by network and index (:data:`FLOAT_CONVS`).
        calibration_size: with ``int8``, the side of the centre crops of the bundled images calibrated on.

    Returns:
        The manifest.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    require_onnx()
    import onnx

    from adain.decoder import load_decoder

    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    encoder, decoder = plain_copy(encoder or Encoder()), plain_copy(decoder or load_decoder())
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as tmp_name:
        tmp = Path(tmp_name)
        export_encoder(encoder, tmp / FILES["encoder"])
        export_decoder(decoder, tmp / FILES["decoder"])
        if precision == "int8":
            quantize_int8(tmp, *calibration_images(calibration_size), float_convs)
        for name in FILES.values():
            convert_precision(tmp / name, precision)
            if check:
                onnx.checker.check_model(str(tmp / name), full_check=True)
        manifest = build_manifest(tmp, precision, encoder, decoder)
        if precision == "int8":
            manifest["quantization"] = {"method": "static, QDQ", "weights": "int8 per output channel", "activations": "uint8",
                                        "calibration": f"percentile {CALIBRATION_PERCENTILE} over the bundled examples, "
                                                       f"{calibration_size} px centre crops",
                                        "float_convs": {role: list(v) for role, v in float_convs.items()}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        for name in (*FILES.values(), MANIFEST):
            shutil.move(str(tmp / name), str(folder / name))
    return manifest
