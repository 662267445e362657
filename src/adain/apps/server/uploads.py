"""Planning of uploads: where a request's files go, what a job is, and every size checked from the files' headers.

Nothing here decodes an image: a request's sizes (content, styles, masks, output) are read from the
headers and checked against the :class:`~adain.apps.server.limits.Limits` before any work.
"""

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fastapi import UploadFile

from adain.apps.server.limits import Limits
from adain.color import PreserveColor
from adain.errors import InputError
from adain.geometry import resized_shape
from adain.io.images import image_size
from adain.io.stylefile import StyleFile, looks_like_style_file, parse_style
from adain.names import Method

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """One input image: a label for messages, the file to read, the SHA-256 of its bytes."""

    label: str
    path: Path
    digest: str


@dataclass(frozen=True)
class Job:
    """One stylization request, validated; its files are on disk until it is done."""

    content: Source
    styles: list[Source]
    masks: list[Source]
    weights: list[float] | None
    alpha: float
    preserve_color: PreserveColor | None
    size: int
    format: str
    method: Method = "adain"
    model: str = "full"
    refine: int = 0


@dataclass(frozen=True)
class TextureJob:
    """One texture request, validated (see ``POST /api/texture``)."""

    style: Source
    width: int
    height: int
    seed: int
    tileable: bool
    method: Method
    refine: int
    format: str


@dataclass(frozen=True)
class Uploads:
    """Where a request's files go (a temporary folder of its own) and the bundled examples it may name instead."""

    temp_dir: str | Path | None
    styles: dict[str, Path]
    contents: dict[str, Path]

    def folder(self) -> "tempfile.TemporaryDirectory[str]":
        """A fresh temporary folder for one request, removed when its ``with`` block ends."""
        return tempfile.TemporaryDirectory(prefix="adain-upload-", dir=self.temp_dir)

    def bundled(self, name: str, kind: str) -> Source:
        """The bundled ``kind`` (``"style"`` or ``"content"``) called ``name``."""
        return bundled_source(name, self.styles if kind == "style" else self.contents, kind)


async def save_upload(upload: UploadFile, folder: Path, name: str, label: str) -> Source:
    """Write an upload to ``folder/name`` (never the client's file name) → :class:`Source`."""
    data = await upload.read()
    path = folder / name
    path.write_bytes(data)
    return Source(f"{label} '{upload.filename or name}'", path, hashlib.sha256(data).hexdigest())


def bundled_source(name: str, examples: dict[str, Path], kind: str) -> Source:
    """A bundled example by name → :class:`Source`; unknown names are a :class:`InputError`."""
    if name not in examples:
        raise InputError(f"unknown bundled {kind} '{name}' (bundled: {', '.join(examples)})")
    path = examples[name]
    return Source(f"bundled {kind} '{name}'", path, hashlib.sha256(path.read_bytes()).hexdigest())


@contextmanager
def labelled(sources: list[Source]) -> Iterator[None]:
    """An :class:`InputError` raised inside names each of ``sources`` by its label, not its temporary path."""
    try:
        yield
    except InputError as exc:
        message = str(exc)
        for source in sorted(sources, key=lambda s: len(str(s.path)), reverse=True):  # mask10 before mask1
            message = message.replace(str(source.path), source.label)
        raise InputError(message) from None


def load_source(source: Source, loader: Callable[[Path, int], T], max_pixels: int) -> T:
    """``loader(source.path, max_pixels)`` with the label, not the temp path, in error messages."""
    with labelled([source]):
        return loader(source.path, max_pixels)


def check_planned(source: Source, size: int, limits: Limits, what: str, hint: str) -> tuple[int, int]:
    """``(H, W)`` that ``source`` will have once its shorter side is resized to ``size``, from the file's
    header (nothing is decoded); over ``limits.max_output_pixels`` is an :class:`InputError`."""
    w, h = load_source(source, image_size, limits.max_pixels)
    ph, pw = resized_shape(h, w, size)
    if ph * pw > limits.max_output_pixels:
        raise InputError(f"{source.label}: {what} would be {pw}x{ph} = {ph * pw} pixels, over the limit of {limits.max_output_pixels}: {hint}")
    return ph, pw


def check_job(job: Job, limits: Limits) -> None:
    """Every size of ``job`` from the files' headers: the output, each painting once resized, each mask's pixels."""
    check_planned(job.content, job.size, limits, "the output", "ask for a smaller size")
    for source in job.styles:
        if not is_style_upload(source):
            check_planned(source, limits.style_size, limits, f"resized to {limits.style_size} px", "crop it to a less elongated shape")
    for source in job.masks:
        load_source(source, image_size, limits.max_pixels)


def is_style_upload(source: Source) -> bool:
    """Whether an upload is a style file (a safetensors header), not a painting."""
    with open(source.path, "rb") as f:
        return looks_like_style_file(f.read(16))


def read_style_file(source: Source, preserve_color: str | None) -> StyleFile | None:
    """An uploaded style file's statistics (``None`` if the upload is not one; checked by the caller's encoder).

    Raises:
        InputError: a damaged style file, or one with colour preservation.
    """
    if not is_style_upload(source):
        return None
    if preserve_color is not None:
        raise InputError(f"{source.label}: colour preservation recolours the painting, a style file holds only its statistics")
    return parse_style(source.path.read_bytes(), source.label)
