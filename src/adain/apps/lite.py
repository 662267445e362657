"""``adain stylize --model lite``: files and folders with the lite model, without torch.

The same inputs, checks and outputs as the full model's jobs (:mod:`adain.apps.files`): every file's
size read from its header and checked before anything is decoded, the photo's colour profile and EXIF
honoured, a record of how the picture was made, atomic writes; a folder job skips a bad image with a
warning. What the lite model does not have is refused in one line: other transfer methods, style
files (the full model's statistics), tiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from adain.apps.masks import check_mask_count, read_masks
from adain.errors import InputError, UsageError
from adain.io.images import (
    array_to_pil,
    bundled_examples,
    check_job_settings,
    check_pixels,
    fit_height,
    image_size,
    load_photo_array,
    load_pil,
    make_grid,
    pil_to_array,
    save_image,
)
from adain.io.photo import PhotoInfo
from adain.io.provenance import OutputMeta, picture_meta, source_entry
from adain.limits import MAX_STORED_PIXELS, MEMORY_SHARE
from adain.lite.runtime import PRESERVE_MODES, LiteModel, LiteStyle
from adain.lite.stylefile import is_lite_style_file, read_lite_style
from adain.lite.weights import STYLE_SIZE
from adain.memory import available_memory

BYTES_PER_PIXEL = 600
"""Memory the lite model's stylization takes per content pixel (float32 activations at full resolution, measured with margin)."""


@dataclass(frozen=True)
class LiteOptions:
    """Settings of a lite stylize run (the options of ``adain stylize --model lite`` it supports).

    Attributes are those of :class:`adain.apps.files.StylizeOptions` of the same names; ``style_size`` defaults to the
    lite model's training scale (:data:`adain.lite.weights.STYLE_SIZE`).
    """

    alpha: float = 1.0
    preserve_color: str | None = None
    content_size: int = 0
    style_size: int = STYLE_SIZE
    crop: bool = False
    max_pixels: int | None = None
    quality: int = 95
    keep_profile: bool = False
    strip_metadata: bool = False
    keep_gps: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise UsageError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.preserve_color not in PRESERVE_MODES:
            raise UsageError(f"preserve_color must be one of {PRESERVE_MODES}, got {self.preserve_color!r}")
        check_job_settings(content_size=self.content_size, style_size=self.style_size, max_pixels=self.max_pixels, quality=self.quality)

    @property
    def stored_limit(self) -> int:
        return MAX_STORED_PIXELS if self.max_pixels is None else self.max_pixels


def planned_shape(height: int, width: int, size: int, crop: bool, *, enlarge: bool = True) -> tuple[int, int]:
    """``(H, W)`` after resizing the shorter side to ``size`` (0 keeps; ``enlarge=False``: only shrink) and an optional centre square crop."""
    if size and (enlarge or min(height, width) > size):
        scale = size / min(height, width)
        height, width = max(size, round(height * scale)), max(size, round(width * scale))
    return (min(height, width),) * 2 if crop else (height, width)


def prepare(img: Image.Image, shape: tuple[int, int], crop: bool) -> np.ndarray:
    """A PIL image resized (antialiased bilinear) so that, after the centre square crop if ``crop``, it is ``shape`` → ``(H, W, 3)``."""
    w, h = img.size
    if crop:
        side = shape[0]
        scale = side / min(h, w)
        rh, rw = max(side, round(h * scale)), max(side, round(w * scale))
    else:
        rh, rw = shape
    if (rh, rw) != (h, w):
        img = img.resize((rw, rh), Image.Resampling.BILINEAR)
    arr = pil_to_array(img)
    if crop:
        top, left = (rh - shape[0]) // 2, (rw - shape[1]) // 2
        arr = arr[top : top + shape[0], left : left + shape[1]]
    return arr


def check_planned(path: str | Path, size: int, opts: LiteOptions, *, enlarge: bool = True, content: bool = True) -> tuple[int, int]:
    """The ``(H, W)`` ``path`` will have, from its header, checked against the limits before anything is decoded."""
    w, h = image_size(path, opts.stored_limit)
    ph, pw = planned_shape(h, w, size, opts.crop, enlarge=enlarge)
    if opts.max_pixels is not None:
        check_pixels(path, pw, ph, opts.max_pixels, " after resizing")
    elif content:
        need, have = ph * pw * BYTES_PER_PIXEL, int(available_memory() * MEMORY_SHARE)
        if need > have:
            raise InputError(f"{path}: {pw}x{ph} needs about {need / 2**30:.1f} GB of memory to stylize with the lite model, more than the "
                             f"{have / 2**30:.1f} GB available to it: use a smaller --content-size (or set --max-pixels)")
    return ph, pw


def load_content(path: str | Path, opts: LiteOptions) -> tuple[np.ndarray, PhotoInfo]:
    """Content file → ``(H, W, 3)`` resized to ``opts.content_size`` (and cropped), sizes checked first, and the photo's information."""
    shape = check_planned(path, opts.content_size, opts)
    image, info = load_photo_array(path, opts.stored_limit)
    if image.shape[:2] != shape:
        image = prepare(array_to_pil(image), shape, opts.crop)
    return image, info


