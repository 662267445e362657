"""Measure a decoder: ``adain eval``.

Stylizes a set of (content, style) pairs at α = 1 and measures each output
with the normalised VGG-19 (``Encoder(last="relu5_1")``):

* content loss: mean squared error of relu4_1 features, output vs content image;
* style loss: the paper's Ls, Σ over relu1_1..relu4_1 of ‖μ(o) − μ(s)‖₂ + ‖σ(o) − σ(s)‖₂
  (:func:`adain.losses.style_distance`);
* Gram loss: Σ over relu1_1..relu5_1 of mse(Gram(o), Gram(s)) (:func:`adain.losses.gram_distance`);
* seconds per image (style encoding, AdaIN and decoding; metrics not included).

Sets (in ``../shared/data/eval``):

* ``release``: the 6 pairs of the original implementation's ``examples/``
  (``X_cropped`` + ``S_cropped``, 512×512) against its ``X_stylized_S.jpg``
  output; every loss is also given as a ratio ours / original.
* ``full``: ``content/`` × ``style/`` at shorter side 512, in the
  :func:`diagonal_order` (``--limit N`` takes its first N pairs), against the
  optimisation baseline cached by ``adain optimize --baseline``.
"""

from __future__ import annotations

import difflib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageOps
from torch import Tensor
from tqdm import tqdm

from adain.decoder import DECODER_PATH, load_decoder, read_metadata, save_decoder
from adain.encoder import TAPS, Encoder
from adain.io import InputError, list_images, load_image, save_image, tensor_to_pil, write_text_atomic
from adain.losses import content_loss, gram_distance, style_distance
from adain.transfer import Stylizer, resize_shorter

SETS = ("release", "full")
METRICS = ("content", "style", "gram")
DEFAULT_DATA = Path("../shared/data/eval")
DEFAULT_BASELINE = Path("docs/eval/optimize_full.json")
FULL_SIZE = 512  # shorter side of content and style images in the full set
GRID_ROWS = 8  # pairs shown in the report's picture grid
STYLIZED = "_stylized_"
CROPPED = "_cropped"
# targets of issue 3
RELEASE_TARGET = 1.0  # content and style loss each ≤ 1.0× the original's (mean over pairs)
FULL_STYLE_TARGET = 1.5  # style loss ≤ 1.5× the baseline's at no more than its content loss


@dataclass(frozen=True)
class Pair:
    """One evaluation pair; ``reference`` is the original implementation's output, if any."""

    name: str
    content: Path
    style: Path
    reference: Path | None = None


@dataclass
class PairResult:
    """Numbers of one pair: ours, the reference's (release set) and ours / reference."""

    name: str
    content_file: str
    style_file: str
    ours: dict[str, float]
    reference: dict[str, float] = field(default_factory=dict)
    ratio: dict[str, float] = field(default_factory=dict)


