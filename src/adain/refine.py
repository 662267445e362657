"""Refinement: a few optimisation steps of the paper's own losses, starting from the decoder's output.

The decoder gives ``x₀ = g(t)`` in one pass. :func:`refine_image` then lowers

    L(x) = mse(f₄(x), c₄) + λ · Σ_l Σ_r mse(μ_r(f_l(x)), μ_rl) + mse(σ_r(f_l(x)), σ_rl)

by Adam steps on the pixels (clipped to [0, 1] after each), where ``f_l`` are
the encoder's taps relu1_1 … relu4_1 and ``r`` the regions (one without masks).
The targets (:class:`RefineTargets`, made by :func:`refine_targets`) are those
of the stylization itself, so every control carries over:

* ``c₄``: the content's own relu4_1 features (``content_target="content"``, the
  default) or the decoder's input ``t`` (``"target"``, the paper's training target);
* ``μ_rl``, ``σ_rl``: the channel statistics of the transfer applied at tap ``l``,
  ``t_l = target_features(f_l(c), stats_l, α, weights, masks)``: the method's own
  transfer (adain, wct, efdm), the styles mixed by their weights, blended with the
  content by α, and with masks taken region by region (each region toward its style).

This module holds tensors only; the :class:`~adain.stylizer.Stylizer` builds the
targets from images (``Stylizer.stylize(..., refine=N)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adain.controls import feature_grid, target_features
from adain.errors import UsageError
from adain.ops import StyleStats, mean_std
from adain.schema import short_number

REFINE_STEPS = range(0, 201)
"""The refinement steps one stylization may ask for (a 512 px step takes seconds on a CPU); the server's
own ``max_refine`` is lower still."""
DEFAULT_REFINE = 10
"""Steps of a bare ``--refine`` (docs/evaluation.md: the measurements that chose it)."""
REFINE_LR = 0.01  # Adam step on pixels in [0, 1]
STYLE_WEIGHT = 4.0  # λ of the refinement's objective (docs/evaluation.md)
CONTENT_TARGETS = ("content", "target")
BYTES_PER_PIXEL = 3500
"""Peak memory a refinement adds to a stylization, per pixel of the (padded) image, fp32 on CPU: the activations
kept for the gradients through relu1_1 … relu4_1 of the encoder (measured: 3,400 bytes at 512x512, 3,110 at
1024x768; ``python scripts/refine_figures.py memory``, docs/evaluation.md)."""


def check_refine(steps: int, *, max_steps: int = REFINE_STEPS[-1], name: str = "refine steps") -> int:
    """``steps`` if it is in ``0..max_steps`` (at most :data:`REFINE_STEPS`' last), else a one-line :class:`UsageError`."""
    top = min(max_steps, REFINE_STEPS[-1])
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= top:
        raise UsageError(f"{name} must be an integer in 0..{top}, got {short_number(steps) if isinstance(steps, int) else repr(steps)[:40]}")
    return steps


def refine_memory(height: int, width: int) -> int:
    """Estimated extra peak bytes of refining an ``(H, W)`` image (beyond its stylization)."""
    return height * width * BYTES_PER_PIXEL


@dataclass(frozen=True)
class RefineTargets:
    """What :func:`refine_image` pulls an image toward.

    Attributes:
        content: relu4_1 target ``(N, 512, h, w)``.
        means, stds: per tap (relu1_1 … relu4_1), the target statistics ``(N, R, C)`` of R regions.
        masks: per tap, the regions' weights on that tap's grid ``(R, 1, h_l, w_l)``; ``None``: one region, the whole image.
    """

    content: Tensor
    means: list[Tensor]
    stds: list[Tensor]
    masks: list[Tensor] | None = None


def region_stats(feat: Tensor, masks: Tensor | None) -> tuple[Tensor, Tensor]:
    """Channel mean and std of ``feat`` ``(N, C, H, W)`` over each region ``(R, 1, H, W)`` → ``(N, R, C)`` each
    (``masks=None``: one region, the whole map)."""
    if masks is None:
        m, s = mean_std(feat)
        return m.flatten(1)[:, None], s.flatten(1)[:, None]
    parts = [mean_std(feat, masks[r : r + 1]) for r in range(masks.shape[0])]
    return torch.stack([m.flatten(1) for m, _ in parts], 1), torch.stack([s.flatten(1) for _, s in parts], 1)


def refine_targets(
    content_feats: list[Tensor],
    tap_stats: list[StyleStats],
    *,
    alpha: float = 1.0,
    weights: Tensor | None = None,
    masks: Tensor | None = None,
    content_target: str = "content",
) -> RefineTargets:
    """The targets of a stylization's refinement, from the content's features and the styles' statistics at every tap.

    Args:
        content_feats: the content's features at relu1_1 … relu4_1, ``(N, C_l, h_l, w_l)`` (of the image the
            decoder's output has: padded to a multiple of 8).
        tap_stats: the K styles' statistics at the same taps, one :class:`StyleStats` per tap (any method).
        alpha, weights: as :func:`adain.controls.target_features`.
        masks: ``(K, H, W)`` image-sized masks (spatial control, one per style) or ``None``.
        content_target: ``"content"`` (the content's relu4_1) or ``"target"`` (the α-blended decoder input).

    Returns:
        :class:`RefineTargets` with one region per mask (or one).
    """
    if content_target not in CONTENT_TARGETS:
        raise UsageError(f"content target must be one of {', '.join(CONTENT_TARGETS)}, got {content_target!r}")
    if len(content_feats) != len(tap_stats):
        raise UsageError(f"{len(content_feats)} content taps but {len(tap_stats)} style taps")
    means, stds, grids = [], [], []
    t = content_feats[-1]
    for feat, stats in zip(content_feats, tap_stats, strict=True):
        grid = None if masks is None else feature_grid(masks, (feat.shape[-2], feat.shape[-1])).to(feat.device)
        t = target_features(feat, stats, alpha=alpha, weights=weights, masks=grid)
        m, s = region_stats(t, grid)
        means.append(m)
        stds.append(s)
        if grid is not None:
            grids.append(grid)
    content = content_feats[-1].float() if content_target == "content" else t
    return RefineTargets(content, means, stds, grids if masks is not None else None)


def refine_loss(feats: list[Tensor], targets: RefineTargets, style_weight: float = STYLE_WEIGHT) -> Tensor:
    """``Lc + λ·Ls`` of an image's tap features ``(N, C_l, h_l, w_l)`` against ``targets`` → scalar."""
    total = F.mse_loss(feats[-1].float(), targets.content)
    for k, feat in enumerate(feats):
        m, s = region_stats(feat.float(), None if targets.masks is None else targets.masks[k])
        total = total + style_weight * (F.mse_loss(m, targets.means[k]) + F.mse_loss(s, targets.stds[k]))
    return total


def refine_image(
    encoder: nn.Module,
    image: Tensor,
    targets: RefineTargets,
    steps: int,
    *,
    style_weight: float = STYLE_WEIGHT,
    lr: float = REFINE_LR,
    on_step: Callable[[float], None] | None = None,
) -> Tensor:
    """Refine a decoder's output by ``steps`` Adam steps on its pixels toward ``targets``.

    Args:
        encoder: images ``(N, 3, H, W)`` → the list of tap features relu1_1 … relu4_1 (``Encoder(image, last="relu4_1")``).
        image: the decoder's output ``(N, 3, H, W)`` in [0, 1], the size whose features the targets were made from.
        targets: :func:`refine_targets`.
        steps: in :data:`REFINE_STEPS` (0 returns ``image``).
        on_step: called with the objective after each step (progress).

    Returns:
        ``(N, 3, H, W)`` in [0, 1], detached.

    Raises:
        UsageError: steps out of bounds.
        RuntimeError: the objective became NaN or infinite.
    """
    check_refine(steps)
    if steps == 0:
        return image
    with torch.enable_grad():
        x = image.detach().float().clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=lr)
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = refine_loss(encoder(x, last="relu4_1"), targets, style_weight)
            value = float(loss.detach())
            if not torch.isfinite(loss.detach()):
                raise RuntimeError(f"the refinement's objective became {value} after {step} steps")
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            if on_step is not None:
                on_step(value)
    return x.detach()
