"""Optimisation of the image itself (Gatys-style): ``adain optimize``.

The slow, high-quality reference the paper compares AdaIN with, and a mode for
a user's best single image. The pixels of the output are optimised for the
decoder's training objective (:mod:`adain.losses`), starting from the content
image::

    L(x) = Lc + λ·Ls,  Lc = mse(f(x), t) at relu4_1,  Ls = Σ_i mse(μ) + mse(σ) over relu1_1..relu4_1

with ``t = AdaIN(f(c), f(s))`` (``content_target="adain"``, as in training) or
``t = f(c)`` (``"content"``, Gatys' own content term). L-BFGS (default) or Adam;
the image is clipped to [0, 1] after every step. Computation is in float32.

``adain optimize --baseline FILE`` runs it over the pairs of ``adain eval --set
full`` and caches the per-pair metrics of :mod:`adain.evaluation.evaluate` in a JSON file;
a rerun skips the pairs already there, so a larger ``--limit`` extends it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from adain.device import hardware_name, pick_device
from adain.encoder import Encoder
from adain.errors import InputError, UsageError
from adain.evaluation.evaluate import mean_of, read_baseline
from adain.evaluation.pairs import FULL_SIZE, eval_data, full_pairs, load_pair
from adain.evaluation.report import write_json
from adain.geometry import resize_shorter
from adain.io.atomic import check_not_an_input
from adain.io.images import image_format, load_image, save_image
from adain.losses import content_loss, image_metrics, style_loss
from adain.ops import adain

METHODS = ("lbfgs", "adam")
CONTENT_TARGETS = ("adain", "content")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}


@dataclass
class OptimizeConfig:
    """Options of the optimisation; ``lr=None`` takes :data:`DEFAULT_LR` of the method."""

    steps: int = 100
    method: str = "lbfgs"
    lr: float | None = None
    style_weight: float = 10.0
    content_target: str = "adain"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UsageError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.content_target not in CONTENT_TARGETS:
            raise UsageError(f"content target must be one of {CONTENT_TARGETS}, got {self.content_target!r}")
        if self.steps < 1:
            raise UsageError(f"steps must be ≥ 1, got {self.steps}")
        if self.style_weight < 0:
            raise UsageError(f"style weight must be ≥ 0, got {self.style_weight}")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.method]
        if not self.lr > 0:
            raise UsageError(f"lr must be > 0, got {self.lr}")


def objective(encoder: Encoder, image: Tensor, target: Tensor, style_feats: list[Tensor], style_weight: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(Lc + λ·Ls, Lc, Ls)`` of an image.

    Args:
        image: ``(1, 3, H, W)`` in [0, 1].
        target: content target at relu4_1, ``(1, 512, H/8, W/8)``.
        style_feats: the style's features at relu1_1..relu4_1.
    """
    feats = encoder(image, last="relu4_1")
    lc = content_loss(feats[-1], target)
    ls = style_loss(feats, style_feats)
    return lc + style_weight * ls, lc, ls


def optimize_image(content: Tensor, style: Tensor, *, encoder: Encoder, config: OptimizeConfig, progress: bool = True) -> tuple[Tensor, list[float]]:
    """Optimise an image for ``Lc + λ·Ls``, starting from the content image.

    Args:
        content: ``(1, 3, H, W)`` in [0, 1], on the encoder's device.
        style: ``(1, 3, H', W')`` in [0, 1].
        encoder: normalised VGG-19 (up to relu4_1 or further).

    Returns:
        ``(image (1, 3, H, W) in [0, 1], objective before each step and after the last)``.

    Raises:
        RuntimeError: the objective became NaN or infinite (lower the lr).
    """
    with torch.no_grad():
        style_feats = encoder(style.float(), last="relu4_1")
        target = encoder.encode(content.float())
        if config.content_target == "adain":
            target = adain(target, style_feats[-1])
    x = content.detach().float().clone(memory_format=torch.contiguous_format).requires_grad_(True)  # L-BFGS needs a flat view
    if config.method == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS([x], lr=config.lr, max_iter=1, history_size=50)
    else:
        opt = torch.optim.Adam([x], lr=config.lr)

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        loss, _, _ = objective(encoder, x, target, style_feats, config.style_weight)
        loss.backward()
        return loss

    history = []
    bar = tqdm(range(config.steps), desc=f"optimize ({config.method})", disable=not progress, dynamic_ncols=True, leave=False)
    for _ in bar:
        loss = float(opt.step(closure).detach())
        if not math.isfinite(loss):
            raise RuntimeError(f"the objective became {loss} after {len(history)} steps; lower --lr")
        history.append(loss)
        bar.set_postfix(loss=f"{loss:.4f}")
        with torch.no_grad():
            x.clamp_(0, 1)
    with torch.no_grad():
        history.append(float(objective(encoder, x, target, style_feats, config.style_weight)[0]))
    return x.detach(), history


