"""Adaptive Instance Normalization and per-channel feature statistics.

All functions are pure and work on feature maps of shape ``(N, C, H, W)``.
Statistics are taken per sample and per channel over space (optionally only
where a mask is set). The standard deviation is ``sqrt(var + eps)`` with the
population variance (divide by the number of positions) and ``eps = 1e-5``,
so that constant channels give a finite, small σ instead of a division by zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

EPS = 1e-5


def upcast(x: Tensor) -> Tensor:
    """``x`` in at least float32 (bf16/fp16 → float32; float32 and float64 are kept)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _check_features(x: Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} must be a (N, C, H, W) tensor, got shape {tuple(x.shape)}")


def mean_std(x: Tensor, mask: Tensor | None = None, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation over space.

    Args:
        x: features, ``(N, C, H, W)``.
        mask: optional weights in [0, 1], ``(N or 1, 1, H, W)``; statistics are
            taken over the masked positions only (weighted by the mask).
        eps: added to the variance before the square root.

    Returns:
        ``(mean, std)``, each ``(N, C, 1, 1)``, in float32 or the input's dtype
        if it is float64.

    Example:
        >>> x = torch.arange(8.0).reshape(1, 2, 2, 2)
        >>> mean, std = mean_std(x, eps=0.0)
        >>> mean.flatten().tolist(), std.flatten().tolist()
        ([1.5, 5.5], [1.1180340051651, 1.1180340051651])
    """
    _check_features(x, "features")
    x = upcast(x)
    if mask is None:
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        return mean, (var + eps).sqrt()
    _check_features(mask, "mask")
    if mask.shape[1] != 1 or mask.shape[2:] != x.shape[2:]:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit features of shape {tuple(x.shape)}")
    mask = mask.to(x.dtype)
    total = mask.sum(dim=(2, 3), keepdim=True)
    if bool((total <= 0).any()):
        raise ValueError("mask covers no position of the feature map")
    mean = (x * mask).sum(dim=(2, 3), keepdim=True) / total
    var = ((x - mean) ** 2 * mask).sum(dim=(2, 3), keepdim=True) / total
    return mean, (var + eps).sqrt()


def _check_stats(content: Tensor, mean: Tensor, std: Tensor, name: str) -> None:
    """Raise ``ValueError`` unless ``mean`` and ``std`` are ``(N or 1, C, 1, 1)`` for features ``(N, C, H, W)``."""
    if mean.shape != std.shape or mean.dim() != 4 or mean.shape[1] != content.shape[1] or mean.shape[2:] != (1, 1):
        raise ValueError(f"{name} of shape {tuple(mean.shape)} / {tuple(std.shape)} do not fit content features of shape {tuple(content.shape)}")
    if mean.shape[0] not in (1, content.shape[0]):
        raise ValueError(f"batch of the {name} ({mean.shape[0]}) must be 1 or the content's ({content.shape[0]})")


def adain_with_stats(content: Tensor, mean: Tensor, std: Tensor, mask: Tensor | None = None, eps: float = EPS,
                     content_stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Renormalise content features to a target per-channel mean and std.

    ``σ_target · (x − μ(x)) / σ(x) + μ_target``; with ``mask`` the content
    statistics are taken over the masked region only (spatial control).

    Args:
        content: ``(N, C, H, W)``.
        mean, std: target statistics, ``(N or 1, C, 1, 1)``.
        mask: optional ``(N or 1, 1, H, W)``.
        content_stats: ``(μ, σ)``, each ``(N or 1, C, 1, 1)``, to normalise the content with instead of
            its own (``mask`` then plays no part): a whole image's for a tile of it, a running average for video.

    Returns:
        ``(N, C, H, W)`` features, float32 (float64 for float64 input).
    """
    _check_features(content, "content features")
    _check_stats(content, mean, std, "target statistics")
    if content_stats is not None:
        _check_stats(content, *content_stats, "content statistics")
    c_mean, c_std = mean_std(content, mask, eps) if content_stats is None else content_stats
    return (upcast(content) - c_mean) / c_std * std + mean


def adain(content: Tensor, style: Tensor, eps: float = EPS) -> Tensor:
    """AdaIN(x, y) = σ(y) · (x − μ(x)) / σ(x) + μ(y).

    Args:
        content: ``(N, C, H, W)``.
        style: ``(N or 1, C, H', W')``; spatial size may differ from the content's.

    Returns:
        ``(N, C, H, W)``: the content features with the style's channel statistics.

    Example:
        >>> content, style = torch.randn(2, 64, 32, 32), 3 * torch.randn(1, 64, 16, 24) + 1
        >>> out = adain(content, style)
        >>> out.shape
        torch.Size([2, 64, 32, 32])
        >>> torch.allclose(mean_std(out)[1], mean_std(style)[1].expand(2, -1, -1, -1), atol=1e-3)
        True
    """
    _check_features(content, "content features")
    _check_features(style, "style features")
    if content.shape[1] != style.shape[1]:
        raise ValueError(f"content has {content.shape[1]} channels but style has {style.shape[1]}")
    if style.shape[0] not in (1, content.shape[0]):
        raise ValueError(f"style batch ({style.shape[0]}) must be 1 or the content's ({content.shape[0]})")
    return adain_with_stats(content, *mean_std(style, eps=eps), eps=eps)


class AdaIN(nn.Module):
    """Module form of :func:`adain` (no parameters).

    Example:
        >>> AdaIN()(torch.randn(1, 8, 4, 4), torch.randn(1, 8, 6, 6)).shape
        torch.Size([1, 8, 4, 4])
    """

    def __init__(self, eps: float = EPS) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        return adain(content, style, self.eps)


@dataclass
class StyleStats:
    """Encoded styles: the relu4_1 statistics of K styles for one transfer method (:mod:`adain.methods`).

    ``mean`` and ``std`` ``(K, 512, 1, 1)`` for every method; ``colour``
    ``(K, 512, 512)`` float64 for ``wct`` (the covariance's square root);
    ``quantiles`` ``(K, 512, Q)`` for ``efdm`` (each channel's sorted values
    resampled to Q levels).
    """

    mean: Tensor
    std: Tensor
    method: str = "adain"
    colour: Tensor | None = None
    quantiles: Tensor | None = None

    def __len__(self) -> int:
        return self.mean.shape[0]

    def tensors(self) -> dict[str, Tensor]:
        """The statistics that are set, by name, each ``(K, …)``."""
        named = {"mean": self.mean, "std": self.std, "colour": self.colour, "quantiles": self.quantiles}
        return {name: t for name, t in named.items() if t is not None}

    def __getitem__(self, index: int | slice | list[int]) -> StyleStats:
        """Some of the styles: ``stats[k]`` (one, K = 1), ``stats[1:]``, ``stats[[2, 0]]``."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return StyleStats(method=self.method, **{name: t[index] for name, t in self.tensors().items()})

    def select(self, k: int) -> StyleStats:
        """Style ``k`` alone (K = 1)."""
        return self[k]

    def to(self, device: torch.device | str) -> StyleStats:
        """Every tensor on ``device`` (dtypes kept: wct's colouring matrix stays float64)."""
        return StyleStats(method=self.method, **{name: t.to(device) for name, t in self.tensors().items()})

    @staticmethod
    def cat(parts: list[StyleStats]) -> StyleStats:
        """Styles encoded for the same method, one after another."""
        if not parts:
            raise ValueError("no style statistics to join")
        methods = {p.method for p in parts}
        if len(methods) != 1:
            raise ValueError(f"style statistics of different methods cannot be joined: {sorted(methods)}")
        names = parts[0].tensors()
        return StyleStats(method=parts[0].method, **{name: torch.cat([p.tensors()[name] for p in parts]) for name in names})


class StatsAccumulator:
    """Per-channel mean and std of a feature map seen in pieces (float64 sums)."""

    def __init__(self) -> None:
        self.sum = self.sumsq = None
        self.count = 0

    def add(self, feats: Tensor) -> None:
        """Add positions of ``(1, C, h, w)`` features (each position exactly once over all calls)."""
        x = feats.double().flatten(2)[0]
        s, sq = x.sum(1), (x * x).sum(1)
        self.sum = s if self.sum is None else self.sum + s
        self.sumsq = sq if self.sumsq is None else self.sumsq + sq
        self.count += x.shape[1]

    def mean_std(self, eps: float = EPS) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` each ``(1, C, 1, 1)`` float32, std as in :func:`adain.ops.mean_std` (population, + eps)."""
        mean = self.sum / self.count
        var = (self.sumsq / self.count - mean * mean).clamp_min(0)
        return mean.float().view(1, -1, 1, 1), (var + eps).sqrt().float().view(1, -1, 1, 1)
