"""Reading and writing images, with clear errors on bad input.

Images are ``(3, H, W)`` float32 RGB tensors in [0, 1], sRGB. Every problem with
an input file raises :class:`InputError` whose message names the file.

Reading honours the file's orientation and colour profile (converted to sRGB,
see :mod:`adain.io.profiles`); HEIC needs the ``heif`` extra. Writing embeds the
sRGB profile, and with an :class:`adain.io.provenance.OutputMeta` the photo's EXIF
and the record of how the picture was made.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from adain.errors import InputError, UsageError
from adain.io import photo
from adain.io.atomic import atomic_path
from adain.io.profiles import ProfileError
from adain.io.provenance import OutputMeta
from adain.limits import MAX_STORED_PIXELS, MIN_SIDE

if TYPE_CHECKING:  # torch is imported where a tensor is made: the lite model's path reads and writes images without it
    from torch import Tensor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".hif", ".avif")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
"""The bundled paintings (``style/``) and photos (``content/``)."""
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "HEIF", "AVIF")
"""The image formats read (Pillow's names), recognised from a file's first bytes, never from its name.
Others (ICO, EPS, PSD, DDS, PPM, …) are refused: some decode a whole image, or run Ghostscript, as
soon as they are opened, before any size can be checked."""
FORMAT_NAMES = "JPEG, PNG, WebP, BMP, GIF, TIFF, HEIC/HEIF (with the heif extra), AVIF"
OUTPUT_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP", ".gif": "GIF", ".tif": "TIFF", ".tiff": "TIFF"}
_ORIENTATION = 0x0112  # the EXIF tag; orientations 5..8 swap width and height
Digest = Callable[[bytes], object]
"""What gets a file's bytes as it is read (``hashlib.sha256().update``), for the output's record."""



def check_job_settings(*, content_size: int, style_size: int, max_pixels: int | None, quality: int) -> None:
    """The sizes and quality of a file job (``adain stylize``, either model): sizes 0 (keep) or at least :data:`~adain.limits.MIN_SIDE`,
    a pixel limit at least ``MIN_SIDE²``, quality in 1..100.

    Raises:
        UsageError: one line naming the setting.
    """
    for name, size in (("content size", content_size), ("style size", style_size)):
        if size != 0 and size < MIN_SIDE:
            raise UsageError(f"{name} must be 0 (keep the original) or at least {MIN_SIDE}, got {size}")
    if max_pixels is not None and max_pixels < MIN_SIDE * MIN_SIDE:
        raise UsageError(f"max pixels must be at least {MIN_SIDE * MIN_SIDE}, got {max_pixels}")
    if not 1 <= quality <= 100:
        raise UsageError(f"quality must be in 1..100, got {quality}")


def check_pixels(path: str | Path, width: int, height: int, limit: int, what: str = "", option: str = "--max-pixels") -> None:
    """Raise :class:`InputError` naming ``path`` if ``width x height`` is over ``limit`` pixels.

    ``what`` says which size it is (e.g. ``" after resizing"``), ``option`` how to change the limit.
    """
    if width * height > limit:
        raise InputError(f"{path}: {width}x{height}{what} = {width * height} pixels is over the limit of {limit} ({option})")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an image")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")


@contextlib.contextmanager
def _c_stderr_captured() -> Iterator[list[str]]:
    """Collect what C libraries write to file descriptor 2 (libtiff's warnings) into a list of lines.

    Process-wide while it lasts, so it is used around TIFF decoding only.
    """
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines += sink.read(4096).decode(errors="replace").splitlines()


@contextlib.contextmanager
def _decoding(path: Path, max_pixels: int | None = None, family: str | None = None) -> Iterator[None]:
    """Turn whatever a decoder raises into one :class:`InputError` naming ``path``; keep library warnings quiet.

    ``family``: the file's first bytes say HEIC/HEIF or AVIF (:func:`check_heif`), so a failure means a damaged one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's and numpy's warnings about damaged files: the error says it
        try:
            yield
        except InputError:
            raise
        except Image.DecompressionBombError:
            bomb = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            limit = f"the limit of {max_pixels} pixels (--max-pixels); " if max_pixels else ""
            raise InputError(f"{path}: image is over {limit}Pillow refuses more than {bomb} as a decompression bomb") from None
        except UnidentifiedImageError:
            why = f"truncated or damaged {family} image" if family else f"not an image file (accepted formats: {FORMAT_NAMES})"
            raise InputError(f"{path}: {why}") from None
        except MemoryError:
            raise InputError(f"{path}: not enough memory to decode it") from None
        except Exception as exc:  # noqa: BLE001 - whatever a decoder raises, the file is damaged
            detail = (str(exc).splitlines() or [""])[0][:100] or type(exc).__name__
            why = f"truncated or damaged {family} image" if family else "not an image file"
            raise InputError(f"{path}: {why} (cannot decode it: {detail})") from None


def _open_header(f: BinaryIO) -> Image.Image:
    """Recognise ``f`` among :data:`ACCEPTED_FORMATS` from its first bytes and read its header (nothing decoded).

    JPEG, PNG, BMP and GIF are known to Pillow before it loads every plugin (a tenth of a second); the
    others are looked for after that."""
    Image.preinit()
    if not Image.OPEN.keys() >= set(ACCEPTED_FORMATS):
        try:
            return Image.open(f, formats=[name for name in ACCEPTED_FORMATS if name in Image.OPEN])
        except UnidentifiedImageError:
            f.seek(0)
            Image.init()  # every plugin Pillow has; HEIF only once the heif extra has registered it
    return Image.open(f, formats=[name for name in ACCEPTED_FORMATS if name in Image.OPEN])


def _displayed_size(img: Image.Image) -> tuple[int, int]:
    """``(W, H)`` as displayed: EXIF orientations 5..8 swap the stored sides."""
    w, h = img.size
    if img.format == "PNG":  # Pillow looks for a PNG's EXIF by decoding the whole image: keep the stored size
        return w, h
    try:
        orientation = img.getexif().get(_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block: the stored orientation is kept
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


@contextlib.contextmanager
def _opened(path: Path, max_pixels: int) -> Iterator[tuple[Image.Image, BinaryIO]]:
    """``path`` opened once: a non-empty file of an accepted format (HEIC: readable here), its header read
    (nothing decoded) and its stored size checked against ``max_pixels``; whatever fails is one :class:`InputError`."""
    _check_file(path)
    with path.open("rb") as f:
        family = check_heif(path, f.read(64))
        f.seek(0)
        with _decoding(path, max_pixels, family):
            img = _open_header(f)
            check_pixels(path, *img.size, max_pixels)
            yield img, f


def image_size(path: str | Path, max_pixels: int = MAX_STORED_PIXELS) -> tuple[int, int]:
    """``(W, H)`` of an image file as displayed, read from its header: nothing is decoded.

    Raises:
        InputError: missing, empty, not an accepted format, or over ``max_pixels``.
    """
    with _opened(Path(path), max_pixels) as (img, _):
        return _displayed_size(img)


def _decode(img: Image.Image, path: Path) -> None:
    """``img.load()``; libtiff's messages become part of the error instead of going to stderr."""
    if img.format != "TIFF":
        img.load()
        return
    with _c_stderr_captured() as messages:
        try:
            img.load()
        except Exception as exc:  # noqa: BLE001 - re-raised with libtiff's own words
            raise OSError("; ".join([str(exc), *messages[:2]])) from None


def check_heif(path: Path, head: bytes) -> str | None:
    """``"HEIC/HEIF"`` or ``"AVIF"`` if the file's first bytes ``head`` say it is such an image (HEIC: then make
    Pillow able to read it), else ``None`` (:func:`adain.io.photo.container_family`).

    Raises:
        InputError: a HEIC/HEIF image, and the ``heif`` extra (``pillow-heif``) is not installed.
    """
    if photo.is_heif(head) and not photo.register_heif():
        raise InputError(f"{path}: {photo.heif_missing_message()}")
    return photo.container_family(head)


def open_oriented(path: str | Path, max_pixels: int = MAX_STORED_PIXELS, min_side: int = 0, *, digest: Digest | None = None) -> Image.Image:
    """Open and decode an image file in its stored mode, EXIF rotation applied, each side at least ``min_side``;
    the file is opened once.

    The header's size is checked against ``max_pixels`` before anything is decoded; Pillow's own
    decompression-bomb guard stays on. ``digest`` then gets the file's bytes (e.g. ``hashlib.sha256().update``).

    Raises:
        InputError: missing, empty, not an accepted format, damaged, too small, or over ``max_pixels``.
    """
    path = Path(path)
    with _opened(path, max_pixels) as (img, f):
        _decode(img, path)
        f.seek(0)
        while digest is not None and (block := f.read(1 << 20)):
            digest(block)
    try:
        oriented = ImageOps.exif_transpose(img)
        oriented.format = img.format  # the upright copy forgets it; an output's record names the decoder
    except Exception:  # noqa: BLE001 (a broken EXIF block must not stop us; keep the stored orientation)
        oriented = img
    if min(oriented.size) < min_side:
        raise InputError(f"{path}: {oriented.size[0]}x{oriented.size[1]} is too small (each side must be at least {min_side} px)")
    return oriented


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F, …) → 8-bit RGB; alpha is composited on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        # 16-bit modes span 0..65535 even when dark; 32-bit "I" (old PNG readers) is guessed from its range
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        img = Image.fromarray(np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def colour_managed(img: Image.Image, path: str | Path) -> Image.Image:
    """A decoded picture → 8-bit sRGB, through its colour profile (see :func:`adain.io.photo.managed_rgb`).

    Raises:
        InputError: a colour profile that is unreadable, does not fit the pixels or cannot be applied.
    """
    try:
        return photo.managed_rgb(img, photo.source_icc(img), to_rgb)
    except ProfileError as exc:
        raise InputError(f"{path}: {exc}") from None


def load_pil(path: str | Path, max_pixels: int = MAX_STORED_PIXELS, min_side: int = MIN_SIDE, *, digest: Digest | None = None) -> Image.Image:
    """Open an image file as 8-bit sRGB, EXIF rotation and colour profile applied (``digest``: see :func:`open_oriented`).

    Raises:
        InputError: missing, empty, truncated, not an image, too small or too large, a bad colour profile.
    """
    img = open_oriented(path, max_pixels, min_side, digest=digest)
    with _decoding(Path(path)):
        return colour_managed(img, path)


def load_photo(path: str | Path, max_pixels: int = MAX_STORED_PIXELS, *, digest: Digest | None = None) -> tuple[Tensor, photo.PhotoInfo]:
    """Image file → ``(3, H, W)`` sRGB in [0, 1] and what was found in it (decoder, profile, EXIF) for the output.

    Raises:
        InputError: as :func:`load_pil`.
    """
    img = open_oriented(path, max_pixels, MIN_SIDE, digest=digest)
    with _decoding(Path(path)):
        return pil_to_tensor(colour_managed(img, path)), photo.PhotoInfo.of(img, photo.source_icc(img))


def load_photo_array(path: str | Path, max_pixels: int = MAX_STORED_PIXELS) -> tuple[np.ndarray, photo.PhotoInfo]:
    """:func:`load_photo` without torch: ``(H, W, 3)`` float32 sRGB in [0, 1], and the photo's information."""
    img = open_oriented(path, max_pixels, MIN_SIDE)
    with _decoding(Path(path)):
        return pil_to_array(colour_managed(img, path)), photo.PhotoInfo.of(img, photo.source_icc(img))


def pil_to_array(img: Image.Image) -> np.ndarray:
    """8-bit RGB PIL image → ``(H, W, 3)`` float32 in [0, 1]."""
    return np.asarray(img.convert("RGB"), dtype=np.float32) / np.float32(255.0)


def array_to_pil(image: np.ndarray) -> Image.Image:
    """``(H, W, 3)`` in [0, 1] (values outside are clipped) → RGB PIL image."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"expected an (H, W, 3) image, got shape {image.shape}")
    return Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), "RGB")


def pil_to_tensor(img: Image.Image) -> Tensor:
    """8-bit RGB PIL image → ``(3, H, W)`` float32 in [0, 1]."""
    import torch

    return torch.from_numpy(pil_to_array(img)).permute(2, 0, 1).contiguous()


def load_image(path: str | Path, max_pixels: int = MAX_STORED_PIXELS, *, digest: Digest | None = None) -> Tensor:
    """Image file → ``(3, H, W)`` float32 RGB in [0, 1]."""
    return pil_to_tensor(load_pil(path, max_pixels, digest=digest))


def load_mask_array(path: str | Path, max_pixels: int = MAX_STORED_PIXELS) -> np.ndarray:
    """Mask image → ``(H, W)`` float32 in [0, 1] (luminance; alpha, if any, is multiplied in)."""
    img = open_oriented(path, max_pixels)
    with _decoding(Path(path)):
        if img.mode in ("RGBA", "LA", "PA", "P"):
            rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
            lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            return lum * rgba[..., 3]
        return pil_to_array(to_rgb(img).convert("L").convert("RGB"))[..., 0]


def load_mask(path: str | Path, max_pixels: int = MAX_STORED_PIXELS) -> Tensor:
    """:func:`load_mask_array` as a tensor ``(H, W)``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(load_mask_array(path, max_pixels)))


def load_index_map(path: str | Path, max_pixels: int = MAX_STORED_PIXELS) -> Tensor:
    """Index map → ``(H, W)`` int64 of its raw pixel values (palette indices or grey levels).

    Raises:
        InputError: unreadable, or a colour image (an index map must be palette or greyscale).
    """
    img = open_oriented(path, max_pixels)
    if img.mode in ("RGB", "RGBA"):
        arr = np.asarray(img)[..., :3]
        if not (arr == arr[..., :1]).all():
            raise InputError(f"{path}: an index map must be a palette or greyscale image, not a colour {img.mode} image")
        arr = arr[..., 0]
    elif img.mode in ("P", "L", "I", "I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img)
    else:
        raise InputError(f"{path}: an index map must be a palette or greyscale image, got mode {img.mode}")
    import torch

    return torch.from_numpy(arr.astype(np.int64))


def tensor_to_pil(image: Tensor) -> Image.Image:
    """``(3, H, W)`` in [0, 1] (values outside are clipped) → RGB PIL image."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise UsageError(f"expected a (3, H, W) image, got shape {tuple(image.shape)}")
    arr = image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr, "RGB")


def image_format(path: str | Path) -> str:
    """PIL format name for an output file's suffix (``.jpg`` → ``JPEG``), from :data:`OUTPUT_FORMATS`.

    Raises:
        InputError: a suffix not in the list (checked before any work, so no run ends on it).
    """
    path = Path(path)
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown image format '{path.suffix}', cannot write it (use {', '.join(OUTPUT_FORMATS)})")
    return fmt


def encode_for(image: Tensor | np.ndarray | Image.Image, fmt: str, meta: OutputMeta | None) -> tuple[Image.Image, dict]:
    """Pixels and ``Image.save`` options for ``fmt``: colour (sRGB, or the kept profile), EXIF and the record.

    Raises:
        InputError: a kept profile that cannot be applied, or a record too large for the format.
    """
    img = image if isinstance(image, Image.Image) else array_to_pil(image) if isinstance(image, np.ndarray) else tensor_to_pil(image)
    try:
        return (meta or OutputMeta()).encode(img.convert("RGB"), fmt)
    except (ProfileError, ValueError) as exc:
        raise InputError(f"cannot write the metadata: {exc}") from None


def _save_atomic(image: Tensor | np.ndarray | Image.Image, path: Path, quality: int, meta: OutputMeta | None) -> None:
    fmt = image_format(path)
    try:
        img, options = encode_for(image, fmt, meta)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP", "AVIF") else {}
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **kwargs, **options)


def save_image(image: Tensor | np.ndarray | Image.Image, path: str | Path, quality: int = 95, meta: OutputMeta | None = None) -> None:
    """Write an sRGB image atomically (temp file in the same folder, then rename); format from the suffix.

    The sRGB profile is embedded; ``meta`` adds the photo's EXIF, the record of
    how the picture was made, or another output colour space.

    Raises:
        InputError: unknown suffix, the file cannot be written (permissions, disk full, …),
            or ``meta`` cannot be written (a kept profile that fails, a record too large).
    """
    path = Path(path)
    try:
        _save_atomic(image, path, quality, meta)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, newline="")


def fit_height(img: Image.Image, height: int) -> Image.Image:
    """Scale to ``height`` px, keeping the aspect ratio (Lanczos)."""
    if img.height == height:
        return img
    return img.resize((max(1, round(img.width * height / img.height)), height), Image.LANCZOS)


def make_grid(rows: list[list[Image.Image | None]], height: int = 160, gap: int = 4) -> Image.Image:
    """Lay images out in a table on white.

    Every row is ``height`` px high; every image is scaled to that height and
    centred in its cell; a column is as wide as its widest image; ``None``
    leaves a cell empty (e.g. the top-left corner).
    """
    rows = [[None if im is None else fit_height(im, height) for im in row] for row in rows]
    n_cols = max(len(row) for row in rows)
    widths = [max((row[j].width for row in rows if j < len(row) and row[j] is not None), default=0) for j in range(n_cols)]
    grid = Image.new("RGB", (sum(widths) + gap * (n_cols + 1), len(rows) * (height + gap) + gap), "white")
    for i, row in enumerate(rows):
        x = gap
        for j, im in enumerate(row):
            if im is not None:
                grid.paste(im.convert("RGB"), (x + (widths[j] - im.width) // 2, gap + i * (height + gap)))
            x += widths[j] + gap
    return grid


def list_images(folder: str | Path, *, also: tuple[str, ...] = (), below: bool = False) -> list[Path]:
    """Image files directly in a folder (``below``: anywhere below it), and files with the suffixes ``also``
    (style files), sorted; hidden files are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    suffixes = (*IMAGE_SUFFIXES, *also)
    files = folder.rglob("*") if below else folder.iterdir()
    return sorted(p for p in files if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."))


def find_images(folder: str | Path, *, also: tuple[str, ...] = ()) -> list[Path]:
    """:func:`list_images` below a folder (recursively); none is an error."""
    files = list_images(folder, also=also, below=True)
    if not files:
        raise InputError(f"{folder}: no images {'or style files ' if also else ''}found")
    return files


def bundled_examples(kind: str) -> dict[str, Path]:
    """Bundled example images of ``kind`` (``style``: the paintings, or ``content``): name (file stem) → path, sorted."""
    folder = EXAMPLES / kind
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