def shown_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies below it (reports stay portable), else absolute."""
    full, here = Path(path).resolve(), Path.cwd().resolve()
    return str(full.relative_to(here)) if full.is_relative_to(here) else str(full)


# ---------------------------------------------------------------- pairs


def _closest(stem: str, candidates: dict[str, Path], what: str, source: Path) -> Path:
    """The candidate named ``stem``, else the closest name (the release spells ``asheville`` ``ashville``)."""
    if stem in candidates:
        return candidates[stem]
    close = difflib.get_close_matches(stem, list(candidates), n=1, cutoff=0.8)
    if not close:
        raise InputError(f"{source}: no {what} image '{stem}{CROPPED}.*' next to it")
    return candidates[close[0]]


def release_pairs(folder: str | Path) -> list[Pair]:
    """Pairs of the original release in ``folder`` (``eval/examples``), sorted by name.

    Every ``X_stylized_S.*`` output pairs ``X_cropped.*`` (content) with
    ``S_cropped.*`` (style, or the closest such name).

    Raises:
        InputError: not a folder, no ``*_stylized_*`` file, or an input is missing.
    """
    files = list_images(folder)
    cropped = {p.stem[: -len(CROPPED)]: p for p in files if p.stem.endswith(CROPPED)}
    pairs = []
    for ref in files:
        if STYLIZED not in ref.stem:
            continue
        content, style = ref.stem.split(STYLIZED, 1)
        pairs.append(Pair(ref.stem, _closest(content, cropped, "content", ref), _closest(style, cropped, "style", ref), ref))
    if not pairs:
        raise InputError(f"{folder}: no '*{STYLIZED}*' result images of the original release")
    return pairs


def diagonal_order(n_content: int, n_style: int) -> list[tuple[int, int]]:
    """All ``n_content × n_style`` index pairs, ordered so every prefix spreads over contents and styles.

    Pair ``k`` is ``(k mod n_c, (k + ⌊k / L⌋) mod n_s)`` with ``L = lcm(n_c, n_s)``: with 11
    contents and 21 styles (coprime) it is simply ``(k mod 11, k mod 21)``, so the first
    ``N`` pairs use ``min(N, 11)`` contents and ``min(N, 21)`` styles, each at most ⌈N/11⌉ times.
    """
    lcm = math.lcm(n_content, n_style)
    return [(k % n_content, (k + k // lcm) % n_style) for k in range(n_content * n_style)]


def full_pairs(folder: str | Path, limit: int = 0) -> list[Pair]:
    """Pairs of ``folder/content`` × ``folder/style`` in :func:`diagonal_order`; ``limit > 0`` keeps the first ``limit``."""
    if limit < 0:
        raise ValueError(f"--limit must be ≥ 0, got {limit}")
    folder = Path(folder)
    contents, styles = list_images(folder / "content"), list_images(folder / "style")
    for sub, files in (("content", contents), ("style", styles)):
        if not files:
            raise InputError(f"{folder / sub}: no images found")
    order = diagonal_order(len(contents), len(styles))
    pairs = [Pair(f"{contents[i].stem}{STYLIZED}{styles[j].stem}", contents[i], styles[j]) for i, j in order]
    return pairs[:limit] if limit else pairs


def eval_pairs(name: str, data: str | Path, limit: int = 0) -> list[Pair]:
    """The pairs of set ``name`` (``release`` or ``full``) under the eval folder ``data``."""
    if name == "release":
        pairs = release_pairs(Path(data) / "examples")
        return pairs[:limit] if limit else pairs
    if name == "full":
        return full_pairs(data, limit)
    raise ValueError(f"set must be one of {SETS}, got {name!r}")


def load_pair(pair: Pair, size: int) -> tuple[Tensor, Tensor]:
    """Content and style images ``(3, H, W)``, shorter side resized to ``size`` (0 keeps)."""
    return resize_shorter(load_image(pair.content), size), resize_shorter(load_image(pair.style), size)


# ---------------------------------------------------------------- metrics


@torch.no_grad()
def image_metrics(encoder: Encoder, output: Tensor, content: Tensor, style: Tensor) -> dict[str, float]:
    """Content, style and Gram loss of one output.

    Args:
        encoder: ``Encoder(last="relu5_1")``, normalised.
        output, content: ``(1, 3, H, W)`` in [0, 1], the same size.
        style: ``(1, 3, H', W')`` in [0, 1].

    Returns:
        ``{"content": mse at relu4_1, "style": Σ ‖Δμ‖ + ‖Δσ‖ over relu1_1..relu4_1, "gram": Σ mse(ΔGram) over relu1_1..relu5_1}``.
    """
    if encoder.taps[-1] != "relu5_1":
        raise ValueError(f"the metrics need an encoder up to relu5_1, this one stops at {encoder.taps[-1]}")
    if output.shape != content.shape or output.dim() != 4 or output.shape[0] != 1:
        raise ValueError(f"output {tuple(output.shape)} and content {tuple(content.shape)} must be one image of the same size")
    out_f, style_f = encoder(output.float()), encoder(style.float())
    n = len(TAPS)
    return {
        "content": content_loss(out_f[n - 1], encoder.encode(content.float())).item(),
        "style": style_distance(out_f[:n], style_f[:n]).item(),
        "gram": gram_distance(out_f, style_f).item(),
    }


def mean_of(rows: list[dict[str, float]], keys: tuple[str, ...] = METRICS) -> dict[str, float]:
    """Mean of each key over the rows that have it."""
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys if rows and all(k in r for r in rows)}


# ---------------------------------------------------------------- evaluation


def evaluate(
    set_name: str,
    *,
    data: str | Path = DEFAULT_DATA,
    decoder: str | Path | None = None,
    limit: int = 0,
    baseline: str | Path | None = DEFAULT_BASELINE,
    size: int = FULL_SIZE,
    device: str = "auto",
    encoder: Encoder | None = None,
    progress: bool = True,
) -> tuple[dict, list[tuple[Tensor, ...]]]:
    """Stylize every pair of a set at α = 1 and measure it.

    ``size`` is the shorter side of the full set's images (the release set keeps its 512×512).
    ``encoder``: the metrics' encoder up to relu5_1 (default: the normalised VGG-19), also used to stylize.

    Returns:
        ``(results, images)``: ``results`` is the JSON-ready summary (pairs, means, ratios,
        comparison with the reference or baseline, target verdict); ``images`` holds, for the
        first :data:`GRID_ROWS` pairs, ``(content, style, [reference,] output)``, each ``(3, H, W)``.
    """
    pairs = eval_pairs(set_name, data, limit)
    size = size if set_name == "full" else 0
    decoder_path = Path(decoder) if decoder is not None else DECODER_PATH
    meta = read_metadata(decoder_path)
    encoder = encoder if encoder is not None else Encoder(last="relu5_1")
    stylizer = Stylizer(load_decoder(decoder_path), encoder=encoder, device=device, bf16=False)  # fp32: comparable across machines
    dev = stylizer.device
    rows: list[PairResult] = []
    images = []
    for index, pair in enumerate(tqdm(pairs, desc=f"eval {set_name}", disable=not progress, dynamic_ncols=True)):
        content, style = load_pair(pair, size)
        if index == 0:
            stylizer.stylize(content, style)  # warm-up, so the first timing is not an outlier
        _sync(dev)
        start = time.perf_counter()
        output = stylizer.stylize(content, style)
        _sync(dev)
        seconds = time.perf_counter() - start
        c, s = content[None].to(dev), style[None].to(dev)
        ours = {**image_metrics(encoder, output[None].to(dev), c, s), "seconds": seconds}
        row = PairResult(pair.name, pair.content.name, pair.style.name, ours)
        if pair.reference is not None:
            reference = load_image(pair.reference)
            if reference.shape != content.shape:
                raise InputError(f"{pair.reference}: {reference.shape[2]}x{reference.shape[1]} but the content is {content.shape[2]}x{content.shape[1]}")
            row.reference = image_metrics(encoder, reference[None].to(dev), c, s)
            row.ratio = {k: ours[k] / row.reference[k] for k in METRICS}
        if index < GRID_ROWS:
            images.append((content, style, reference, output) if pair.reference is not None else (content, style, output))
        rows.append(row)
    results = {
        "set": set_name,
        "pairs_evaluated": len(rows),
        "limit": limit,
        "size": size,
        "decoder": shown_path(decoder_path),
        "decoder_steps": meta.get("steps"),
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "mean": mean_of([r.ours for r in rows], METRICS + ("seconds",)),
        "pairs": [asdict(r) for r in rows],
    }
    if set_name == "release":
        results["reference_mean"] = mean_of([r.reference for r in rows])
        results["mean_ratio"] = mean_of([r.ratio for r in rows])
        results["target"] = release_verdict(results["mean_ratio"])
    elif baseline is not None:
        results["baseline"] = compare_baseline(rows, baseline, size)
    return results, images


def release_verdict(mean_ratio: dict[str, float]) -> dict:
    """Issue 3's target on the release set: mean content and style ratios each ≤ 1.0."""
    met = mean_ratio["content"] <= RELEASE_TARGET and mean_ratio["style"] <= RELEASE_TARGET
    return {"rule": f"mean content ratio ≤ {RELEASE_TARGET} and mean style ratio ≤ {RELEASE_TARGET}", "met": met}


