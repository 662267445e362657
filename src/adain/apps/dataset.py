"""Stylize a whole data set (Stylized-ImageNet, Geirhos et al., ICLR 2019).

Every image below ``SRC`` is stylized with styles drawn at random from
``STYLES`` and written to the same relative path below ``OUT`` (with N copies:
``name_0.jpg`` … ``name_{N-1}.jpg``). The draw depends only on the seed and
the image's relative path, so results do not depend on sharding, order or
interruptions. A manifest (CSV) records content → style for every output.

* Resumable: outputs are written atomically (temp file + rename) and a rerun
  skips those that exist; ``OUT/.adain-dataset.json`` holds the settings, and
  a rerun with other settings is refused rather than mixing results.
* Scales out: ``shard=(i, n)`` takes every n-th image from the i-th; under
  ``torchrun`` the rank and world size come from the environment.
* Unreadable images are listed in the manifest and the report, not fatal.
* Auditable: the manifest has each output's content and style loss (as
  ``adain eval`` measures them, from the content features and style statistics the
  stylization computed, and one encoder pass per output; skip it with
  ``losses=False``) and flags outliers: near-uniform outputs, and losses far
  above the run's median.
* Styles may be paintings or style files (``.safetensors``); outputs carry the
  photo's EXIF (no GPS), are tagged sRGB and record how they were made.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor

from adain.apps.compiling import CompileRule
from adain.apps.files import StylizeOptions, load_content, output_meta, plan_content
from adain.apps.plan import InputFile
from adain.controls import Controls
from adain.device import dist_env
from adain.errors import InputError, UsageError
from adain.geometry import prepare
from adain.io.atomic import is_stale, make_folder, temp_target
from adain.io.images import find_images, save_image, write_text_atomic
from adain.io.stylefile import SUFFIX, StyleFile, compute_style, encode_taps, has_every_tap, is_style_file
from adain.limits import MIN_SIDE
from adain.lite.runtime import LiteStyle
from adain.lite.stylizer import LiteStylizer
from adain.losses import content_loss, style_distance_stats
from adain.names import Method
from adain.ops import StyleStats
from adain.stylizer import Stylizer

SETTINGS_FILE = ".adain-dataset.json"
FORMATS = ("jpg", "png", "webp")
AUDIT_FIELDS = ("content_loss", "style_loss", "flags")
MANIFEST_FIELDS = ("content", "copy", "style", "output", "status", *AUDIT_FIELDS)
UNIFORM_STD = 0.02  # an output whose pixels vary less than this (≈ 5/255) is flagged "uniform"
OUTLIER_MADS = 6.0  # a loss this many (scaled) median absolute deviations above the median is flagged
MIN_FOR_OUTLIERS = 20  # outputs needed before losses are compared with the run's


@dataclass(frozen=True)
class DatasetOptions:
    """Settings of a data-set run (those that change the outputs are checked on resume).

    Attributes:
        copies: stylized copies per image, each with a different style where possible.
        alpha: content–style trade-off in [0, 1].
        size: shorter side of the outputs (0 keeps each image's size).
        crop: centre square crop after resizing.
        style_size: larger styles are shrunk to this shorter side before encoding (0 keeps; smaller ones are kept).
        format: ``jpg``, ``png``, ``webp`` or ``None`` (keep each file's suffix).
        quality: JPEG/WebP quality.
        seed: seed of the style draw.
        keep_profile, strip_metadata, keep_gps: the outputs' colour and
            metadata, as in :class:`adain.apps.files.StylizeOptions`.
        losses: measure each output's content and style loss for the manifest
            (does not change the outputs).
        method: transfer method, ``adain``, ``wct`` or ``efdm`` (:mod:`adain.methods`).
        refine: optimisation steps after the decoder for every output (:mod:`adain.refine`); the styles must be paintings.
    """

    copies: int = 1
    alpha: float = 1.0
    size: int = 0
    crop: bool = False
    style_size: int = 512
    format: str | None = None
    quality: int = 90
    seed: int = 0
    keep_profile: bool = False
    strip_metadata: bool = False
    keep_gps: bool = False
    losses: bool = True
    method: Method = "adain"
    refine: int = 0

    def __post_init__(self) -> None:
        for name, size in (("size", self.size), ("style size", self.style_size)):  # named as the command line names them
            if size != 0 and size < MIN_SIDE:
                raise UsageError(f"{name} must be 0 (keep) or at least {MIN_SIDE}, got {size}")
        self.as_stylize  # noqa: B018 - alpha, method, quality and refine are checked as StylizeOptions checks them
        if self.copies < 1:
            raise UsageError(f"copies must be at least 1, got {self.copies}")
        if self.format is not None and self.format not in FORMATS:
            raise UsageError(f"format must be one of {FORMATS} (or None to keep the suffix), got {self.format!r}")

    def controls(self) -> Controls:
        """The style controls of every image: ``alpha`` and ``method`` (one style each, the colours of the style)."""
        return self.as_stylize.controls()

    def settings(self) -> dict:
        """The settings that change the outputs (checked on resume)."""
        return {k: v for k, v in asdict(self).items() if k != "losses" and not (k == "refine" and v == 0)}  # runs made before refine resume

    @cached_property
    def as_stylize(self) -> StylizeOptions:
        """The same settings as :class:`StylizeOptions` (their checks; how a content is read; the outputs' metadata)."""
        return StylizeOptions(alpha=self.alpha, content_size=self.size, style_size=self.style_size, crop=self.crop,
                              quality=self.quality, keep_profile=self.keep_profile, strip_metadata=self.strip_metadata,
                              keep_gps=self.keep_gps, method=self.method, refine=self.refine)


@dataclass
class DatasetReport:
    """What one process did: outputs ``written`` now, ``existing`` ones skipped, ``flagged`` outliers in the
    manifest, ``failed`` inputs with the reason (styles first, ``failed_styles`` of them), out of ``contents``
    content images (its share) and ``styles``."""

    written: int = 0
    existing: int = 0
    flagged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    failed_styles: int = 0
    contents: int = 0
    styles: int = 0
    seconds: float = 0.0
    manifest: Path | None = None

    @property
    def images_per_s(self) -> float:
        return self.written / max(self.seconds, 1e-9)


# ---------------------------------------------------------------- pure helpers


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (0 ≤ I < N) → ``(I, N)``."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise UsageError(f"shard I/N needs 0 ≤ I < N, got {text!r}")
    return i, n


def draw_styles(key: str, copies: int, n_styles: int, seed: int) -> list[int]:
    """Style indices for the copies of one image, a function of ``(seed, key)`` only.

    Distinct styles while ``copies ≤ n_styles``, drawn with replacement beyond.
    """
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    gen = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))
    if copies <= n_styles:
        return torch.randperm(n_styles, generator=gen)[:copies].tolist()
    return torch.randint(0, n_styles, (copies,), generator=gen).tolist()


def output_relpath(rel: Path, copy: int, copies: int, fmt: str | None) -> Path:
    """Relative output path: the input's, ``_<copy>`` added with several copies, suffix from ``fmt``."""
    suffix = f".{fmt}" if fmt else rel.suffix
    stem = f"{rel.stem}_{copy}" if copies > 1 else rel.stem
    return rel.with_name(stem + suffix)


@torch.no_grad()
def audit(stylizer: Stylizer, content_features: Tensor, outputs: Tensor, styles: list[StyleFile]) -> list[dict]:
    """Content and style loss of each output, as ``adain eval`` measures them, and its flags.

    The content's features and the styles' statistics are those the stylization used;
    only the outputs go through the encoder (once, all taps).

    Args:
        content_features: the content's relu4_1 features ``(1, 512, h, w)`` as the stylization
            computed them (:meth:`Stylizer.content_features`, padded to a multiple of 8: cropped
            here to the outputs' unpadded grid).
        outputs: ``(K, 3, H, W)``, one per style in ``styles``.

    Returns:
        K dicts ``{"content_loss", "style_loss", "flags"}``: content loss = mse of
        relu4_1 features of output and content; style loss = Σ over relu1_1 …
        relu4_1 of ‖Δμ‖₂ + ‖Δσ‖₂; flag ``uniform`` for a near-uniform output.
    """
    taps = encode_taps(stylizer, outputs)
    h, w = taps[-1].shape[-2:]
    c = content_features[..., :h, :w].to(taps[-1])
    rows = []
    for k, style in enumerate(styles):
        out_taps = [t[k : k + 1] for t in taps]
        uniform = float(outputs[k].flatten(1).std(dim=1).mean()) < UNIFORM_STD
        rows.append({
            "content_loss": round(float(content_loss(out_taps[-1], c)), 6),
            "style_loss": round(float(style_distance_stats(out_taps, style.taps())[0]), 6),
            "flags": "uniform" if uniform else "",
        })
    return rows


def flag_outliers(rows: list[dict]) -> None:
    """Add ``high content loss`` / ``high style loss`` to the flags of rows whose loss is far above the median.

    Far: more than :data:`OUTLIER_MADS` scaled median absolute deviations (a
    robust standard deviation), among at least :data:`MIN_FOR_OUTLIERS` rows with losses.
    """
    for r in rows:  # flags of an earlier run's comparison are made again
        r["flags"] = ";".join(f for f in (r.get("flags") or "").split(";") if f and not f.startswith("high "))
    for key in ("content_loss", "style_loss"):
        values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
        if len(values) < MIN_FOR_OUTLIERS:
            continue
        v = torch.tensor(values)
        median = float(v.median())
        mad = float((v - median).abs().median()) * 1.4826
        for r in rows:
            if r.get(key) not in (None, "") and float(r[key]) > median + OUTLIER_MADS * max(mad, 1e-12):
                flag = f"high {key.replace('_', ' ')}"
                r["flags"] = ";".join(f for f in (*r["flags"].split(";"), flag) if f)


def read_manifest(path: Path) -> dict[str, dict]:
    """An earlier run's manifest rows by output path (empty if there is none or it is unreadable)."""
    try:
        with open(path, newline="") as f:
            return {row["output"]: row for row in csv.DictReader(f) if "output" in row}
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}


