"""Measure a decoder: ``adain eval``.

Stylizes a set of (content, style) pairs at α = 1 and measures each output
with the normalised VGG-19 (``Encoder(last="relu5_1")``):

* content loss: mean squared error of relu4_1 features, output vs content image;
* style loss: the paper's Ls, Σ over relu1_1..relu4_1 of ‖μ(o) − μ(s)‖₂ + ‖σ(o) − σ(s)‖₂
  (:func:`adain.losses.style_distance`);
* Gram loss: Σ over relu1_1..relu5_1 of mse(Gram(o), Gram(s)) (:func:`adain.losses.gram_distance`);
* seconds per image (style encoding, AdaIN and decoding; metrics not included).

Sets (in the eval data folder: ``--data`` or ``$ADAIN_EVAL_DATA``, see docs/evaluation.md):

* ``release``: the 6 pairs of the original implementation's ``examples/``
  (``X_cropped`` + ``S_cropped``, 512×512) against its ``X_stylized_S.jpg``
  output; every loss is also given as a ratio ours / original.
* ``full``: ``content/`` × ``style/`` at shorter side 512, in the
  :func:`diagonal_order` (``--limit N`` takes its first N pairs), against the
  optimisation baseline cached by ``adain optimize --baseline``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from adain.decoder import DECODER_PATH, load_decoder, read_metadata, training_steps
from adain.device import hardware_name
from adain.encoder import Encoder
from adain.errors import InputError, UsageError
from adain.evaluation.measure import cpu_features, timed
from adain.evaluation.pairs import FULL_SIZE, Pair, eval_data, eval_pairs, load_pair
from adain.geometry import resize_shorter
from adain.io.images import load_image
from adain.lite.runtime import LiteModel
from adain.lite.stylizer import LiteStylizer
from adain.losses import image_metrics
from adain.refine import check_refine
from adain.stylizer import Stylizer

METRICS = ("content", "style", "gram")
DEFAULT_BASELINE = Path("docs/eval/optimize_full.json")
GRID_ROWS = 24  # pairs shown in the report's picture grid (the first ones)
GRID_THUMB = 256  # shorter side the grid's images are kept at
# the release targets
RELEASE_TARGET = 1.0  # content and style loss each ≤ 1.0× the original's (mean over pairs)
FULL_STYLE_TARGET = 1.5  # style loss ≤ 1.5× the baseline's at no more than its content loss

__all__ = ["Pair"]


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


# ---------------------------------------------------------------- metrics


def mean_of(rows: list[dict[str, float]], keys: tuple[str, ...] = METRICS) -> dict[str, float]:
    """Mean of each key over the rows that have it."""
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys if rows and all(k in r for r in rows)}


# ---------------------------------------------------------------- evaluation


def evaluate(
    set_name: str,
    *,
    data: str | Path | None = None,
    decoder: str | Path | None = None,
    limit: int = 0,
    baseline: str | Path | None = DEFAULT_BASELINE,
    size: int = FULL_SIZE,
    device: str = "auto",
    encoder: Encoder | None = None,
    progress: bool = True,
    method: str = "adain",
    stylizer: Stylizer | None = None,
    backend: str = "torch fp32",
    model: str = "full",
    refine: int = 0,
) -> tuple[dict, list[tuple[Tensor, ...]]]:
    """Stylize every pair of a set at α = 1 with a transfer ``method`` and measure it.

    ``size`` is the shorter side of the full set's images (the release set keeps its 512×512).
    ``encoder``: the metrics' encoder up to relu5_1 (default: the normalised VGG-19), also used to stylize.
    ``stylizer``: the networks that stylize instead (e.g. an ONNX export's in ONNX Runtime; ``decoder``
    is then only the record's), named ``backend`` in the results; the metrics still use ``encoder``.
    ``model="lite"``: the lite model stylizes (ONNX Runtime, fp32; adain only): the shipped one, or ``decoder`` names
    lite weights (``lite.safetensors``, e.g. a training run's).
    ``refine``: optimisation steps after the decoder (:mod:`adain.refine`), counted in the seconds.

    Returns:
        ``(results, images)``: ``results`` is the JSON-ready summary (pairs, means, ratios,
        comparison with the reference or baseline, target verdict); ``images`` holds, for the
        first :data:`GRID_ROWS` pairs, ``(content, style, [reference,] output)``, each ``(3, H, W)``
        shrunk to a shorter side of at most :data:`GRID_THUMB`.
    """
    pairs = eval_pairs(set_name, eval_data(data), limit)
    size = size if set_name == "full" else 0
    encoder = encoder if encoder is not None else Encoder(last="relu5_1")
    check_refine(refine)
    stylize, warm_up, dev, weights_path, steps = _stylize_fns(model, method, decoder, stylizer, encoder, device, refine)
    backend = "onnxruntime fp32 (lite)" if model == "lite" else backend
    load_start = os.getloadavg()[0]
    rows, images = _measure_pairs(pairs, size, stylize, warm_up, encoder, dev, desc=f"eval {set_name} {method}", progress=progress)
    results = {
        "set": set_name,
        "method": method,
        "pairs_evaluated": len(rows),
        "limit": limit,
        "size": size,
        "model": model,
        "decoder": shown_path(weights_path),
        "decoder_steps": steps,
        "backend": backend,
        "refine": refine,
        "device": str(dev),
        "hardware": hardware_name(dev) + cpu_features(dev),
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
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


def _stylize_fns(
    model: str, method: str, decoder: str | Path | None, stylizer: Stylizer | None, encoder: Encoder, device: str, refine: int
) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor, Tensor], Tensor], torch.device, Path, int | None]:
    """What :func:`evaluate` stylizes with: ``(stylize, warm_up, device, weights, steps)``, images ``(3, H, W)``.

    ``warm_up`` is the first call, untimed: ``stylize`` with at most one refinement step (which warms its path).
    """
    if model == "lite":
        lite, weights_path, steps = _lite_model(method, Path(decoder) if decoder is not None else None)
        refiner = Stylizer(load_decoder(DECODER_PATH), encoder=encoder, device=device, bf16=False) if refine else None  # its encoder measures the steps
        networks = LiteStylizer(lite, refiner=refiner)
        return partial(networks.stylize, refine=refine), partial(networks.stylize, refine=min(refine, 1)), networks.device, weights_path, steps
    weights_path = Path(decoder) if decoder is not None else DECODER_PATH
    steps = training_steps(read_metadata(weights_path))
    if stylizer is None:
        stylizer = Stylizer(load_decoder(weights_path), encoder=encoder, device=device, bf16=False)  # fp32: comparable across machines
    warm_up = partial(stylizer.stylize, method=method, refine=min(refine, 1))
    return partial(stylizer.stylize, method=method, refine=refine), warm_up, stylizer.device, weights_path, steps


def _measure_pairs(
    pairs: list[Pair],
    size: int,
    stylize: Callable[[Tensor, Tensor], Tensor],
    warm_up: Callable[[Tensor, Tensor], Tensor],
    encoder: Encoder,
    device: torch.device,
    *,
    desc: str,
    progress: bool,
) -> tuple[list[PairResult], list[tuple[Tensor, ...]]]:
    """Stylize and measure each pair (:func:`~adain.evaluation.pairs.load_pair` at ``size``), timing ``stylize`` alone.

    Returns:
        ``(rows, images)``: a :class:`PairResult` per pair (``seconds`` among ``ours``), and :func:`evaluate`'s ``images``.
    """
    rows: list[PairResult] = []
    images: list[tuple[Tensor, ...]] = []
    for index, pair in enumerate(tqdm(pairs, desc=desc, disable=not progress, dynamic_ncols=True)):
        content, style = load_pair(pair, size)
        if index == 0:
            warm_up(content, style)  # so the first timing is not an outlier
        output, seconds = timed(partial(stylize, content, style), device)
        c, s = content[None].to(device), style[None].to(device)
        row = PairResult(pair.name, pair.content.name, pair.style.name, {**image_metrics(encoder, output[None].to(device), c, s), "seconds": seconds})
        shown = (content, style, output)
        if pair.reference is not None:
            reference = load_image(pair.reference)
            if reference.shape != content.shape:
                raise InputError(f"{pair.reference}: {reference.shape[2]}x{reference.shape[1]} but the content is {content.shape[2]}x{content.shape[1]}")
            row.reference = image_metrics(encoder, reference[None].to(device), c, s)
            row.ratio = {k: row.ours[k] / row.reference[k] for k in METRICS}
            shown = (content, style, reference, output)
        if index < GRID_ROWS:
            images.append(tuple(resize_shorter(x.cpu(), GRID_THUMB, enlarge=False) for x in shown))
        rows.append(row)
    return rows, images


def _lite_model(method: str, weights: Path | None = None) -> tuple[LiteModel, Path, int | None]:
    """The lite model (the shipped one, or ``weights``, exported to a temporary folder) as :func:`evaluate` runs it:
    ``(model, weights, training steps)``."""
    import tempfile

    from adain.lite.export import export_lite
    from adain.lite.model import load_lite
    from adain.lite.weights import LITE_PATH

    if method != "adain":
        raise UsageError(f"the lite model transfers with adain only, not {method}")
    if weights is None:
        lite = LiteModel()
    else:
        with tempfile.TemporaryDirectory(prefix="adain-lite-") as folder:
            export_lite(load_lite(weights), folder)
            lite = LiteModel(folder)
    return lite, weights or LITE_PATH, lite.metadata["training"].get("total_steps")


def compare_methods(set_name: str, methods: list[str], **kwargs) -> tuple[dict, list[tuple[Tensor, ...]]]:
    """:func:`evaluate` once per transfer method on the same pairs.

    Returns:
        ``(results, images)``: ``results["methods"]`` maps each method to its
        :func:`evaluate` results; ``images`` has per grid pair ``(content, style,
        [reference,] output of each method)``.
    """
    if not methods or len(set(methods)) != len(methods):
        raise UsageError(f"give each method once, got {methods}")
    kwargs.setdefault("encoder", Encoder(last="relu5_1"))  # loaded once for all methods
    by_method, columns = {}, []
    for method in methods:
        by_method[method], images = evaluate(set_name, method=method, **kwargs)
        columns.append(images)
    grid = [(*rows[0][:-1], *(row[-1] for row in rows)) for rows in zip(*columns, strict=True)]
    return {"set": set_name, "methods": by_method}, grid


def release_verdict(mean_ratio: dict[str, float]) -> dict:
    """The release target on the release set: mean content and style ratios each ≤ 1.0."""
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
    """Our means vs the optimisation baseline's on the pairs both have (the release target on the full set).

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