def find_painting(path: str | Path) -> Path:
    """A style's file: ``path``, or for a bare bundled name (``hokusai``) the bundled painting; the full model's style files are refused."""
    path = Path(path)
    bank = bundled_examples("style")
    if not path.exists() and not path.suffix and path.name in bank:
        return bank[path.name]
    if path.suffix.lower() == ".safetensors" and not is_lite_style_file(path):
        raise InputError(f"{path}: not a style file of the lite model (one of the full model's?): give the painting, or save one with "
                         "adain save-style --model lite")
    return path


def load_style(path: str | Path, opts: LiteOptions, model: LiteModel) -> np.ndarray | LiteStyle:
    """A painting → ``(H, W, 3)``, a larger one shrunk to ``opts.style_size`` (and cropped), sizes checked first; a lite style
    file → its statistics (checked against ``model``).

    Raises:
        InputError: also for a flat image (one colour): it has no texture to transfer; a style file with colour preservation
            (it recolours the painting).
    """
    path = find_painting(path)
    if is_lite_style_file(path):
        if opts.preserve_color is not None:
            raise InputError(f"{path}: --preserve-color recolours the painting, a style file holds only its statistics: use the painting")
        return read_lite_style(path, model)[0]
    shape = check_planned(path, opts.style_size, opts, enlarge=False, content=False)
    image = prepare(load_pil(path, opts.stored_limit), shape, opts.crop)
    if float(image.max() - image.min()) == 0.0:
        raise InputError(f"{path}: a flat image (one colour): it has no texture to transfer")
    return image


def output_meta(model: LiteModel, opts: LiteOptions, *, content: dict, info: PhotoInfo, styles: list[dict], size: tuple[int, int]) -> OutputMeta:
    """The metadata of one output, as :func:`adain.apps.files.output_meta` writes it, naming the lite model."""
    return picture_meta(opts, networks=model.record_entry, method="adain", content=content, info=info, styles=styles, size=size)


def stylize_file(
    model: LiteModel, content: Path, styles: list[Path], output: Path, opts: LiteOptions, *, weights: list[float] | None = None,
    masks: list[Path] | None = None,
) -> None:
    """One content file, one or several styles (mixed by ``weights`` or placed by ``masks``) → ``output``, every input checked first."""
    check_mask_count(len(masks or ()), len(styles))
    image, info = load_content(content, opts)
    paintings = [load_style(s, opts, model) for s in styles]
    w, h = image_size(content, opts.stored_limit)
    mask_array = read_masks(masks, None, len(styles), planned_shape(h, w, opts.content_size, False), crop=opts.crop, max_pixels=opts.stored_limit)
    out = model.stylize(image, paintings, alpha=opts.alpha, weights=weights, masks=mask_array, preserve_color=opts.preserve_color)
    entries = [source_entry(find_painting(s)) for s in styles]
    if weights:
        entries = [{**e, "weight": round(float(w), 6)} for e, w in zip(entries, weights)]
    save_image(out, output, opts.quality, output_meta(model, opts, content=source_entry(content), info=info, styles=entries, size=out.shape[:2]))


@dataclass
class FolderReport:
    """What a folder job wrote and skipped."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def stylize_folders(
    model: LiteModel, contents: list[Path], styles: list[Path], out_dir: Path, opts: LiteOptions, *,
    warn: Callable[[str], None], grid: Path | None = None, grid_height: int = 160, progress: Callable[[int], object] = lambda n: None,
) -> FolderReport:
    """Every content × style into ``out_dir/<content>_<style>.jpg``; a bad file is skipped with a warning (``progress(n)`` after each image)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = FolderReport()
    good_styles: list[tuple[Path, LiteStyle, Image.Image | None]] = []
    for path in styles:
        try:
            painting = load_style(path, opts, model)
        except InputError as exc:
            warn(str(exc))
            report.skipped.append(path)
            continue
        if isinstance(painting, LiteStyle):  # a style file: statistics, no picture for the grid
            good_styles.append((path, painting, None))
        else:
            good_styles.append((path, model.style(painting), fit_height(array_to_pil(painting), grid_height)))
    rows: list[list[Image.Image | None]] = [[None, *(thumb for _, _, thumb in good_styles)]]
    for content in contents:
        try:
            image, info = load_content(content, opts)
        except InputError as exc:
            warn(str(exc))
            report.skipped.append(content)
            progress(len(good_styles))
            continue
        row: list[Image.Image | None] = [fit_height(array_to_pil(image), grid_height)]
        for path, style, _ in good_styles:
            target = out_dir / f"{content.stem}_{path.stem}.jpg"
            out = model.stylize(image, [style] if opts.preserve_color is None else [load_style(path, opts, model)], alpha=opts.alpha,
                                preserve_color=opts.preserve_color)
            meta = output_meta(model, opts, content=source_entry(content), info=info, styles=[source_entry(find_painting(path))], size=out.shape[:2])
            save_image(out, target, opts.quality, meta)
            report.written.append(target)
            row.append(fit_height(array_to_pil(out), grid_height))
            progress(1)
        rows.append(row)
    if grid is not None and report.written:
        save_image(make_grid(rows, height=grid_height), grid)
    return report