def read_baseline(path: Path) -> dict:
    """A baseline file of ``adain optimize --baseline``: ``{"config": {...}, "pairs": {name: metrics}, ...}``.

    Raises:
        InputError: not JSON or without ``config`` and ``pairs``.
    """
    try:
        cached = json.loads(path.read_text())
        if not isinstance(cached["config"], dict) or not isinstance(cached["pairs"], dict):
            raise TypeError("config and pairs must be objects")
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a baseline file of adain optimize ({type(exc).__name__}: {exc})") from None
    return cached


def compare_baseline(rows: list[PairResult], path: str | Path, size: int) -> dict:
    """Our means vs the optimisation baseline's on the pairs both have (issue 3's target on the full set).

    A baseline made at another image ``size`` is not compared (``size_mismatch``).
    """
    path = Path(path)
    if not path.is_file():
        return {"file": str(path), "missing": True, "pairs_compared": 0}
    cached = read_baseline(path)
    by_name, config = cached["pairs"], cached["config"]
    common = [r for r in rows if r.name in by_name] if config.get("size") == size else []
    out = {"file": str(path), "config": config, "pairs_compared": len(common), "missing": False, "size_mismatch": config.get("size") != size}
    if not common:
        return out
    ours, base = mean_of([r.ours for r in common]), mean_of([by_name[r.name] for r in common])
    ratio = {k: ours[k] / base[k] for k in METRICS}
    out.update(
        ours_mean=ours,
        baseline_mean=base,
        ratio_of_means=ratio,
        baseline_seconds=mean_of([by_name[r.name] for r in common], ("seconds",)).get("seconds"),
        target={
            "rule": f"style ≤ {FULL_STYLE_TARGET}× the baseline's and content ≤ 1.0× (means over the compared pairs)",
            "met": ratio["style"] <= FULL_STYLE_TARGET and ratio["content"] <= 1.0,
        },
    )
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- report


