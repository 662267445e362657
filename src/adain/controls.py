"""Style controls: the content–style trade-off, style interpolation and spatial control.

Pure tensor functions that turn relu4_1 content features and encoded style
statistics into the decoder's input (:func:`target_features`):

* ``alpha`` in [0, 1]: ``t ← α·t + (1 − α)·f(c)`` (content–style trade-off);
* several styles with float ``weights`` (interpolation of their statistics);
* any transfer method (:mod:`adain.methods`): the style statistics carry it;
* ``masks``: spatial control, one soft/binary mask per style (any number of
  styles), resized to the feature grid; positions no mask covers keep the
  content features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from adain.methods import apply_statistics, mix_statistics
from adain.ops import StyleStats


def check_alpha(alpha: float) -> float:
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return float(alpha)


def check_weights_or_masks(weights: object | None, masks: object | None) -> None:
    """Weights mix the styles everywhere, masks place them: raise ``ValueError`` if both are given."""
    if weights is not None and masks is not None:
        raise ValueError("weights mix styles everywhere, masks place them: give one or the other")


def normalise_weights(weights: list[float] | Tensor | None, n_styles: int) -> Tensor:
    """Interpolation weights → ``(K,)`` summing to 1; ``None`` gives equal weights.

    Raises:
        ValueError: wrong count, a negative or non-finite weight, or all zero.
    """
    if weights is None:
        return torch.full((n_styles,), 1.0 / n_styles)
    w = torch.as_tensor(weights, dtype=torch.float32).flatten()
    if w.numel() != n_styles:
        raise ValueError(f"{w.numel()} style weights given for {n_styles} styles")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(f"style weights must be finite and ≥ 0, got {w.tolist()}")
    if float(w.sum()) <= 0:
        raise ValueError("style weights are all zero")
    return w / w.sum()


def index_map_to_masks(index_map: Tensor, n_styles: int) -> Tensor:
    """Integer map ``(H, W)`` with values in ``0..K-1`` → one-hot masks ``(K, H, W)``."""
    if index_map.dim() != 2:
        raise ValueError(f"index map must be (H, W), got shape {tuple(index_map.shape)}")
    idx = index_map.long()
    if int(idx.min()) < 0 or int(idx.max()) >= n_styles:
        raise ValueError(f"index map values must be in 0..{n_styles - 1}, got {int(idx.min())}..{int(idx.max())}")
    return F.one_hot(idx, n_styles).permute(2, 0, 1).float()


def masks_to_grid(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """Masks ``(K, H, W)`` in [0, 1] → feature-grid masks ``(K, 1, h, w)`` (area average).

    Where masks overlap, they are divided by their sum so the styles share the position.

    An area average of a mask that covers something is positive somewhere, so a
    mask never vanishes on the grid.

    Raises:
        ValueError: a mask covers nothing.
    """
    if masks.dim() != 3:
        raise ValueError(f"masks must be (K, H, W), got shape {tuple(masks.shape)}")
    for k, m in enumerate(masks):
        if float(m.max()) <= 0:
            raise ValueError(f"mask {k + 1} covers nothing")
    grid = F.interpolate(masks[:, None].float().clamp(0, 1), size=size, mode="area")
    total = grid.sum(0, keepdim=True)
    return torch.where(total > 1, grid / total.clamp_min(1e-8), grid)


def target_features(
    content_feat: Tensor,
    stats: StyleStats | Tensor,
    style_std: Tensor | None = None,
    *,
    alpha: float = 1.0,
    weights: Tensor | None = None,
    masks: Tensor | None = None,
) -> Tensor:
    """The decoder's input ``t`` for one or several styles, with their transfer method.

    Args:
        content_feat: relu4_1 content features ``(N, C, h, w)``.
        stats: K encoded styles (:class:`StyleStats`, any method); or their
            AdaIN means ``(K, C, 1, 1)`` with the stds in ``style_std``.
        alpha: content–style trade-off in [0, 1].
        weights: ``(K,)`` interpolation weights (not with masks); see
            :func:`adain.methods.mix_statistics` for what they mean per method.
        masks: ``(K, 1, h, w)`` feature-grid masks (spatial control).

    Returns:
        ``(N, C, h, w)``.

    Raises:
        ValueError: both weights and masks, or counts that do not match K.
    """
    alpha = check_alpha(alpha)
    if isinstance(stats, Tensor):
        if style_std is None:
            raise ValueError("style means given without their stds")
        stats = StyleStats(stats, style_std)
    stats = stats.to(content_feat.device)
    k = len(stats)
    check_weights_or_masks(weights, masks)
    if masks is None:
        t = apply_statistics(content_feat, mix_statistics(stats, normalise_weights(weights, k)))
    else:
        if masks.shape[0] != k:
            raise ValueError(f"{masks.shape[0]} masks given for {k} styles")
        masks = masks.to(content_feat.device, torch.float32)
        t = content_feat.float() * (1 - masks.sum(0, keepdim=True)).clamp_min(0)
        for i in range(k):
            m = masks[i : i + 1]
            t = t + m * apply_statistics(content_feat, stats.select(i), mask=m)
    return alpha * t + (1 - alpha) * content_feat.float()