def check_settings(out: Path, settings: dict) -> None:
    """Record the settings in ``out``, or refuse if an earlier run there used others."""
    path = out / SETTINGS_FILE
    if path.is_file():
        try:
            old = {"method": "adain", **json.loads(path.read_text())}  # runs from before the methods used adain
        except (OSError, json.JSONDecodeError, TypeError):
            raise InputError(f"{path}: unreadable settings of an earlier run; delete it to start over") from None
        if old != settings:
            diff = ", ".join(f"{k}: {old.get(k)!r} → {v!r}" for k, v in settings.items() if old.get(k) != v)
            raise InputError(f"{out}: was made with other settings ({diff}); use another output folder")
        return
    write_text_atomic(path, json.dumps(settings, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------- the run


class StyleBank:
    """Styles (paintings or style files), checked once, encoded on first use and kept: as :class:`StyleFile`
    (every tap) for ``adain`` with ``losses`` (the style loss needs them) or from a style file, else as the
    method's :class:`StyleStats` (which need the paintings for the other methods)."""

    def __init__(self, files: list[Path], stylizer: Stylizer, style_size: int, warn: Callable[[str], None], method: str = "adain",
                 losses: bool = True) -> None:
        self.plans: list[InputFile] = []
        self.stylizer, self.style_size, self.method, self.losses = stylizer, style_size, method, losses
        self.failed: list[tuple[str, str]] = []
        for f in files:  # read every file up front so the pool, and so the draw, is the same in every process
            try:
                plan = InputFile.read(f, styles=True)
                if plan.style is not None:
                    plan.style.for_encoder(stylizer.encoder_identity)
                else:
                    plan.check(style_size, enlarge=False)
                    plan.decode()
                self.plans.append(plan)
            except InputError as exc:
                self.failed.append((str(f), str(exc)))
                warn(f"{exc} (style skipped)")
        if not self.plans:
            raise InputError("no readable style image")
        self.files = [plan.path for plan in self.plans]
        self.cache: dict[int, StyleFile] = {}
        self.method_cache: dict[int, StyleStats] = {}

    def style(self, i: int) -> StyleFile:
        """Style ``i``: its statistics at every tap."""
        if i not in self.cache:
            plan = self.plans[i]
            self.cache[i] = plan.style or compute_style(self.stylizer, self.painting(i), plan.entry(), self.style_size)
        return self.cache[i]

    def painting(self, i: int) -> Tensor:
        """Style ``i``'s painting ``(3, H, W)``, shrunk to the style size (what a refinement needs).

        Raises:
            UsageError: style ``i`` is a style file (statistics only).
        """
        plan = self.plans[i]
        if plan.style is not None:
            raise UsageError(f"{plan.path}: a style file holds statistics only; --refine needs paintings")
        return prepare(plan.decode(), self.style_size, enlarge=False)

    def stats(self, indices: list[int]) -> StyleStats | list[LiteStyle]:
        """Encoded styles for ``indices`` → :class:`StyleStats` (K styles, for the run's method; the lite model's: a list)."""
        if isinstance(self.stylizer, LiteStylizer):
            return [style for i in indices for style in self.method_stats(i)]
        return StyleStats.cat([
            self.style(i).stats() if self.method == "adain" and (self.losses or self.plans[i].style is not None) else self.method_stats(i)
            for i in indices
        ])

    def method_stats(self, i: int) -> StyleStats:
        """Style ``i`` encoded by the stylizer for the run's method (paintings only: a style file holds adain statistics)."""
        if i not in self.method_cache:
            plan = self.plans[i]
            if plan.style is not None:
                raise InputError(f"{plan.path}: a style file holds adain statistics; --method {self.method} needs the painting")
            try:
                self.method_cache[i] = self.stylizer.style_stats([self.painting(i)], self.method)
            except UsageError as exc:  # a flat style image
                raise InputError(f"{plan.path}: {exc}") from None
        return self.method_cache[i]


def remove_stale_temps(out: Path, targets: set[Path]) -> int:
    """Delete temp files that killed runs left for ``targets`` (paths relative to ``out``); returns how many.

    One walk of ``out`` (not one search per target), for data sets of a million images.
    """
    removed = 0
    for tmp in out.rglob(".*.tmp*"):
        found = temp_target(tmp)
        if found is not None and found[0].relative_to(out) in targets and is_stale(tmp):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def _manifest_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def stylize_dataset(
    src: str | Path,
    styles: str | Path,
    out: str | Path,
    opts: DatasetOptions = DatasetOptions(),
    *,
    stylizer: Stylizer | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool | None = None,
    warn: Callable[[str], None] = lambda msg: print(f"adain stylize-dataset: warning: {msg}", file=sys.stderr),
    compile: bool | None = None,
    log: Callable[[str], None] = lambda msg: print(f"adain stylize-dataset: {msg}", file=sys.stderr),
) -> DatasetReport:
    """Stylize this process's share of every image below ``src`` into ``out``.

    Args:
        src: folder of content images (searched recursively).
        styles: folder of style images (searched recursively).
        out: output folder; the tree below ``src`` is recreated there.
        opts: see :class:`DatasetOptions`.
        stylizer: the networks (default: shipped decoder, pretrained encoder).
        shard: ``(i, n)``: this process takes images ``i, i + n, …`` of the
            sorted list (default: from ``torchrun``'s RANK / WORLD_SIZE).
        progress: tqdm progress bar (``None``: only on a terminal).
        warn: called with a message for every unreadable file.
        compile: ``torch.compile`` the networks for the images' shapes (a few at most): ``True`` each at its
            first image, ``False`` never, ``None`` where the images left of a shape repay it
            (:class:`adain.apps.compiling.CompileRule`; a torch Stylizer only).
        log: gets one line when compiling starts, and a warning if compiling fails (the images then run eagerly).

    Returns:
        :class:`DatasetReport`; the manifest is ``out/manifest.csv`` (one
        shard) or ``out/manifest-<i>-of-<n>.csv``.

    Raises:
        InputError: a missing folder, no images, no readable style, two inputs
            that map to one output name, ``out`` inside ``src``, or ``out``
            made with other settings.
    """
    from tqdm import tqdm

    src, styles, out = Path(src), Path(styles), Path(out)
    i, n = shard if shard is not None else (dist_env().rank, dist_env().world_size)
    if out.resolve().is_relative_to(src.resolve()):
        raise InputError(f"{out}: the output folder must not be inside the input folder {src}")
    contents, style_files = find_images(src), find_images(styles, also=(SUFFIX,))
    rels = [c.relative_to(src) for c in contents]
    outputs = output_paths(src, out, rels, opts)
    stylizer = stylizer or Stylizer()
    check_stylizer(stylizer, opts, style_files)
    make_folder(out)
    check_settings(out, {**opts.settings(), "styles": [str(s.relative_to(styles)) for s in style_files]})
    bank = StyleBank(style_files, stylizer, opts.style_size, warn, opts.method, opts.losses)
    report = DatasetReport(failed=list(bank.failed), failed_styles=len(bank.failed), styles=len(style_files))
    report.manifest = out / ("manifest.csv" if n == 1 else f"manifest-{i}-of-{n}.csv")
    earlier = read_manifest(report.manifest)  # the losses of outputs an interrupted run wrote
    rows: list[dict] = []
    started = time.perf_counter()
    mine = list(range(i, len(contents), n))
    report.contents = len(mine)
    remove_stale_temps(out, {o for j in mine for o in outputs[j]})
    rule = CompileRule(stylizer, compile, sum(1 for j in mine if not all((out / o).exists() for o in outputs[j])), log=log)
    for j in tqdm(mine, unit="image", desc=f"shard {i}/{n}" if n > 1 else None, disable=None if progress is None else not progress):
        picks = draw_styles(rels[j].as_posix(), opts.copies, len(bank.files), opts.seed)
        names = [o.as_posix() for o in outputs[j]]
        columns = {k: {"status": "done", **{f: earlier.get(name, {}).get(f, "") for f in AUDIT_FIELDS}} for k, name in enumerate(names)}
        todo = {k: (out / outputs[j][k], picks[k]) for k in range(opts.copies) if not (out / outputs[j][k]).exists()}
        report.existing += opts.copies - len(todo)
        for k, found in (stylize_copies(contents[j], todo, bank, opts, rule, report, warn) if todo else {}).items():
            columns[k].update(found)
        rows += [{"content": rels[j].as_posix(), "copy": k, "style": bank.files[picks[k]].relative_to(styles).as_posix(), "output": name,
                  **columns[k]} for k, name in enumerate(names)]
    report.seconds = time.perf_counter() - started
    flag_outliers(rows)
    report.flagged = sum(1 for r in rows if r.get("flags"))
    write_text_atomic(report.manifest, _manifest_text(rows))
    return report


def output_paths(src: Path, out: Path, rels: list[Path], opts: DatasetOptions) -> list[list[Path]]:
    """The outputs of each content (paths relative to ``src``): one per copy, relative to ``out``.

    Raises:
        InputError: two contents that would be written to one output.
    """
    outputs = [[output_relpath(r, k, opts.copies, opts.format) for k in range(opts.copies)] for r in rels]
    seen: dict[Path, Path] = {}
    for r, outs in zip(rels, outputs):
        for o in outs:
            if o in seen:
                raise InputError(f"{out / o}: both {src / seen[o]} and {src / r} would be written here; rename one or use --format")
            seen[o] = r
    return outputs


def check_stylizer(stylizer: Stylizer, opts: DatasetOptions, style_files: list[Path]) -> None:
    """Refuse what the networks cannot do before any work: the losses or a refinement without every tap of the full
    model's encoder (the lite model, an ONNX export), a refinement with style files."""
    if opts.losses and isinstance(stylizer, LiteStylizer):
        raise UsageError("the manifest's losses are measured with the full model's encoder, which the lite model spares: skip them (--no-losses)")
    refiner = stylizer.refiner if isinstance(stylizer, LiteStylizer) else stylizer  # the lite model's outputs are refined by the full model
    if opts.refine and (refiner is None or not has_every_tap(refiner)):
        raise UsageError("--refine needs gradients through the full model's encoder (relu1_1 … relu4_1): use the full model in torch")
    if opts.refine and (files := [f for f in style_files if is_style_file(f)]):
        raise UsageError(f"{files[0]}: a style file holds statistics only; --refine needs paintings")
    if opts.losses and not has_every_tap(stylizer):
        raise UsageError("the manifest's losses need the encoder's relu1_1 … relu4_1 features, an ONNX export gives relu4_1 only: "
                         "skip them (--no-losses) or use the torch backend")


def stylize_copies(path: Path, copies: dict[int, tuple[Path, int]], bank: StyleBank, opts: DatasetOptions, rule: CompileRule,
                   report: DatasetReport, warn: Callable[[str], None]) -> dict[int, dict]:
    """Stylize one content image's ``copies`` (copy → output file and style index) and write them; each copy's manifest
    columns (``status``, the losses and flags). An unreadable image is reported and warned about, its copies marked."""
    stylizer, picks = bank.stylizer, [style for _, style in copies.values()]
    try:
        plan = plan_content(path, opts.as_stylize)
        content, info = load_content(plan, opts.as_stylize)
        stats = bank.stats(picks)
        measured_against = [bank.style(s) for s in picks] if opts.losses else []
    except InputError as exc:
        report.failed.append((str(path), str(exc)))
        warn(f"{exc} (skipped)")
        return {k: {"status": f"error: {exc}"} for k in copies}
    with rule.timed((1, *content.shape)):
        features = stylizer.content_features(content)
        # the bank made the statistics with this stylizer's own style_stats (a list of them for the lite model)
        if opts.refine:
            images = [stylizer.stylize(content, [bank.painting(s)], opts.controls(), refine=opts.refine) for s in picks]
        else:
            images = list(stylizer.stylize_each(content, stats, opts.controls(), features=features))  # type: ignore[arg-type]
    audits = audit(stylizer, features, torch.stack(images), measured_against) if opts.losses else [{}] * len(copies)
    found = {}
    for (k, (target, s)), image, measured in zip(copies.items(), images, audits):
        meta = output_meta(stylizer, opts.as_stylize, content=plan.entry(), info=info, styles=[bank.plans[s].entry()], size=(image.shape[-2], image.shape[-1]))
        save_image(image, target, opts.quality, meta)
        report.written += 1
        found[k] = {"status": "done", **dict.fromkeys(AUDIT_FIELDS, ""), **measured}
    return found
