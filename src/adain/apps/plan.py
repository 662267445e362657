"""The input plan of a job: each file read once to plan and check it, before anything is decoded, then once to decode it.

``adain stylize``, ``adain stylize-dataset`` and ``adain video`` plan their inputs here. :meth:`InputFile.read`
reads a picture's header (its size as displayed; nothing is decoded) or a whole style file (a few KB);
:meth:`InputFile.check` checks the size a picture will have after resizing, against ``max_pixels`` or the
memory budget (:func:`check_memory`); :meth:`InputFile.decode` then decodes it and hashes the same bytes for
the output's record (:meth:`InputFile.entry`). Masks and index maps: :mod:`adain.apps.masks`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from torch import Tensor

from adain.device import memory_budget
from adain.errors import InputError
from adain.geometry import padded_side, prepared_shape
from adain.io.images import bundled_examples, check_pixels, image_size, load_image, load_photo
from adain.io.photo import PhotoInfo
from adain.io.provenance import file_sha256
from adain.io.stylefile import StyleFile, bundled_styles, is_style_file, read_style
from adain.limits import MAX_STORED_PIXELS
from adain.refine import refine_memory
from adain.tiling import resolve_tile, stylize_memory

T = TypeVar("T")


def check_memory(path: str | Path, height: int, width: int, tile: int | str = 0, refine: int = 0) -> None:
    """Refuse a content of ``(H, W)`` (as processed) whose stylization (and ``refine`` steps) would not fit the memory budget.

    Raises:
        InputError: one line with the estimate, the budget and what to do instead.
    """
    side = resolve_tile(tile, height, width)
    need, have = stylize_memory(height, width, side), memory_budget()
    if refine and not side:
        need += refine_memory(padded_side(height), padded_side(width))
        if need > have:
            raise InputError(f"{path}: {width}x{height} needs about {need / 2**30:.1f} GB of memory to stylize and refine, more than the "
                             f"{have / 2**30:.1f} GB available to it: use a smaller --content-size (or no --refine)")
    if need > have:
        how = f"in {side} px tiles" if side else "in one piece"
        fix = "a smaller --content-size" if side else "--tile auto (bounded memory) or a smaller --content-size"
        raise InputError(f"{path}: {width}x{height} needs about {need / 2**30:.1f} GB of memory to stylize {how}, more than the "
                         f"{have / 2**30:.1f} GB available to it: use {fix} (or set --max-pixels)")


def find_style(path: str | Path, painting: bool = False) -> Path:
    """A style's file: ``path`` itself, or for a bare name that is no file (``hokusai``) the bundled
    style file (``painting``: the bundled painting, for what needs more than its statistics)."""
    path = Path(path)
    bank = bundled_examples("style") if painting else bundled_styles()
    if not path.exists() and not path.suffix and path.name in bank:
        return bank[path.name]
    return path


@dataclass
class InputFile:
    """An input file as planning read it: a picture's ``size`` ``(W, H)`` as displayed, from its header, or a
    ``style`` file's statistics (read whole); ``sha256`` of its bytes once they have been read."""

    path: Path
    size: tuple[int, int] = (0, 0)
    style: StyleFile | None = None
    sha256: str = ""

    @classmethod
    def read(cls, path: str | Path, max_pixels: int = MAX_STORED_PIXELS, *, styles: bool = False) -> InputFile:
        """Plan ``path``: a picture's header read, its size as stored at most ``max_pixels``; with ``styles``, a style
        file (by its suffix) read whole and checked.

        Raises:
            InputError: a missing, damaged or too large file (the message names it).
        """
        path = Path(path)
        if not (styles and is_style_file(path)):
            return cls(path, image_size(path, max_pixels))
        digest = hashlib.sha256()
        return cls(path, style=read_style(path, digest.update), sha256=digest.hexdigest())

    def check(self, side: int, *, crop: bool = False, max_pixels: int | None = None, tile: int | str = 0, enlarge: bool = True,
              refine: int = 0) -> tuple[int, int]:
        """The picture's ``(H, W)`` after resizing its shorter side to ``side`` (0 keeps; ``enlarge=False``: only shrink)
        and cropping, checked against ``max_pixels``, or with ``None`` against the memory budget (:func:`check_memory`)."""
        w, h = self.size
        ph, pw = prepared_shape(h, w, side, crop, enlarge=enlarge)
        if max_pixels is not None:
            check_pixels(self.path, pw, ph, max_pixels, " after resizing")
        else:
            check_memory(self.path, ph, pw, tile, refine)
        return ph, pw

    def decode(self, max_pixels: int = MAX_STORED_PIXELS) -> Tensor:
        """The picture as ``(3, H, W)`` sRGB in [0, 1] (:func:`adain.io.images.load_image`), its bytes hashed as they are read."""
        return self._hashed(load_image, max_pixels)

    def decode_photo(self, max_pixels: int = MAX_STORED_PIXELS) -> tuple[Tensor, PhotoInfo]:
        """:meth:`decode`, and what reading the photo found for the output (:func:`adain.io.images.load_photo`)."""
        return self._hashed(load_photo, max_pixels)

    def _hashed(self, load: Callable[..., T], max_pixels: int) -> T:
        digest = hashlib.sha256()
        out = load(self.path, max_pixels, digest=digest.update)
        self.sha256 = digest.hexdigest()
        return out

    def entry(self, weight: float | None = None) -> dict:
        """How an output's record names the file (:func:`adain.io.provenance.source_entry`: name and SHA-256, from the bytes
        read already), a style file with its paintings, and the style's ``weight`` if given."""
        entry: dict = {"name": self.path.name, "sha256": self.sha256 or file_sha256(self.path)}
        if self.style is not None:
            entry["paintings"] = self.style.sources
        return entry if weight is None else {**entry, "weight": round(float(weight), 6)}

