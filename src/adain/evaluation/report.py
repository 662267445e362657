"""The report of ``adain eval``: markdown, a labelled picture grid, results JSON, and the decoder's eval metadata."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps
from torch import Tensor

from adain.decoder import load_decoder, read_metadata, save_decoder
from adain.evaluation.evaluate import GRID_ROWS, METRICS
from adain.io.images import save_image, tensor_to_pil, write_text_atomic


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


GRID_PIXELS = 1_500_000  # a larger grid gets smaller cells (with JPEG quality 75 the picture stays about 500 KB at most)


def grid_cell(rows: int, columns: int) -> int:
    """Side of a grid cell: 256 px, smaller (down to 128) where ``rows`` × ``columns`` cells would pass :data:`GRID_PIXELS`."""
    return max(128, min(256, int((GRID_PIXELS / max(rows * columns, 1)) ** 0.5)))


def grid_rows(pairs: int) -> str:
    """Which pairs the grid shows: ``every pair`` or ``the first 24 pairs``, numbered as in the tables."""
    return ("every pair" if pairs <= GRID_ROWS else f"the first {GRID_ROWS} pairs") + ", numbered as in the tables"


def machine_line(results: dict) -> str:
    """``device: cpu, <CPU name> (2 threads; load average …)``: where the times were measured."""
    line = f"device: {results['device']}"
    if "hardware" in results:
        line += f", {results['hardware']}"
    line += f" ({results['torch_threads']} threads"
    if "load_average" in results:
        start, end = results["load_average"]
        line += f"; 1-minute load average {start:.1f} at the start, {end:.1f} at the end"
    return line + ")"


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
        f"Decoder: `{results['decoder']}` (steps: {results['decoder_steps']}); {machine_line(results)}; {results['pairs_evaluated']} pairs; "
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
            f"Release target: {results['target']['rule']}: {verdict}.",
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
                f"| optimisation baseline (same pairs) | {_fmt(base['content'])} | {_fmt(base['style'])} | {_fmt(base['gram'])} "
                f"| {_fmt(b['baseline_seconds'])} |",
                f"| ours / baseline | {_fmt(ratio['content'])} | {_fmt(ratio['style'])} | {_fmt(ratio['gram'])} | |",
                "",
                f"Baseline: `{b['file']}` ({cfg}). Release target: {b['target']['rule']}: {verdict}.",
            ]
        else:
            lines += ["", f"No optimisation baseline for these pairs at {results['size']} px (`{b.get('file')}`): run `adain optimize --baseline` first."]
        lines += ["", "## Per pair", "", "| # | pair | content | style | gram | s |", "|---|---|---|---|---|---|"]
        for i, p in enumerate(results["pairs"], 1):
            o = p["ours"]
            lines.append(f"| {i} | {p['name']} | {_fmt(o['content'])} | {_fmt(o['style'])} | {_fmt(o['gram'])} | {o['seconds']:.2f} |")
        lines += ["", f"![content | style | ours]({grid_name})", "", f"Grid ({grid_rows(results['pairs_evaluated'])}): content | style | ours."]
    return "\n".join(lines) + "\n"


def methods_markdown(results: dict, command: str, grid_name: str = "grid.jpg") -> str:
    """The markdown report of :func:`~adain.evaluation.evaluate.compare_methods`: one table, per-pair numbers, the grid."""
    by_method = results["methods"]
    first = next(iter(by_method.values()))
    release = results["set"] == "release"
    lines = [
        f"# adain eval --set {results['set']}, transfer methods",
        "",
        f"Command: `{command}`",
        "",
        f"Decoder: `{first['decoder']}` (steps: {first['decoder_steps']}); {machine_line(first)}; {first['pairs_evaluated']} pairs; "
        + ("images as released (512×512)" if release else f"shorter side {first['size']} px")
        + "; α = 1; the same decoder for every method (trained for AdaIN).",
        "",
        "Losses as in the single-method report (lower is better): content = mse(relu4_1); style = the paper's Ls "
        "(mean and std, relu1_1..relu4_1); gram = Σ relu1_1..relu5_1 mse(ΔGram). Seconds: one `stylize` call "
        "(style and content encoding, the transfer, decoding), fp32.",
        "",
        "| method | content | style | gram | s / image |" + (" content / original | style / original | gram / original |" if release else ""),
        "|---|---|---|---|---|" + ("---|---|---|" if release else ""),
    ]
    for method, r in by_method.items():
        m = r["mean"]
        row = f"| {method} | {_fmt(m['content'])} | {_fmt(m['style'])} | {_fmt(m['gram'])} | {_fmt(m['seconds'])} |"
        if release:
            q = r["mean_ratio"]
            row += f" {_fmt(q['content'])} | {_fmt(q['style'])} | {_fmt(q['gram'])} |"
        lines.append(row)
    if release:
        ref = first["reference_mean"]
        lines.append(f"| original release (AdaIN) | {_fmt(ref['content'])} | {_fmt(ref['style'])} | {_fmt(ref['gram'])} | | 1 | 1 | 1 |")
    lines += ["", "## Per pair: content / style / gram", "", "| # | pair | " + " | ".join(by_method) + " |", "|---|---|" + "---|" * len(by_method)]
    for i, name in enumerate(p["name"] for p in first["pairs"]):
        cells = [" / ".join(_fmt(r["pairs"][i]["ours"][k]) for k in METRICS) for r in by_method.values()]
        lines.append(f"| {i + 1} | {name} | " + " | ".join(cells) + " |")
    columns = ["content", "style", *(["original"] if release else []), *by_method]
    lines += ["", f"![{' | '.join(columns)}]({grid_name})", "", f"Grid ({grid_rows(first['pairs_evaluated'])}): {' | '.join(columns)}."]
    return "\n".join(lines) + "\n"


def write_json(path: str | Path, obj: dict) -> None:
    """Write JSON atomically (temp file, then rename)."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_report(folder: str | Path, results: dict, images: list[tuple[Tensor, ...]], command: str) -> Path:
    """Write ``report.md``, ``grid.jpg`` and ``results.json`` into ``folder``; returns the report's path.

    ``results`` of :func:`~adain.evaluation.evaluate.evaluate`, or of ``compare_methods`` (one column per method).
    """
    folder = Path(folder)
    release = results["set"] == "release"
    outputs = list(results["methods"]) if "methods" in results else ["ours"]
    labels = ("content", "style", *(["original"] if release else []), *outputs)
    markdown = methods_markdown if "methods" in results else report_markdown
    save_image(make_grid(images, labels, cell=grid_cell(len(images), len(labels))), folder / "grid.jpg", quality=75)
    write_json(folder / "results.json", results)
    write_text_atomic(folder / "report.md", markdown(results, command))
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
