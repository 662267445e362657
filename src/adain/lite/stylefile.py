"""Style files for the lite model: a painting's statistics (each encoder stage's means and stds, about 2 KB), read and
written without torch.

A safetensors file with the tensors ``mean1, std1, … stdL`` (float32, ``(C_l,)``) and the metadata ``format``
(:data:`FORMAT`), ``model`` (the lite weights it was made with: :attr:`adain.lite.runtime.LiteModel.identity`) and
``sources`` (each painting's name, SHA-256 and weight). It is checked before use: size, format, the model, the
tensors' names, shapes and dtype, finite values and positive stds; a file made with other lite weights is refused,
since their statistics mean something else.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as save_bytes

from adain.errors import InputError
from adain.io.atomic import atomic_path
from adain.lite.runtime import LiteModel, LiteStyle
from adain.lite.weights import stat_names

FORMAT = "adain-lite-style/1"
MAX_BYTES = 1 << 20
"""A lite style file is a few KB; anything over this is refused before it is read."""


class LiteStyleFileError(InputError):
    """A lite style file that is damaged, foreign, or made with other lite weights."""


def is_lite_style_file(path: str | Path) -> bool:
    """Whether ``path`` is a safetensors file whose format is :data:`FORMAT` (read from its header only)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors" or not path.is_file() or path.stat().st_size > MAX_BYTES:
        return False
    try:
        with safe_open(str(path), framework="numpy") as f:
            return (f.metadata() or {}).get("format") == FORMAT
    except (SafetensorError, OSError, ValueError):
        return False


def mix_styles(styles: list[LiteStyle], weights: list[float]) -> LiteStyle:
    """The statistics of an interpolation: the weighted mean of each stage's means and stds (``weights`` summing to 1)."""
    stages = range(len(styles[0].means))
    return LiteStyle(
        tuple(np.asarray(sum(w * s.means[l] for w, s in zip(weights, styles)), np.float32) for l in stages),  # noqa: E741
        tuple(np.asarray(sum(w * s.stds[l] for w, s in zip(weights, styles)), np.float32) for l in stages),  # noqa: E741
    )


def write_lite_style(style: LiteStyle, path: str | Path, *, model: str, sources: list[dict]) -> None:
    """Write ``style`` atomically, recording the lite weights ``model`` it was made with and its ``sources``."""
    names = stat_names(len(style.means))
    tensors = {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in zip(names, (t for pair in zip(style.means, style.stds) for t in pair))}
    data = save_bytes(tensors, metadata={"format": FORMAT, "model": model, "sources": json.dumps(sources)})
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)


def describe_lite_style(path: str | Path) -> dict:
    """What ``adain info`` shows of a lite style file: its format, the lite weights it is for, its paintings (not checked
    against any weights: it is only described)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise LiteStyleFileError(f"{path}: not a readable style file ({str(exc)[:80]})") from None
    try:
        sources = json.loads(meta.get("sources", "[]"))
    except json.JSONDecodeError:
        sources = []
    return {"file": str(path), "format": f"lite style file ({FORMAT})", "model": str(meta.get("model", ""))[:60],
            "paintings": sources if isinstance(sources, list) else []}


def read_lite_style(path: str | Path, model: LiteModel) -> tuple[LiteStyle, list]:
    """A lite style file's statistics, checked against ``model``, and its sources.

    Raises:
        LiteStyleFileError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    if path.stat().st_size > MAX_BYTES:
        raise LiteStyleFileError(f"{path}: {path.stat().st_size} bytes, too large for a lite style file (at most {MAX_BYTES})")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise LiteStyleFileError(f"{path}: not a readable style file ({str(exc)[:80]})") from None
    if meta.get("format") != FORMAT:
        raise LiteStyleFileError(f"{path}: not a lite style file (format {str(meta.get('format'))[:40]!r})")
    if meta.get("model") != model.identity:
        raise LiteStyleFileError(f"{path}: made with other lite weights ({str(meta.get('model'))[:40]}, these are {model.identity}): save it again")
    names = stat_names(len(model.widths))
    if sorted(tensors) != sorted(names):
        raise LiteStyleFileError(f"{path}: holds {sorted(tensors)[:8]}, expected {names}")
    for i, name in enumerate(names):
        t, width = tensors[name], model.widths[i // 2]
        if t.dtype != np.float32 or t.shape != (width,) or not np.isfinite(t).all() or (name.startswith("std") and (t <= 0).any()):
            raise LiteStyleFileError(f"{path}: {name} must be {width} finite float32 values" + (", all positive" if name.startswith("std") else ""))
    try:
        sources = json.loads(meta.get("sources", "[]"))
    except json.JSONDecodeError:
        sources = []
    style = LiteStyle(tuple(tensors[n] for n in names[0::2]), tuple(tensors[n] for n in names[1::2]))
    return style, sources if isinstance(sources, list) else []