def make_grid(rows: list[tuple[Tensor, ...]], labels: tuple[str, ...], cell: int = 256, max_rows: int = GRID_ROWS) -> Image.Image:
    """Picture grid: one row per pair (at most ``max_rows``), one column per image, labelled header.

    Each image ``(3, H, W)`` is centre-cropped to a square and resized to ``cell`` px.
    """
    rows = rows[:max_rows]
    header = 22
    grid = Image.new("RGB", (cell * len(labels), header + cell * len(rows)), "white")
    draw = ImageDraw.Draw(grid)
    for j, label in enumerate(labels):
        draw.text((j * cell + 6, 5), label, fill="black")
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            thumb = ImageOps.fit(tensor_to_pil(image), (cell, cell), Image.LANCZOS)
            grid.paste(thumb, (j * cell, header + i * cell))
        draw.text((4, header + i * cell + 4), str(i + 1), fill="white", stroke_width=2, stroke_fill="black")
    return grid


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.4g}"


def report_markdown(results: dict, command: str, grid_name: str = "grid.jpg") -> str:
    """The markdown report of :func:`evaluate`'s results."""
    release = results["set"] == "release"
    lines = [
        f"# adain eval --set {results['set']}",
        "",
        f"Command: `{command}`",
        "",
        f"Decoder: `{results['decoder']}` (steps: {results['decoder_steps']}); device: {results['device']} "
        f"({results['torch_threads']} threads); {results['pairs_evaluated']} pairs; "
        + ("images as released (512×512)" if release else f"shorter side {results['size']} px")
        + "; α = 1.",
        "",
        "Losses with the normalised VGG-19: content = mse(relu4_1(out), relu4_1(content)); "
        "style = Σ relu1_1..relu4_1 ‖Δμ‖₂ + ‖Δσ‖₂ (the paper's Ls); gram = Σ relu1_1..relu5_1 mse(ΔGram). Lower is better.",
        "",
    ]
    m = results["mean"]
    if release:
        r, ref = results["mean_ratio"], results["reference_mean"]
        verdict = "**met**" if results["target"]["met"] else "**not met**"
        lines += [
            "## Summary",
            "",
            "| | content | style | gram | s / image |",
            "|---|---|---|---|---|",
            f"| ours (mean) | {_fmt(m['content'])} | {_fmt(m['style'])} | {_fmt(m['gram'])} | {_fmt(m['seconds'])} |",
            f"| original (mean) | {_fmt(ref['content'])} | {_fmt(ref['style'])} | {_fmt(ref['gram'])} | |",
            f"| ours / original (mean of per-pair ratios) | {_fmt(r['content'])} | {_fmt(r['style'])} | {_fmt(r['gram'])} | |",
            "",
            f"Target (issue 3): {results['target']['rule']}: {verdict}.",
            "",
            "## Per pair",
            "",
            "| # | pair | content ours / orig (ratio) | style ours / orig (ratio) | gram ours / orig (ratio) | s |",
            "|---|---|---|---|---|---|",
        ]
        for i, p in enumerate(results["pairs"], 1):
            cells = [f"{_fmt(p['ours'][k])} / {_fmt(p['reference'][k])} ({p['ratio'][k]:.2f})" for k in METRICS]
            lines.append(f"| {i} | {p['name']} | " + " | ".join(cells) + f" | {p['ours']['seconds']:.2f} |")
        lines += ["", f"![content | style | original | ours]({grid_name})", "", "Grid: content | style | original (released result) | ours."]
    else:
        b = results.get("baseline", {})
        lines += [
            "## Summary",
            "",
            f"Pairs: the first {results['pairs_evaluated']} of the diagonal order over content × style "
            "(pair k = content[k mod 11], style[k mod 21], names sorted).",
            "",
            "| | content | style | gram | s / image |",
            "|---|---|---|---|---|",
            f"| ours (mean, all evaluated pairs) | {_fmt(m['content'])} | {_fmt(m['style'])} | {_fmt(m['gram'])} | {_fmt(m['seconds'])} |",
        ]
        if b.get("pairs_compared"):
            o, base, ratio = b["ours_mean"], b["baseline_mean"], b["ratio_of_means"]
            verdict = "**met**" if b["target"]["met"] else "**not met**"
            cfg = ", ".join(f"{k}={v}" for k, v in b["config"].items())
            lines += [
                f"| ours (mean, {b['pairs_compared']} pairs with a baseline) | {_fmt(o['content'])} | {_fmt(o['style'])} | {_fmt(o['gram'])} | |",
                f"| optimisation baseline (same pairs) | {_fmt(base['content'])} | {_fmt(base['style'])} | {_fmt(base['gram'])} | {_fmt(b['baseline_seconds'])} |",
                f"| ours / baseline | {_fmt(ratio['content'])} | {_fmt(ratio['style'])} | {_fmt(ratio['gram'])} | |",
                "",
                f"Baseline: `{b['file']}` ({cfg}). Target (issue 3): {b['target']['rule']}: {verdict}.",
            ]
        else:
            lines += ["", f"No optimisation baseline for these pairs at {results['size']} px (`{b.get('file')}`): run `adain optimize --baseline` first."]
        lines += ["", "## Per pair", "", "| # | pair | content | style | gram | s |", "|---|---|---|---|---|---|"]
        for i, p in enumerate(results["pairs"], 1):
            o = p["ours"]
            lines.append(f"| {i} | {p['name']} | {_fmt(o['content'])} | {_fmt(o['style'])} | {_fmt(o['gram'])} | {o['seconds']:.2f} |")
        lines += ["", f"![content | style | ours]({grid_name})", "", "Grid (first pairs): content | style | ours."]
    return "\n".join(lines) + "\n"


