"""Style files: a style's statistics, saved once, used like the painting.

AdaIN only needs the channel means and standard deviations of a style's
encoder features. ``adain save-style`` stores them for the four taps relu1_1 …
relu4_1 (960 channels × 2 × float32 ≈ 8 KB) in a safetensors file, with where
they came from (each painting's name, SHA-256 and weight, the style size) and
the identity of the encoder that computed them. A style file goes wherever a
style image does (except colour preservation, which recolours the painting
itself) and gives the same result within rounding; several paintings saved
into one file with weights give their interpolation.

Statistics only mean something for the encoder that made them: a file from
another encoder (other weights) is refused.

The bundled example styles ship as such files (``adain/styles/``, made by
``scripts/make_style_bank.py``), so their names work as ``--style hokusai``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import Tensor, nn

from adain.device import autocast_for
from adain.encoder import TAPS, encoder_identity
from adain.errors import InputError, UsageError
from adain.io.atomic import atomic_path
from adain.io.provenance import software
from adain.ops import StyleStats, mean_std
from adain.schema import Int, ListOf, Number, Record, SchemaError, Str, load_json, short, shorten

FORMAT = "adain-style/1"
SUFFIX = ".safetensors"
BANK = Path(__file__).parents[1] / "styles"
CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
TENSORS = tuple(f"{t}.{kind}" for t in CHANNELS for kind in ("mean", "std"))
MAX_BYTES = 10 * 2**20
"""The largest style file read (one is about 8 KB)."""
ENCODER_CHARS = 200
"""The longest encoder identity a style file may record (:func:`encoder_identity` is 40 characters or so)."""


class StyleFileError(InputError):
    """A style file that cannot be used (the message names it)."""


@dataclass
class StyleFile:
    """A style's statistics and where they came from.

    Attributes:
        name: what to call it (the file's stem).
        label: the file (or upload) it came from, for messages.
        means, stds: per tap (relu1_1 … relu4_1), ``(C,)`` float32 each.
        sources: ``[{"name", "sha256", "weight"}]`` of the paintings.
        encoder: :func:`encoder_identity` of the encoder that computed them.
        style_size: shorter side the paintings were resized to (0: kept).
    """

    name: str
    label: str
    means: dict[str, Tensor]
    stds: dict[str, Tensor]
    sources: list[dict]
    encoder: str
    style_size: int

    def stats(self) -> StyleStats:
        """relu4_1 statistics, ``(1, 512, 1, 1)`` mean and std (what AdaIN uses)."""
        return StyleStats(self.means["relu4_1"].view(1, -1, 1, 1), self.stds["relu4_1"].view(1, -1, 1, 1))

    def for_encoder(self, encoder: nn.Module | str) -> StyleStats:
        """:meth:`stats`, after checking that ``encoder`` (a module, or its :func:`encoder_identity`,
        e.g. :attr:`Stylizer.encoder_identity`) is the one that computed them.

        Raises:
            StyleFileError: made with another encoder.
        """
        mine = encoder if isinstance(encoder, str) else encoder_identity(encoder)
        if self.encoder != mine:
            raise StyleFileError(f"{self.label}: made with another encoder ({shorten(self.encoder)}; this one is {mine}): make it again with adain save-style")
        return self.stats()

    def for_method(self, method: str) -> None:
        """Check that the statistics serve ``method``: a style file holds AdaIN's (means and stds) only.

        Raises:
            StyleFileError: another method (it needs the painting).
        """
        if method != "adain":
            raise StyleFileError(f"{self.label}: a style file holds AdaIN's statistics (means and stds) only; method {short(method)} "
                                 "needs the painting: use the painting, or --method adain")

    def taps(self) -> list[tuple[Tensor, Tensor]]:
        """``(mean, std)`` of each tap, ``(1, C, 1, 1)`` each (for the style loss)."""
        return [(self.means[t].view(1, -1, 1, 1), self.stds[t].view(1, -1, 1, 1)) for t in TAPS]

    def sha256(self) -> str:
        """SHA-256 of the statistics (for the record of an output made with it)."""
        h = hashlib.sha256()
        for t in TAPS:
            h.update(self.means[t].numpy().tobytes())
            h.update(self.stds[t].numpy().tobytes())
        return h.hexdigest()


def mix(parts: list[StyleFile], weights: list[float] | None, name: str) -> StyleFile:
    """Interpolate styles (same encoder) with weights summing to 1 → one :class:`StyleFile`."""
    w = torch.full((len(parts),), 1 / len(parts)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    w = w / w.sum()
    if len({p.encoder for p in parts}) != 1:
        raise StyleFileError("styles made with different encoders cannot be mixed")
    means = {t: torch.stack([p.means[t] for p in parts]).mul(w[:, None]).sum(0) for t in TAPS}
    stds = {t: torch.stack([p.stds[t] for p in parts]).mul(w[:, None]).sum(0) for t in TAPS}
    sources = [{**s, "weight": round(float(wi) * s.get("weight", 1.0), 6)} for wi, p in zip(w, parts) for s in p.sources]
    sizes = {p.style_size for p in parts}
    return StyleFile(name, name, means, stds, sources, parts[0].encoder, sizes.pop() if len(sizes) == 1 else -1)


def to_bytes(style: StyleFile) -> bytes:
    """The safetensors bytes of a style file."""
    tensors = {f"{t}.{kind}": d[t].float().contiguous() for t in TAPS for kind, d in (("mean", style.means), ("std", style.stds))}
    meta = {"format": FORMAT, "encoder": style.encoder, "style_size": str(style.style_size), "sources": json.dumps(style.sources),
            "software": software()}
    return save_bytes(tensors, metadata=meta)


def save_style(style: StyleFile, path: str | Path) -> Path:
    """Write a style file atomically (temp file, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(to_bytes(style))
    return path


def is_style_file(path: str | Path) -> bool:
    """Whether a path names a style file (by its suffix)."""
    return Path(path).suffix.lower() == SUFFIX


def looks_like_style_file(head: bytes) -> bool:
    """Whether a file's first bytes are a safetensors header (an 8-byte length, then ``{``)."""
    return len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000


SOURCE = Record({"name": Str(1000), "sha256": Str(64), "weight": Number(0, 1)}, optional=("sha256", "weight"))
"""One painting of a style file's ``sources``."""
METADATA = Record({"format": Str(100), "encoder": Str(ENCODER_CHARS), "style_size": Str(7), "sources": Str(MAX_BYTES)},
                  optional=("style_size", "sources"), max_keys=16)
"""A style file's safetensors metadata (every value a string, as safetensors stores them)."""
SOURCES = ListOf(SOURCE, 1000)
STYLE_SIZES = range(-1, 100_001)
"""A style file's ``style_size``: -1 (a mix of several sizes), 0 (kept as read) or the shorter side."""


def parse_style(data: bytes, label: str) -> StyleFile:
    """Read a style file's bytes; ``label`` names it in errors (its stem becomes the style's name).

    Everything read is checked before use: the safetensors header (at most :data:`MAX_BYTES`, JSON at most
    :data:`~adain.schema.MAX_DEPTH` deep), the tensors (the eight statistics, float32, of the taps' sizes,
    finite, stds positive) and the metadata (:data:`METADATA`; ``sources`` a list of :data:`SOURCE`).

    Raises:
        StyleFileError: not a style file, or damaged (one line naming it and the problem, values cut short).
    """
    if len(data) > MAX_BYTES:
        raise StyleFileError(f"{label}: {len(data)} bytes is too large for a style file (at most {MAX_BYTES})")
    header_len = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    try:
        header = load_json(data[8 : 8 + header_len], label, max_bytes=MAX_BYTES)
        tensors = load_bytes(data)
    except (SchemaError, SafetensorError, ValueError, UnicodeDecodeError):
        raise StyleFileError(f"{label}: not a style file (safetensors expected; make one with adain save-style)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = short(meta.get("format")) if isinstance(meta, dict) else "none"
        raise StyleFileError(f"{label}: a safetensors file but not a style file (format {found}, expected {FORMAT!r})")
    try:
        METADATA.check(meta, f"{label}: damaged style file: metadata")
        sources = SOURCES.check(load_json(meta.get("sources", "[]"), label), f"{label}: damaged style file: sources")
        size = meta.get("style_size", "0")
        style_size = Int(STYLE_SIZES[0], STYLE_SIZES[-1]).check(int(size) if re.fullmatch(r"-?[0-9]{1,6}", size) else size,
                                                                f"{label}: damaged style file: style_size")
    except SchemaError as exc:
        raise StyleFileError(str(exc)) from None
    extra = sorted(set(tensors) - set(TENSORS))
    if extra:
        raise StyleFileError(f"{label}: damaged style file (unexpected tensor {short(extra[0])})")
    means, stds = {}, {}
    for t in TAPS:
        m, s = tensors.get(f"{t}.mean"), tensors.get(f"{t}.std")
        if m is None or s is None or m.shape != (CHANNELS[t],) or s.shape != (CHANNELS[t],):
            raise StyleFileError(f"{label}: damaged style file ({t} statistics missing or of the wrong shape)")
        if m.dtype != torch.float32 or s.dtype != torch.float32:
            dtype = str(m.dtype if m.dtype != torch.float32 else s.dtype).removeprefix("torch.")
            raise StyleFileError(f"{label}: damaged style file ({t} statistics are {dtype}, expected float32)")
        if not (torch.isfinite(m).all() and torch.isfinite(s).all() and (s > 0).all()):
            raise StyleFileError(f"{label}: damaged style file ({t} statistics are not finite and positive)")
        means[t], stds[t] = m, s
    return StyleFile(Path(label).stem, label, means, stds, sources, meta["encoder"], style_size)


def read_style(path: str | Path, digest: Callable[[bytes], object] = lambda data: None) -> StyleFile:
    """Read a style file from disk (see :func:`parse_style`); ``digest`` gets its bytes (for the output's record)."""
    path = Path(path)
    if not path.is_file():
        raise StyleFileError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise StyleFileError(f"{path}: {path.stat().st_size} bytes is too large for a style file (at most {MAX_BYTES})")
    data = path.read_bytes()
    digest(data)
    return parse_style(data, str(path))


def bundled_styles() -> dict[str, Path]:
    """The style files shipped with the package: name → path."""
    return {p.stem: p for p in sorted(BANK.glob(f"*{SUFFIX}"))}


class Runner(Protocol):
    """What :func:`encode_taps` needs of a :class:`~adain.stylizer.Stylizer`."""

    @property
    def device(self) -> torch.device: ...
    @property
    def bf16(self) -> bool: ...
    @property
    def memory_format(self) -> torch.memory_format: ...
    @property
    def encoder_identity(self) -> str: ...
    @property
    def encoder(self) -> nn.Module: ...
    @property
    def taps(self) -> tuple[str, ...]: ...


def has_every_tap(stylizer: Runner) -> bool:
    """Whether a Stylizer's networks give every tap relu1_1 … relu4_1 (an ONNX export gives relu4_1 only)."""
    return set(TAPS) <= set(stylizer.taps)


@torch.no_grad()
def encode_taps(stylizer: Runner, images: Tensor) -> list[Tensor]:
    """Features of ``(N, 3, H, W)`` at every tap (relu1_1 … relu4_1), float32, unpadded, run as the
    Stylizer runs its encoder (device, precision, memory format).

    Raises:
        UsageError: networks without those taps (an ONNX export).
    """
    if not has_every_tap(stylizer):
        raise UsageError(f"the networks give {', '.join(stylizer.taps)} only (an ONNX export): the statistics of every tap "
                         "need the torch encoder (--backend torch)")
    x = images.to(stylizer.device).contiguous(memory_format=stylizer.memory_format)
    with autocast_for(stylizer.device, stylizer.bf16):
        return [f.float() for f in stylizer.encoder(x)]


@torch.no_grad()
def compute_style(stylizer: Runner, image: Tensor, source: dict, style_size: int) -> StyleFile:
    """Statistics of one painting ``(3, H, W)`` in [0, 1] (already resized) with a Stylizer's encoder.

    The encoder runs exactly as :meth:`Stylizer.style_stats` runs it (same
    device, precision, memory format, no padding), so the relu4_1 statistics are
    the ones stylizing with the image would use.
    """
    stats = [mean_std(f) for f in encode_taps(stylizer, image[None])]
    means = {t: m.flatten().cpu() for t, (m, _) in zip(TAPS, stats)}
    stds = {t: s.flatten().cpu() for t, (_, s) in zip(TAPS, stats)}
    name = Path(source["name"]).stem
    return StyleFile(name, source["name"], means, stds, [{**source, "weight": 1.0}], stylizer.encoder_identity, style_size)


def describe_style(path: str | Path) -> dict:
    """What ``adain info`` shows of a style file: its paintings, encoder, style size, format."""
    style = read_style(path)
    return {"file": str(path), "format": f"style file ({FORMAT})", "style_size": style.style_size,
            "encoder": style.encoder, "paintings": style.sources, "sha256": style.sha256()}
