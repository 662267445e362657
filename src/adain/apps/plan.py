"""The input plan of a job: each file read once to plan and check it, before anything is decoded, then once to decode it.

``adain stylize``, ``adain stylize-dataset`` and ``adain video`` plan their inputs here. :meth:`InputFile.read`
reads a picture's header (its size as displayed; nothing is decoded) or a whole style file (a few KB);
:meth:`InputFile.check` checks the size a picture will have after resizing, against ``max_pixels`` or the
memory budget (:func:`check_memory`); :meth:`InputFile.decode` then decodes it and hashes the same bytes for
the output's record (:meth:`InputFile.entry`). :func:`read_masks` reads masks and index maps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import Tensor

from adain.controls import index_map_to_masks
from adain.device import memory_budget
from adain.errors import InputError, UsageError
from adain.geometry import padded_side, prepared_shape
from adain.io import DEFAULT_MAX_PIXELS, bundled_examples, check_pixels, image_size, load_image, load_index_map, load_mask, load_photo
from adain.photo import PhotoInfo
from adain.provenance import file_sha256
from adain.refine import refine_memory
from adain.stylefile import StyleFile, bundled_styles, is_style_file, read_style
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
    def read(cls, path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, *, styles: bool = False) -> InputFile:
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

    def decode(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
        """The picture as ``(3, H, W)`` sRGB in [0, 1] (:func:`adain.io.load_image`), its bytes hashed as they are read."""
        return self._hashed(load_image, max_pixels)

    def decode_photo(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Tensor, PhotoInfo]:
        """:meth:`decode`, and what reading the photo found for the output (:func:`adain.io.load_photo`)."""
        return self._hashed(load_photo, max_pixels)

    def _hashed(self, load: Callable[..., T], max_pixels: int) -> T:
        digest = hashlib.sha256()
        out = load(self.path, max_pixels, digest=digest.update)
        self.sha256 = digest.hexdigest()
        return out

    def entry(self, weight: float | None = None) -> dict:
        """How an output's record names the file (:func:`adain.provenance.source_entry`: name and SHA-256, from the bytes
        read already), a style file with its paintings, and the style's ``weight`` if given."""
        entry: dict = {"name": self.path.name, "sha256": self.sha256 or file_sha256(self.path)}
        if self.style is not None:
            entry["paintings"] = self.style.sources
        return entry if weight is None else {**entry, "weight": round(float(weight), 6)}


def _check_region(masks: list[Tensor], files: list[Path], size: tuple[int, int] | None, empty: list[str]) -> None:
    """Raise naming the file if a mask ``(H, W)`` is not ``size`` or covers nothing (``empty[k]`` says why)."""
    for path, m, why in zip(files, masks, empty, strict=True):
        if size is not None and tuple(m.shape) != size:
            raise InputError(f"{path}: {m.shape[1]}x{m.shape[0]} but the content is {size[1]}x{size[0]} (masks must have the content's size)")
        if float(m.max()) <= 0:
            raise InputError(f"{path}: {why}")


@dataclass
class MaskFiles:
    """Masks read from files: ``masks`` ``(K, H, W)`` in [0, 1], the file of each, and why each would be empty."""

    masks: Tensor
    files: list[Path]
    empty: list[str]

    def check_cropped(self, region: Tensor) -> None:
        """Raise naming the file if a mask covers nothing in ``region`` ``(K, H', W')``, the masks resized and cropped
        (resizing keeps every covered pixel > 0; cropping can cut a region away)."""
        _check_region(list(region), self.files, None, [f"{why} inside the centre crop" for why in self.empty])


def read_masks(
    masks: list[str | Path] | None,
    index_map: str | Path | None,
    n_styles: int,
    *,
    size: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    styles: list[Path] | None = None,
) -> MaskFiles | None:
    """Mask files (one per style) or an index map (pixel value k picks style k) → checked masks, or ``None``.

    Every mask must cover something and have the size ``size`` (``None``: the masks' common size).

    Raises:
        InputError: an unreadable file, a wrong size, a mask or index value that covers nothing (naming the file).
        UsageError: both masks and an index map, or not one mask per style.
    """
    if masks and index_map is not None:
        raise UsageError("give masks or an index map, not both")
    if not masks and index_map is None:
        return None
    names = [str(s) for s in styles] if styles is not None else [str(i + 1) for i in range(n_styles)]
    if masks:
        if len(masks) != n_styles:
            raise UsageError(f"{len(masks)} masks given for {n_styles} styles (one mask per style)")
        files = [Path(m) for m in masks]
        loaded = [load_mask(m, max_pixels) for m in files]
        empty = ["mask covers nothing (all black)"] * n_styles
    else:
        index = Path(str(index_map))
        files = [index] * n_styles
        loaded = list(index_masks(index, n_styles, max_pixels))
        empty = [f"no pixel has value {i}, so style {name} would not be used" for i, name in enumerate(names)]
    if size is None:
        for path, m in zip(files, loaded):
            if m.shape != loaded[0].shape:
                raise InputError(f"{path}: {m.shape[1]}x{m.shape[0]} but {files[0]} is {loaded[0].shape[1]}x{loaded[0].shape[0]} (masks must share one size)")
    _check_region(loaded, files, size, empty)
    return MaskFiles(torch.stack(loaded), files, empty)


def index_masks(path: str | Path, n_styles: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
    """Index map file (palette or grey; value k picks style k) → one-hot masks ``(K, H, W)``.

    Raises:
        InputError: a value outside ``0..K-1`` (the message names the file).
    """
    idx = load_index_map(path, max_pixels)
    top = int(idx.max())
    if int(idx.min()) < 0 or top >= n_styles:
        raise InputError(f"{path}: index map has value {top}, but with {n_styles} styles values must be in 0..{n_styles - 1}")
    return index_map_to_masks(idx, n_styles)