def write_json(path: str | Path, obj: dict) -> None:
    """Write JSON atomically (temp file, then rename)."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_report(folder: str | Path, results: dict, images: list[tuple[Tensor, ...]], command: str) -> Path:
    """Write ``report.md``, ``grid.jpg`` and ``results.json`` into ``folder``; returns the report's path."""
    folder = Path(folder)
    labels = ("content", "style", "original", "ours") if results["set"] == "release" else ("content", "style", "ours")
    save_image(make_grid(images, labels), folder / "grid.jpg", quality=85)
    write_json(folder / "results.json", results)
    write_text_atomic(folder / "report.md", report_markdown(results, command))
    return folder / "report.md"


def eval_summary(results: dict) -> dict:
    """The short form of the results stored in a decoder's metadata."""
    summary = {"pairs": results["pairs_evaluated"], "mean": results["mean"], "date": time.strftime("%Y-%m-%d")}
    if results["set"] == "release":
        summary.update(mean_ratio=results["mean_ratio"], target_met=results["target"]["met"])
    elif results.get("baseline", {}).get("pairs_compared"):
        b = results["baseline"]
        summary.update(baseline_pairs=b["pairs_compared"], ratio_to_baseline=b["ratio_of_means"], target_met=b["target"]["met"])
    return summary


def write_eval_metadata(decoder_path: str | Path, results: dict) -> None:
    """Store :func:`eval_summary` as ``eval_<set>`` in the decoder file's metadata (atomic re-save, weights unchanged)."""
    decoder_path = Path(decoder_path)
    meta = read_metadata(decoder_path)
    decoder = load_decoder(decoder_path)
    meta[f"eval_{results['set']}"] = eval_summary(results)
    save_decoder(decoder, decoder_path, meta)
