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
from pathlib import Path

import torch

from adain.controls import Controls
from adain.device import dist_env
from adain.errors import InputError, UsageError
from adain.geometry import prepare
from adain.io import find_images, load_image, save_image, write_text_atomic
from adain.ops import StyleStats
from adain.stylizer import Stylizer

SETTINGS_FILE = ".adain-dataset.json"
FORMATS = ("jpg", "png", "webp")
MANIFEST_FIELDS = ("content", "copy", "style", "output", "status")


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
    """

    copies: int = 1
    alpha: float = 1.0
    size: int = 0
    crop: bool = False
    style_size: int = 512
    format: str | None = None
    quality: int = 90
    seed: int = 0

    def __post_init__(self) -> None:
        self.controls()  # checks alpha
        if self.copies < 1:
            raise UsageError(f"copies must be at least 1, got {self.copies}")
        for name, size in (("size", self.size), ("style size", self.style_size)):
            if size != 0 and size < 16:
                raise UsageError(f"{name} must be 0 (keep) or at least 16, got {size}")
        if self.format is not None and self.format not in FORMATS:
            raise UsageError(f"format must be one of {FORMATS} (or None to keep the suffix), got {self.format!r}")
        if not 1 <= self.quality <= 100:
            raise UsageError(f"quality must be in 1..100, got {self.quality}")

    def controls(self) -> Controls:
        """The style controls of every image: ``alpha`` (one style each, the colours of the style)."""
        return Controls(alpha=self.alpha)


@dataclass
class DatasetReport:
    """What one process did: outputs ``written`` now, ``existing`` ones skipped, ``failed`` inputs with the reason."""

    written: int = 0
    existing: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
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


def check_settings(out: Path, settings: dict) -> None:
    """Record the settings in ``out``, or refuse if an earlier run there used others."""
    path = out / SETTINGS_FILE
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise InputError(f"{path}: unreadable settings of an earlier run; delete it to start over") from None
        if old != settings:
            diff = ", ".join(f"{k}: {old.get(k)!r} → {v!r}" for k, v in settings.items() if old.get(k) != v)
            raise InputError(f"{out}: was made with other settings ({diff}); use another output folder")
        return
    write_text_atomic(path, json.dumps(settings, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------- the run


class StyleBank:
    """Style files, checked once, encoded on first use and kept (``(1, 512, 1, 1)`` statistics each)."""

    def __init__(self, files: list[Path], stylizer: Stylizer, style_size: int, warn: Callable[[str], None]) -> None:
        self.files, self.stylizer, self.style_size = [], stylizer, style_size
        self.failed: list[tuple[str, str]] = []
        for f in files:  # decode every file up front so the pool, and so the draw, is the same in every process
            try:
                load_image(f)
                self.files.append(f)
            except InputError as exc:
                self.failed.append((str(f), str(exc)))
                warn(f"{exc} (style skipped)")
        if not self.files:
            raise InputError("no readable style image")
        self.cache: dict[int, StyleStats] = {}

    def stats(self, indices: list[int]) -> StyleStats:
        """Encoded styles for ``indices`` → :class:`StyleStats` ``(K, 512, 1, 1)``."""
        for i in indices:
            if i not in self.cache:
                image = prepare(load_image(self.files[i]), self.style_size, enlarge=False)
                self.cache[i] = self.stylizer.style_stats([image])
        return StyleStats.cat([self.cache[i] for i in indices])


def remove_stale_temps(out: Path, targets: set[Path]) -> int:
    """Delete temp files that a killed run left for ``targets`` (paths relative to ``out``); returns how many.

    :func:`adain.io.save_image` writes ``.<name>.<8 random chars>.tmp`` next to ``<name>``.
    """
    removed = 0
    for tmp in out.rglob(".*.tmp"):
        name = tmp.name[1 : -len(".12345678.tmp")]
        if (tmp.parent / name).relative_to(out) in targets:
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
    contents = find_images(src)
    style_files = find_images(styles)
    rels = [c.relative_to(src) for c in contents]
    outputs = [[output_relpath(r, k, opts.copies, opts.format) for k in range(opts.copies)] for r in rels]
    seen: dict[Path, Path] = {}
    for r, outs in zip(rels, outputs):
        for o in outs:
            if o in seen:
                raise InputError(f"{out / o}: both {src / seen[o]} and {src / r} would be written here; rename one or use --format")
            seen[o] = r
    out.mkdir(parents=True, exist_ok=True)
    check_settings(out, {**asdict(opts), "styles": [str(s.relative_to(styles)) for s in style_files]})
    stylizer = stylizer or Stylizer()
    bank = StyleBank(style_files, stylizer, opts.style_size, warn)
    report = DatasetReport(failed=list(bank.failed))
    rows: list[dict] = []
    started = time.perf_counter()
    mine = list(range(i, len(contents), n))
    remove_stale_temps(out, {o for j in mine for o in outputs[j]})
    for j in tqdm(mine, unit="image", desc=f"shard {i}/{n}" if n > 1 else None, disable=None if progress is None else not progress):
        picks = draw_styles(rels[j].as_posix(), opts.copies, len(bank.files), opts.seed)
        todo = [k for k in range(opts.copies) if not (out / outputs[j][k]).exists()]
        report.existing += opts.copies - len(todo)
        status = {k: "done" for k in range(opts.copies)}
        if todo:
            try:
                content = prepare(load_image(contents[j]), opts.size, opts.crop)
                stats = bank.stats([picks[k] for k in todo])
            except InputError as exc:
                report.failed.append((str(contents[j]), str(exc)))
                warn(f"{exc} (skipped)")
                status.update({k: f"error: {exc}" for k in todo})
            else:
                for k, image in zip(todo, stylizer.stylize_each(content, stats, opts.controls())):
                    save_image(image, out / outputs[j][k], opts.quality)
                    report.written += 1
        for k in range(opts.copies):
            rows.append({
                "content": rels[j].as_posix(), "copy": k, "style": bank.files[picks[k]].relative_to(styles).as_posix(),
                "output": outputs[j][k].as_posix(), "status": status[k],
            })
    report.seconds = time.perf_counter() - started
    report.manifest = out / ("manifest.csv" if n == 1 else f"manifest-{i}-of-{n}.csv")
    write_text_atomic(report.manifest, _manifest_text(rows))
    return report