def check_output_path(path: str | Path) -> Path:
    """Fail before a long run if the output's image format is unknown."""
    path = Path(path)
    image_format(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    return path


def optimize_file(
    content: str | Path,
    style: str | Path,
    output: str | Path,
    *,
    config: OptimizeConfig,
    size: int = 512,
    style_size: int = 512,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, float]:
    """Optimise one image from files and save it (atomically); returns the metrics of :func:`adain.losses.image_metrics` and seconds."""
    output = check_output_path(output)
    check_not_an_input(output, {"content": content, "style": style})
    dev = pick_device(device)
    c = resize_shorter(load_image(content), size)[None].to(dev)
    s = resize_shorter(load_image(style), style_size)[None].to(dev)
    encoder = Encoder(last="relu5_1").to(dev)
    start = time.perf_counter()
    image, _ = optimize_image(c, s, encoder=encoder, config=config, progress=progress)
    seconds = time.perf_counter() - start
    save_image(image[0].cpu(), output)
    return {**image_metrics(encoder, image, c, s), "seconds": seconds}


def run_baseline(
    path: str | Path,
    *,
    data: str | Path | None = None,
    limit: int = 0,
    config: OptimizeConfig | None = None,
    size: int = FULL_SIZE,
    device: str = "auto",
    outputs: str | Path | None = None,
    encoder: Encoder | None = None,
    progress: bool = True,
) -> dict:
    """Optimise the pairs of the full eval set (first ``limit`` of the diagonal order) and cache their metrics.

    Images are resized to shorter side ``size`` (as ``adain eval --set full``).

    The JSON file at ``path`` is rewritten atomically after every pair; pairs it already
    holds are skipped. ``outputs``: optional folder for the optimised images (JPEG).
    ``encoder``: up to relu5_1 (default: the normalised VGG-19).

    Raises:
        ValueError: the file exists with another configuration.
    """
    config = config or OptimizeConfig()
    path = Path(path)
    pairs = full_pairs(eval_data(data), limit)
    dev = pick_device(device)
    settings = {**asdict(config), "size": size}
    cache = {"config": settings, "pairs": {}}
    if path.is_file():
        cache = read_baseline(path)
        if cache["config"] != settings:
            raise UsageError(f"{path} holds a baseline made with {cache['config']}, not {settings}: use another file or remove it")
    hardware = f"{hardware_name(dev)}, torch {torch.__version__}, {torch.get_num_threads()} threads"

    def save() -> None:
        cache["subset"] = (
            f"first {len(cache['pairs'])} pairs of the diagonal order of content x style "
            "(pair k = content[k mod 11], style[k mod 21], names sorted)"
        )
        cache["mean"] = mean_of(list(cache["pairs"].values()), ("content", "style", "gram", "seconds"))
        write_json(path, cache)

    encoder = (encoder if encoder is not None else Encoder(last="relu5_1")).to(dev)
    todo = [p for p in pairs if p.name not in cache["pairs"]]
    for pair in tqdm(todo, desc="baseline", disable=not progress, dynamic_ncols=True):
        content, style = (t[None].to(dev) for t in load_pair(pair, size))
        start = time.perf_counter()
        image, history = optimize_image(content, style, encoder=encoder, config=config, progress=progress)
        seconds = time.perf_counter() - start
        cache["pairs"][pair.name] = {
            **image_metrics(encoder, image, content, style),
            "seconds": seconds,
            "objective_start": history[0],
            "objective_end": history[-1],
            "hardware": hardware,
        }
        if outputs is not None:
            save_image(image[0].cpu(), Path(outputs) / f"{pair.name}.jpg", quality=90)
        save()
    save()
    return cache
