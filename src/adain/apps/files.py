"""Stylizing files: ``adain stylize`` jobs (one content, several styles, masks) and folder runs.

Reads and checks every input before a model is loaded, so bad input fails fast
with a one-line :class:`~adain.errors.InputError` naming the file.

A style is a painting or a style file (``.safetensors``, :mod:`adain.io.stylefile`),
or the name of a bundled style (``hokusai``). Every output carries the photo's
EXIF (unless ``strip_metadata``; GPS only with ``keep_gps``), its colour profile
(sRGB, or the photo's with ``keep_profile``) and the record of how it was made.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from adain.apps.compiling import CompileRule
from adain.apps.masks import check_mask_count, read_masks
from adain.apps.plan import InputFile, find_style
from adain.color import PreserveColor
from adain.controls import Controls, check_weights_or_masks, normalise_weights
from adain.errors import InputError, UsageError
from adain.geometry import prepare, resize_shorter, resized_shape
from adain.io.atomic import check_not_an_input
from adain.io.images import check_job_settings, fit_height, image_format, make_grid, save_image, tensor_to_pil
from adain.io.photo import PhotoInfo
from adain.io.provenance import OutputMeta, picture_meta
from adain.io.stylefile import StyleFile, compute_style
from adain.limits import MAX_STORED_PIXELS, MIN_SIDE
from adain.names import Method
from adain.refine import check_refine
from adain.stylizer import Stylizer
from adain.tiling import resolve_tile, stylize_tiled

if TYPE_CHECKING:
    from adain.lite.stylizer import LiteStylizer


@dataclass(frozen=True)
class StylizeOptions:
    """Settings of a file-level stylize run (the options of ``adain stylize``).

    Attributes:
        alpha: content–style trade-off in [0, 1].
        preserve_color: ``None``, ``"color"`` or ``"luminance"``.
        content_size: shorter side of the content before stylizing; 0 keeps
            the original, so the output has the input's size.
        style_size: larger style images are shrunk to this shorter side (0
            keeps them): 512, the original code's default and the paper's
            training scale. Smaller ones are kept (enlarging adds no detail
            and multiplies the encoder's work).
        style_scale: stroke scale: the style's shorter side is this times the
            content's (after ``content_size``), enlarging too, so a small
            preview and the full-size result look alike; 0 (default) uses ``style_size``.
        method: transfer method, ``adain``, ``wct`` or ``efdm`` (:mod:`adain.methods`).
        crop: centre square crop of content and styles after resizing.
        max_pixels: largest image accepted, as stored and as processed (after resizing); ``None``:
            images as stored up to :data:`~adain.limits.MAX_STORED_PIXELS`, as processed what fits
            :func:`~adain.device.memory_budget` (see :func:`adain.apps.plan.check_memory`).
        quality: JPEG/WebP quality of written images.
        keep_profile: write outputs in the photo's own RGB colour profile (default: sRGB).
        strip_metadata: do not carry the photo's EXIF over (the record of how
            the output was made is written all the same).
        keep_gps: carry the photo's GPS position over (dropped by default).
        refine: optimisation steps of the paper's losses after the decoder (:mod:`adain.refine`), 0: none;
            the styles must then be paintings (a bundled style's painting, not a style file).
    """

    alpha: float = 1.0
    preserve_color: PreserveColor | None = None
    content_size: int = 0
    style_size: int = 512
    crop: bool = False
    max_pixels: int | None = None
    quality: int = 95
    keep_profile: bool = False
    strip_metadata: bool = False
    keep_gps: bool = False
    style_scale: float = 0.0
    method: Method = "adain"
    refine: int = 0

    def __post_init__(self) -> None:
        self.controls()  # checks alpha, preserve_color and method, once: the run's controls are made here
        check_refine(self.refine)
        if not (self.style_scale == 0 or 0.05 <= self.style_scale <= 8):
            raise UsageError(f"style scale must be 0 (off) or in 0.05..8, got {self.style_scale}")
        check_job_settings(content_size=self.content_size, style_size=self.style_size, max_pixels=self.max_pixels, quality=self.quality)

    def controls(self, **given: Any) -> Controls:
        """The style controls of this run: its ``alpha``, ``preserve_color`` and ``method`` (checked when the options were
        made), plus ``given`` (weights, masks; checked here)."""
        return self._controls.replace(**given) if given else self._controls

    @cached_property
    def _controls(self) -> Controls:
        return Controls(alpha=self.alpha, preserve_color=self.preserve_color, method=self.method)

    @property
    def needs_paintings(self) -> bool:
        """Whether the styles must be paintings, not statistics: another method than adain (it needs
        more than means and stds), colour preservation (it recolours the painting) or refinement (it
        needs the style at every tap of the encoder)."""
        return self.method != "adain" or self.preserve_color is not None or self.refine > 0

    @property
    def stored_limit(self) -> int:
        """Pixels an input file may have as stored."""
        return MAX_STORED_PIXELS if self.max_pixels is None else self.max_pixels


Style = Tensor | StyleFile  # a painting (3, H, W) or a style file's statistics


def style_side(opts: StylizeOptions, content: Tensor | None) -> int:
    """Shorter side the styles get: ``style_scale`` × the content's ``(3, H, W)`` shorter side, else ``style_size``."""
    if opts.style_scale == 0:
        return opts.style_size
    if content is None:
        return 0  # kept as read, scaled once the content is known (see :func:`scale_styles`)
    return max(MIN_SIDE, round(opts.style_scale * min(content.shape[-2:])))


def plan_content(path: str | Path, opts: StylizeOptions, tile: int | str = 0) -> InputFile:
    """A content file's plan: its header read, its size after resizing (and cropping) checked; ``tile`` (see
    :func:`~adain.tiling.resolve_tile`) is how it will be stylized, for the memory check."""
    plan = InputFile.read(path, opts.stored_limit)
    plan.check(opts.content_size, crop=opts.crop, max_pixels=opts.max_pixels, tile=tile, refine=opts.refine)
    return plan


def plan_style(path: str | Path, opts: StylizeOptions) -> InputFile:
    """A style's plan (its file: :func:`~adain.apps.plan.find_style`): a style file read, or a painting's header read
    and its size checked as ``style_size`` shrinks it."""
    plan = InputFile.read(find_style(path, opts.needs_paintings), opts.stored_limit, styles=True)
    if plan.style is None:
        plan.check(opts.style_size, crop=opts.crop, max_pixels=opts.max_pixels, enlarge=False)
    return plan


def load_style(path: str | Path | InputFile, opts: StylizeOptions, content: Tensor | None = None) -> Style:
    """A painting → ``(3, H, W)`` sized by :func:`style_side` (and cropped with ``opts.crop``);
    a style file (or a bundled style's name) → its :class:`StyleFile`. ``path`` may be its plan (:func:`plan_style`).

    With ``style_size`` a larger painting is shrunk and a smaller one kept; ``style_scale`` also enlarges.

    Raises:
        InputError: also for a flat image (one colour): it has no texture to transfer.
    """
    plan = path if isinstance(path, InputFile) else plan_style(path, opts)
    if plan.style is not None:
        return plan.style
    side, enlarge = style_side(opts, content), opts.style_scale > 0
    plan.check(side, crop=opts.crop, max_pixels=opts.max_pixels, enlarge=enlarge)
    image = prepare(plan.decode(opts.stored_limit), side, opts.crop, enlarge=enlarge)
    if bool((image.flatten(1).amax(1) == image.flatten(1).amin(1)).all()):
        raise InputError(f"{plan.path}: a flat image (one colour): it has no texture to transfer")
    return image


def scale_styles(styles: list, content: Tensor, opts: StylizeOptions) -> list:
    """With ``style_scale``: paintings loaded as read (``(3, H', W')`` each) resized for this content;
    statistics (style files) are kept."""
    if not opts.style_scale:
        return styles
    return [resize_shorter(s, style_side(opts, content)) if isinstance(s, Tensor) else s for s in styles]


def encode_styles(paths: list[str | Path], opts: StylizeOptions, stylizer: Stylizer) -> list[StyleFile]:
    """Paintings (or style files, checked against the encoder) → style files' contents, for ``adain save-style``."""
    plans = [plan_style(p, opts) for p in paths]
    styles = [load_style(plan, opts) for plan in plans]
    out = []
    for plan, style in zip(plans, styles):
        if isinstance(style, StyleFile):
            style.for_encoder(stylizer.encoder_identity)
            out.append(style)
        else:
            out.append(compute_style(stylizer, style, plan.entry(), opts.style_size))
    return out


def check_style_files(styles: list[Style], opts: StylizeOptions) -> None:
    """Refuse style files (naming the first) where the paintings are needed: colour preservation recolours
    them, and another method than adain needs more than their means and stds (:meth:`StyleFile.for_method`)."""
    files = [s for s in styles if isinstance(s, StyleFile)]
    if opts.preserve_color is not None and files:
        raise InputError(f"{files[0].label}: --preserve-color recolours the painting, a style file holds only its statistics: use the painting")
    for style in files:
        style.for_method(opts.method)


def network_styles(styles: list[Style], stylizer: Stylizer) -> list:
    """Styles as :meth:`Stylizer.stylize` takes them: paintings as they are, style files' statistics
    (checked against the stylizer's encoder)."""
    return [s.for_encoder(stylizer.encoder_identity) if isinstance(s, StyleFile) else s for s in styles]


def load_content(path: str | Path | InputFile, opts: StylizeOptions, tile: int | str = 0) -> tuple[Tensor, PhotoInfo]:
    """Content file (or its plan, :func:`plan_content`) → ``(3, H, W)`` resized to ``opts.content_size`` (and cropped
    with ``opts.crop``), its sizes checked first, and what was found in the file (for the output's metadata)."""
    plan = path if isinstance(path, InputFile) else plan_content(path, opts, tile)
    image, info = plan.decode_photo(opts.stored_limit)
    return prepare(image, opts.content_size, opts.crop), info


def output_meta(
    stylizer: Stylizer | LiteStylizer,
    opts: StylizeOptions,
    *,
    content: dict,
    info: PhotoInfo,
    styles: list[dict],
    size: tuple[int, int],
) -> OutputMeta:
    """The metadata of one output: the photo's EXIF (per ``opts``), colour, and the record of how it was made.

    Args:
        content: the content file's :meth:`InputFile.entry`; ``info``: what reading it found.
        styles: :meth:`InputFile.entry` of each style.
        size: ``(H, W)`` of the output.
    """
    return picture_meta(opts, networks=stylizer.model_entry, method=opts.method, content=content, info=info, styles=styles, size=size,
                        extra={"refine": opts.refine} if opts.refine else None)


@dataclass
class PairJob:
    """One content and its styles, loaded, checked and prepared (see :func:`load_pair`).

    ``content`` ``(3, H, W)``; ``styles`` K paintings ``(3, H', W')`` or style
    files; ``controls`` with weights summing to 1 or masks ``(K, H, W)`` the
    prepared content's size; ``info``: what reading the content file found;
    ``sources``: the content file and each style's record entry.
    """

    content: Tensor
    styles: list[Style]
    controls: Controls = field(default_factory=Controls)
    info: PhotoInfo | None = None
    sources: tuple[dict, list[dict]] | None = None
    refine: int = 0

    def run(self, stylizer: Stylizer, on_step: Callable[[float], None] | None = None) -> Tensor:
        """Stylize (and refine, calling ``on_step`` after each step): ``(3, H, W)`` in [0, 1], the prepared content's size."""
        return stylizer.stylize(self.content, network_styles(self.styles, stylizer), self.controls, refine=self.refine, on_step=on_step)

    def meta(self, stylizer: Stylizer, opts: StylizeOptions) -> OutputMeta:
        """The output's metadata (see :func:`output_meta`)."""
        content, styles = self.sources
        return output_meta(stylizer, opts, content=content, info=self.info, styles=styles, size=(self.content.shape[-2], self.content.shape[-1]))


def load_pair(
    content: str | Path,
    styles: list[str | Path],
    opts: StylizeOptions,
    *,
    weights: list[float] | None = None,
    masks: list[str | Path] | None = None,
    index_map: str | Path | None = None,
    tile: int | str = 0,
) -> PairJob:
    """Read and check every input of a one-content run before any model is loaded.

    Masks (one per style, or one fewer) or an index map (pixel value k picks style k) follow
    :mod:`adain.apps.masks`: the content's aspect ratio, resized and cropped with it.
    Every size is checked from the files' headers before anything is decoded;
    ``tile`` (see :func:`~adain.tiling.resolve_tile`) is how the content will be
    stylized, for the memory check.

    Raises:
        InputError: a bad file (the message names it).
        ValueError: counts that do not match, bad weights, masks with weights.
    """
    content, styles = Path(content), [Path(s) for s in styles]
    k = len(styles)
    if k == 0:
        raise UsageError("at least one style image is needed")
    check_mask_count(len(masks or ()), k, index_map is not None)
    check_weights_or_masks(weights, masks if masks is not None else index_map)
    w = None if weights is None else tuple(normalise_weights(weights, k).tolist())  # bad weights fail before any file is read
    if opts.refine and tile not in (0, "0"):
        raise UsageError("--refine does not work with --tile (it optimises the whole image at once); use --tile 0 or a smaller --content-size")
    plan = plan_content(content, opts, tile)
    style_plans = [plan_style(s, opts) for s in styles]
    size = resized_shape(plan.size[1], plan.size[0], opts.content_size)
    read = read_masks(masks, index_map, k, size, crop=opts.crop, max_pixels=opts.stored_limit, names=[str(s) for s in styles])
    raw, info = plan.decode_photo(opts.stored_limit)
    image = prepare(raw, opts.content_size, opts.crop)
    region = None if read is None else torch.from_numpy(read)
    loaded_styles = [load_style(p, opts, image) for p in style_plans]
    check_style_files(loaded_styles, opts)
    weight_of = [None] * k if masks is not None or index_map is not None else normalise_weights(weights, k).tolist()
    entries = [p.entry(wk) for p, wk in zip(style_plans, weight_of)]
    return PairJob(image, loaded_styles, opts.controls(weights=w, masks=region), info, (plan.entry(), entries), opts.refine)


@dataclass
class FolderReport:
    """What a folder run did: files ``written`` and one message per ``skipped`` input."""

    written: list[Path]
    skipped: list[str]


def output_name(content: Path, style: Path) -> str:
    """File name of the result of ``content`` × ``style``: ``<content>_<style>.jpg``."""
    return f"{content.stem}_{style.stem}.jpg"


def stylize_folders(
    contents: list[Path],
    styles: list[Path],
    out_dir: str | Path,
    opts: StylizeOptions,
    stylizer: Stylizer | Callable[[], Stylizer],
    *,
    grid: str | Path | None = None,
    grid_height: int = 160,
    progress: bool | None = None,
    warn: Callable[[str], None] = print,
    compile: bool | None = None,
    log: Callable[[str], None] = print,
) -> FolderReport:
    """Stylize every content × style combination into ``out_dir/<content>_<style>.jpg``.

    A bad input file is skipped with a ``warn`` message (naming it) and the run goes on; the report lists the skips.
    Styles are encoded once (without ``preserve_color`` or ``style_scale``, which adapt them to each content) and each content once.

    Args:
        stylizer: a :class:`Stylizer`, or a function making one, called only
            once the inputs are checked (so bad input fails fast).
        grid: also write a picture grid here: a header row of the styles, a
            first column of the contents, the results in the cells.
        grid_height: height of a grid row in pixels.
        progress: tqdm progress bar (``None``: only on a terminal).
        compile: ``torch.compile`` the networks for the contents' shapes (a few at most): ``True`` each at
            its first content, ``False`` never, ``None`` where the contents left of a shape repay it
            (:class:`adain.apps.compiling.CompileRule`; a torch Stylizer only).
        log: gets one line when compiling starts, and a warning if compiling fails (the images then run eagerly).

    Raises:
        InputError: no inputs, an output file name that two inputs share, a bad
            output path, or no usable style at all.
    """
    out_dir = Path(out_dir)
    check_outputs(contents, styles, out_dir, grid)
    skipped: list[str] = []

    def skip(exc: InputError) -> None:
        skipped.append(str(exc))
        warn(f"{exc} (skipped)")

    good = usable_styles(styles, opts, skip)
    stylizer = stylizer if isinstance(stylizer, Stylizer) else stylizer()
    net_styles = network_styles([style for _, style, _ in good], stylizer)
    per_content = opts.preserve_color is not None or opts.style_scale > 0 or opts.refine > 0
    reusable = net_styles if per_content else stylizer.style_stats(net_styles, opts.method)
    rule = CompileRule(stylizer, compile, len(contents), log=log)

    def thumb(image: Style) -> Image.Image | None:
        return fit_height(tensor_to_pil(image), grid_height) if grid is not None and isinstance(image, Tensor) else None

    written: list[Path] = []
    rows: list[list[Image.Image | None]] = [[None, *(thumb(style) for _, style, _ in good)]]
    with tqdm(total=len(contents) * len(good), unit="image", disable=None if progress is None else not progress) as bar:
        for c in contents:
            try:
                plan = plan_content(c, opts)
                content, info = load_content(plan, opts)
            except InputError as exc:
                skip(exc)
                bar.update(len(good))
                continue
            row = [thumb(content)]
            styles_here = scale_styles(reusable, content, opts) if per_content else reusable
            with rule.timed((1, *content.shape)):  # type: ignore[arg-type]
                outs = refined_each(stylizer, content, styles_here, opts, bar) if opts.refine else stylizer.stylize_each(content, styles_here, opts.controls())
                for (s, _, entry), out in zip(good, outs, strict=True):
                    path = out_dir / output_name(c, s)
                    meta = output_meta(stylizer, opts, content=plan.entry(), info=info, styles=[entry], size=(out.shape[-2], out.shape[-1]))
                    save_image(out, path, opts.quality, meta)
                    written.append(path)
                    row.append(thumb(out))
                    bar.update(1)
            rows.append(row)
    if grid is not None and len(rows) > 1:
        save_image(make_grid(rows, grid_height), grid, opts.quality)
    return FolderReport(written, skipped)


def check_outputs(contents: list[Path], styles: list[Path], out_dir: Path, grid: str | Path | None) -> None:
    """Refuse a folder run before any work: no inputs, an ``out_dir`` that is no folder, an output file name that two
    inputs share, an output (or the ``grid``) that would overwrite an input, a grid of an unknown format."""
    if not contents or not styles:
        raise InputError(f"nothing to do: {len(contents)} content and {len(styles)} style images")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder (the output of a folder run is a folder)")
    seen: dict[str, tuple[Path, Path]] = {}
    for c in contents:
        for s in styles:
            name = output_name(c, s)
            if name in seen:
                first = f"{seen[name][0].name} × {seen[name][1].name}"
                raise InputError(f"{out_dir / name}: both {first} and {c.name} × {s.name} would be written here; rename one")
            seen[name] = (c, s)
    inputs = {f"'{p.name}'": p for p in [*contents, *styles]}
    for name in seen:
        check_not_an_input(out_dir / name, inputs)
    if grid is not None:
        image_format(grid)
        check_not_an_input(grid, inputs)


def usable_styles(styles: list[Path], opts: StylizeOptions, skip: Callable[[InputError], None]) -> list[tuple[Path, Style, dict]]:
    """Each style that loads (:func:`load_style`), with its record entry; a bad one goes to ``skip``.

    Raises:
        InputError: no usable style at all.
    """
    good = []
    for s in styles:
        try:
            plan = plan_style(s, opts)
            good.append((s, load_style(plan, opts), plan.entry()))
        except InputError as exc:
            skip(exc)
    if not good:
        raise InputError("no usable style image (see the warnings above)")
    check_style_files([style for _, style, _ in good], opts)
    return good


def refined_each(stylizer: Stylizer, content: Tensor, styles: list, opts: StylizeOptions, bar: tqdm) -> Iterator[Tensor]:
    """The content ``(3, H, W)`` stylized with each style and refined (``opts.refine`` steps), the steps shown on ``bar``."""
    for k, style in enumerate(styles):
        steps = itertools.count(1)

        def show(loss: float, k: int = k, steps: Iterator[int] = steps) -> None:
            bar.set_postfix_str(f"style {k + 1}/{len(styles)}: refine step {next(steps)}/{opts.refine}", refresh=True)

        yield stylizer.stylize(content, [style], opts.controls(), refine=opts.refine, on_step=show)


def stylize_pair(job: PairJob, stylizer: Stylizer, tile: int | str = 0, on_step: Callable[[float], None] | None = None) -> Tensor:
    """Run a loaded ``adain stylize`` job, in tiles when ``tile`` (see :func:`resolve_tile`) asks for it.

    ``on_step``: called after each refinement step (``job.refine``) with the objective.

    Raises:
        UsageError: tiling asked for together with masks (spatial control is untiled only), another method than adain, or refinement.
    """
    side = resolve_tile(tile, *job.content.shape[-2:])
    if not side:
        return job.run(stylizer, on_step)
    if job.refine:
        raise UsageError("--refine does not work with --tile (it optimises the whole image at once); use --tile 0 or a smaller --content-size")
    if job.controls.masks is not None:
        raise UsageError("--tile does not work with --mask or --index-map; use --tile 0")
    if job.controls.method not in (None, "adain"):
        method = job.controls.method
        raise UsageError(f"--tile works with --method adain only ({method} needs the statistics of the whole image at once); use --tile 0")
    return stylize_tiled(stylizer, job.content, network_styles(job.styles, stylizer), job.controls, tile=side,
                         progress=lambda total: tqdm(total=total, unit="tile", leave=False))  # a bar over the tiles, gone when done
