"""The lite model's weight files: their metadata, read without torch.

``lite.safetensors`` holds the trained network (what training writes and export reads); ``lite.onnx``
beside it is the same network as two ONNX graphs' worth of weights, for :mod:`adain.lite.runtime`.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError, safe_open

from adain.errors import WeightsError

FORMAT = "adain-lite"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
LITE_PATH = WEIGHTS_DIR / "lite.safetensors"
"""The shipped lite weights (torch, for training and export)."""
ENCODER_FILE, DECODER_FILE = "lite-encoder.onnx", "lite-decoder.onnx"
"""The exported graphs (:mod:`adain.lite.export`), beside the weights."""
MAX_STAGES = 6
STYLE_SIZE = 256
"""The shorter side a larger painting is shrunk to for the lite model: the scale it was trained at (crops of paintings
resized to 256 px), and a quarter of the full model's encoding work."""


def stat_names(stages: int) -> list[str]:
    """Names of the per-stage statistics, ``mean1, std1, …`` (stage 1 at full resolution): the encoder graph's outputs
    after ``bottleneck`` and the features, the decoder graph's inputs after them."""
    return [f"{kind}{level}" for level in range(1, stages + 1) for kind in ("mean", "std")]


def feature_names(stages: int) -> list[str]:
    """Names of the content's features of the stages above the bottleneck, ``feature1, …`` (stage 1 at full resolution):
    the encoder graph's outputs after ``bottleneck``, the decoder graph's inputs after it (its skip connections)."""
    return [f"feature{level}" for level in range(1, stages)]
MAX_WIDTH = 1024


def read_lite_metadata(path: str | Path = LITE_PATH) -> dict:
    """Metadata of a lite weights file, JSON values decoded, ``widths`` checked.

    Raises:
        WeightsError: a missing or damaged file, or one that is not lite weights (one line, naming it).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: lite weights not found")
    try:
        with safe_open(str(path), framework="numpy") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a valid safetensors file ({str(exc)[:120]})") from None
    if raw.get("format") != FORMAT:
        raise WeightsError(f"{path}: not lite weights (format {str(raw.get('format'))[:40]!r}, expected {FORMAT!r})")
    meta = {}
    for k, v in raw.items():
        try:
            meta[k] = json.loads(v)
        except json.JSONDecodeError:
            meta[k] = v
    widths = meta.get("widths")
    if not (isinstance(widths, list) and 2 <= len(widths) <= MAX_STAGES and all(isinstance(w, int) and 0 < w <= MAX_WIDTH for w in widths)):
        raise WeightsError(f"{path}: lite weights with bad widths {str(widths)[:60]} (2 to {MAX_STAGES} channel counts expected)")
    meta["widths"] = tuple(widths)
    return meta


def lite_manifest(folder: str | Path = WEIGHTS_DIR) -> dict | None:
    """What a page needs to run the lite model itself: the two graphs' file names, sizes and SHA-256, the widths and the
    statistics' names; ``None`` where the graphs are not there (a checkout before the weights were shipped)."""
    import hashlib

    folder = Path(folder)
    paths = {"encoder": folder / ENCODER_FILE, "decoder": folder / DECODER_FILE}
    if not all(p.is_file() for p in paths.values()):
        return None
    meta = read_lite_metadata(folder / LITE_PATH.name) if (folder / LITE_PATH.name).is_file() else {}
    widths = list(meta.get("widths", ()))
    return {
        "format": FORMAT, "widths": widths, "stats": stat_names(len(widths)), "multiple": 2 ** (len(widths) - 1) if widths else None,
        "style_size": STYLE_SIZE,
        "files": {role: {"path": p.name, "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for role, p in paths.items()},
    }
