"""Transfer methods: how content features take on a style's statistics.

Each method maps relu4_1 content features ``(N, C, h, w)`` to the decoder's
input ``t`` from *style statistics* that are computed once per style image and
can be cached (the style's features themselves are not needed afterwards):

============ ================================================ ==========================================
method       statistics of K styles                            transfer
============ ================================================ ==========================================
``adain``    ``mean``, ``std``: ``(K, C, 1, 1)``               per-channel mean and std (Huang & Belongie
                                                               2017)
``wct``      ``mean`` ``(K, C, 1, 1)``, ``colour``             whitening and colouring: the full channel
             ``(K, C, C)`` float64 (the covariance's square    covariance (Li et al., NeurIPS 2017)
             root)
``efdm``     ``quantiles``: ``(K, C, Q)``, the sorted          exact feature distribution matching:
             feature values resampled to ``Q`` levels          per-channel histogram matching by sorting
                                                               (Zhang et al., CVPR 2022)
============ ================================================ ==========================================

Interpolating several styles with weights ``w`` is the same for all three:
the weighted sum of each statistics tensor (:func:`mix_statistics`). For
``adain`` that blends means and stds (as the paper); for ``wct`` it blends the
colouring matrices and means, which equals blending the K coloured feature maps
(Li et al.'s interpolation); for ``efdm`` it blends the per-channel quantile
functions, i.e. the target of each channel is the 1-D Wasserstein-2 barycentre
of the styles' distributions.

Masks (spatial control) restrict the *content* statistics to a region: its
mean and covariance (``wct``) or its weighted ranks (``efdm``), so each region
is transferred on its own.

Covariances are decomposed in float64 with a ridge ``eps`` added to the
diagonal (the same ``1e-5`` as AdaIN's variance floor), so flat or
rank-deficient features (flat images, images with fewer feature positions than
channels) give finite results, never NaNs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from adain.errors import UsageError
from adain.ops import EPS, StyleStats, adain_with_stats, mean_std

METHODS: tuple[str, ...] = ("adain", "wct", "efdm")
QUANTILES = 4096  # levels of an efdm quantile function (relu4_1 of a 512x512 style has 64x64 = 4096 positions)
FLAT = 1e-8  # a style whose features vary less than this (mean variance per channel) is a flat image

Stats = dict[str, Tensor]


def check_method(method: str) -> str:
    """Return ``method`` if it is one of :data:`METHODS`, else raise a one-line :class:`UsageError`."""
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    return method


def _check_features(x: Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} must be a (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contain NaN or infinite values")


def _flat_weights(x: Tensor, mask: Tensor | None) -> Tensor | None:
    """Mask ``(N or 1, 1, H, W)`` → float64 weights ``(N or 1, 1, H·W)``, checked against features ``x``."""
    if mask is None:
        return None
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[2:] != x.shape[2:]:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit features of shape {tuple(x.shape)}")
    w = mask.to(torch.float64).flatten(2)
    if bool((w.sum(-1) <= 0).any()):
        raise ValueError("mask covers no position of the feature map")
    return w


# ---------------------------------------------------------------- wct


def covariance(x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-sample channel mean and (population) covariance in float64.

    Args:
        x: features ``(N, C, H, W)``.
        mask: optional weights in [0, 1], ``(N or 1, 1, H, W)``: statistics of the masked region.

    Returns:
        ``(mean, cov)``: ``(N, C, 1, 1)`` and ``(N, C, C)``, float64.

    Example:
        >>> mean, cov = covariance(torch.randn(2, 8, 5, 5))
        >>> cov.shape
        torch.Size([2, 8, 8])
    """
    f = x.to(torch.float64).flatten(2)  # (N, C, L)
    w = _flat_weights(x, mask)
    if w is None:
        mean = f.mean(-1, keepdim=True)
        centred = f - mean
        cov = centred @ centred.transpose(1, 2) / f.shape[-1]
    else:
        total = w.sum(-1, keepdim=True)
        mean = (f * w).sum(-1, keepdim=True) / total
        centred = f - mean
        cov = (centred * w) @ centred.transpose(1, 2) / total
    return mean[..., None], cov


def matrix_power(cov: Tensor, power: float, eps: float = EPS) -> Tensor:
    """``(cov + eps·I) ** power`` of symmetric positive semi-definite matrices ``(N, C, C)``, in float64.

    The ridge ``eps`` bounds the eigenvalues away from zero, so ``power = -0.5``
    (whitening) of a singular covariance stays finite.

    Example:
        >>> m = torch.diag(torch.tensor([4.0, 9.0])).double()[None]
        >>> matrix_power(m, 0.5, eps=0).diagonal(dim1=1, dim2=2)
        tensor([[2., 3.]], dtype=torch.float64)
    """
    eye = torch.eye(cov.shape[-1], dtype=torch.float64, device=cov.device)
    vals, vecs = torch.linalg.eigh(cov.to(torch.float64) + eps * eye)
    vals = vals.clamp_min(max(eps, torch.finfo(torch.float64).tiny))  # eigh's rounding can give tiny negatives
    return (vecs * vals.pow(power)[:, None, :]) @ vecs.transpose(1, 2)


def wct_stats(style: Tensor, eps: float = EPS) -> Stats:
    """Statistics of ``wct``: ``mean`` ``(N, C, 1, 1)`` and the colouring matrix ``colour`` = cov^½ ``(N, C, C)``.

    Args:
        style: style features ``(N, C, H, W)``, one style per sample.
    """
    _check_features(style, "style features")
    mean, cov = covariance(style)
    return {"mean": mean, "colour": matrix_power(cov, 0.5, eps)}


def wct_with_stats(content: Tensor, mean: Tensor, colour: Tensor, mask: Tensor | None = None, eps: float = EPS) -> Tensor:
    """Whiten the content features, colour them with a style's covariance.

    ``t = colour · cov(c)^-½ · (c − μ(c)) + mean``, so ``cov(t) = colour²`` (the
    style's covariance) and ``μ(t)`` is the style's mean; with ``mask`` the
    content's mean and covariance are those of the masked region.

    Args:
        content: ``(N, C, H, W)``.
        mean: ``(N or 1, C, 1, 1)``; colour: ``(N or 1, C, C)`` (see :func:`wct_stats`).
        mask: optional ``(N or 1, 1, H, W)``.

    Returns:
        ``(N, C, H, W)`` float32.

    Example:
        >>> c, s = torch.randn(1, 4, 8, 8), 3 * torch.randn(1, 4, 8, 8)
        >>> t = wct_with_stats(c, **wct_stats(s))
        >>> torch.allclose(covariance(t)[1], covariance(s)[1], atol=1e-3)
        True
    """
    _check_features(content, "content features")
    n, c, h, w = content.shape
    if colour.shape[1:] != (c, c) or mean.shape[1:] != (c, 1, 1) or colour.shape[0] not in (1, n) or mean.shape[0] != colour.shape[0]:
        raise ValueError(f"wct statistics {tuple(mean.shape)} / {tuple(colour.shape)} do not fit content features {tuple(content.shape)}")
    c_mean, c_cov = covariance(content, mask)
    whitened = matrix_power(c_cov, -0.5, eps) @ (content.to(torch.float64) - c_mean).flatten(2)
    out = colour.to(whitened) @ whitened + mean.to(whitened).flatten(2)
    return out.reshape(n, c, h, w).float()


def wct(content: Tensor, style: Tensor, eps: float = EPS) -> Tensor:
    """WCT(c, s): the content features with the style's channel mean and covariance.

    Args:
        content: ``(N, C, H, W)``; style: ``(N or 1, C, H', W')``.

    Returns:
        ``(N, C, H, W)`` float32.
    """
    return wct_with_stats(content, **wct_stats(style, eps), eps=eps)


# ---------------------------------------------------------------- efdm


def sample_sorted(sorted_values: Tensor, p: Tensor) -> Tensor:
    """The quantile function of sorted samples at probabilities ``p`` (linear interpolation).

    Sample ``i`` of ``L`` sits at probability ``(i + ½) / L``; outside the
    first and last of these the end values are kept.

    Args:
        sorted_values: ``(..., L)``, ascending along the last axis.
        p: ``(..., M)`` in [0, 1] (float64 keeps positions exact).

    Returns:
        ``(..., M)``.

    Example:
        >>> sample_sorted(torch.tensor([0.0, 10.0]), torch.tensor([0.25, 0.5, 0.75]))
        tensor([ 0.,  5., 10.])
    """
    n = sorted_values.shape[-1]
    x = (p.to(torch.float64) * n - 0.5).clamp(0, n - 1)
    lo = x.floor().long().clamp(max=n - 1)
    hi = (lo + 1).clamp(max=n - 1)
    frac = (x - lo).to(sorted_values.dtype)
    a, b = sorted_values.gather(-1, lo), sorted_values.gather(-1, hi)
    return a + frac * (b - a)


def quantiles(x: Tensor, levels: int = QUANTILES) -> Tensor:
    """Per-channel quantile function of features ``(N, C, H, W)`` sampled at ``levels`` → ``(N, C, levels)``.

    With ``levels = H·W`` these are exactly the sorted values.

    Example:
        >>> quantiles(torch.tensor([3.0, 1.0, 2.0, 0.0]).view(1, 1, 2, 2), 4)
        tensor([[[0., 1., 2., 3.]]])
    """
    if levels < 1:
        raise UsageError(f"quantile levels must be at least 1, got {levels}")
    sorted_values = x.float().flatten(2).sort(-1).values
    p = (torch.arange(levels, dtype=torch.float64, device=x.device) + 0.5) / levels
    return sample_sorted(sorted_values, p.expand(*sorted_values.shape[:2], levels))


def _ranks(content: Tensor, w: Tensor | None) -> tuple[Tensor, Tensor]:
    """Sort order ``(N, C, L)`` of flattened content features and each sorted value's probability.

    Ties are averaged: equal values get the mean probability of their run, so
    a flat area (relu4_1 is about half zeros) maps to one value instead of a
    ramp in raster order. With weights ``w`` ``(N or 1, 1, L)`` the
    probabilities are those of the weighted empirical distribution (a value's
    weight centred on its place), i.e. the ranks within a soft region.
    """
    f = content.float().flatten(2)
    values, order = f.sort(-1)
    if w is None:
        weight = torch.ones_like(values, dtype=torch.float64)
    else:
        weight = w.expand_as(f).gather(-1, order)
    cum = weight.cumsum(-1)
    p = (cum - weight / 2) / cum[..., -1:]
    # average p over runs of equal values (weighted by their weights)
    new_run = torch.ones_like(values, dtype=torch.bool)
    new_run[..., 1:] = values[..., 1:] != values[..., :-1]
    run = new_run.cumsum(-1) - 1  # run index within each row
    p_sum = torch.zeros_like(p).scatter_add_(-1, run, p * weight)
    w_sum = torch.zeros_like(p).scatter_add_(-1, run, weight)
    p_run = p_sum.gather(-1, run) / w_sum.gather(-1, run).clamp_min(torch.finfo(torch.float64).tiny)
    return order, torch.where(w_sum.gather(-1, run) > 0, p_run, p)


def efdm_with_stats(content: Tensor, quantiles: Tensor, mask: Tensor | None = None) -> Tensor:
    """Exact histogram matching: each content value becomes the style's value of the same rank.

    Per sample and channel, the content value of (probability) rank ``p``
    becomes the style's quantile at ``p``; with ``mask`` the ranks are those
    within the masked region (weighted by a soft mask). When the content has
    as many positions as ``quantiles`` has levels and no ties, the sorted
    output equals the quantiles exactly.

    Args:
        content: ``(N, C, H, W)``.
        quantiles: ``(N or 1, C, Q)`` ascending (see :func:`efdm_stats`).
        mask: optional ``(N or 1, 1, H, W)``.

    Returns:
        ``(N, C, H, W)`` float32.

    Example:
        >>> c, s = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
        >>> t = efdm_with_stats(c, quantiles(s, 16))
        >>> torch.equal(t.flatten(2).sort(-1).values, s.flatten(2).sort(-1).values)
        True
    """
    _check_features(content, "content features")
    n, c = content.shape[:2]
    if quantiles.dim() != 3 or quantiles.shape[1] != c or quantiles.shape[0] not in (1, n):
        raise ValueError(f"efdm quantiles of shape {tuple(quantiles.shape)} do not fit content features {tuple(content.shape)}")
    order, p = _ranks(content, _flat_weights(content, mask))
    q = quantiles.float().to(content.device).expand(n, -1, -1)
    matched = sample_sorted(q, p)
    out = torch.empty_like(matched).scatter_(-1, order, matched)
    return out.view(content.shape)


def efdm(content: Tensor, style: Tensor) -> Tensor:
    """EFDM(c, s): each channel of the content takes the style's histogram (same size: exactly).

    Args:
        content: ``(N, C, H, W)``; style: ``(N or 1, C, H', W')``.

    Returns:
        ``(N, C, H, W)`` float32.
    """
    return efdm_with_stats(content, quantiles(style, style.shape[2] * style.shape[3]))


# ---------------------------------------------------------------- any method


def check_varies(style: Tensor, name: str = "style") -> None:
    """Raise a one-line :class:`UsageError` if features ``(N, C, H, W)`` do not vary over space (a flat image).

    A single-colour image has exactly constant features (reflection padding):
    no texture, no covariance, nothing to transfer.
    """
    var = style.float().flatten(2).var(-1, correction=0).mean(-1)
    if bool((var < FLAT).any()):
        raise UsageError(f"{name} is a flat image (its features do not vary): it has no texture to transfer")


def style_statistics(style: Tensor, method: str = "adain", levels: int = QUANTILES) -> StyleStats:
    """Style features ``(N, C, H, W)`` (N styles of one size) → ``method``'s :class:`StyleStats` (K = N).

    ``mean`` and ``std`` are always there; ``wct`` adds ``colour``, ``efdm`` ``quantiles``.

    Example:
        >>> stats = style_statistics(torch.randn(1, 8, 6, 6), "wct")
        >>> stats.mean.shape, stats.colour.shape
        (torch.Size([1, 8, 1, 1]), torch.Size([1, 8, 8]))
    """
    check_method(method)
    _check_features(style, "style features")
    mean, std = mean_std(style)
    if method == "wct":
        return StyleStats(mean, std, method, colour=wct_stats(style)["colour"])
    if method == "efdm":
        return StyleStats(mean, std, method, quantiles=quantiles(style, levels))
    return StyleStats(mean, std, method)


def mix_statistics(stats: StyleStats, weights: Tensor) -> StyleStats:
    """Interpolate K styles: the ``weights``-weighted sum ``(K,)`` of each statistics tensor, K → 1.

    See the module docstring for what this means per method.
    """
    if len(stats) != weights.numel():
        raise UsageError(f"{weights.numel()} weights for {len(stats)} styles")
    mixed = {}
    for name, value in stats.tensors().items():
        w = weights.to(value).view(-1, *([1] * (value.dim() - 1)))
        mixed[name] = (w * value).sum(0, keepdim=True)
    return StyleStats(method=stats.method, **mixed)


def apply_statistics(content: Tensor, stats: StyleStats, mask: Tensor | None = None,
                     content_stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Transfer style statistics (K = 1 or N) onto content features ``(N, C, H, W)`` with their method.

    Args:
        mask: optional ``(N or 1, 1, H, W)``: the content statistics are those of this region.
        content_stats: the content's mean and std to normalise with instead of its own, each ``(N or 1, C, 1, 1)``
            (:func:`~adain.ops.adain_with_stats`); ``adain`` only: ``wct`` and ``efdm`` take the content's whole
            covariance or ranks, which a mean and std do not give.

    Returns:
        ``(N, C, H, W)`` float32.

    Raises:
        UsageError: ``content_stats`` for ``wct`` or ``efdm``.
    """
    method = check_method(stats.method)
    if content_stats is not None and method != "adain":
        raise UsageError(f"given content statistics (a mean and std) work with method adain only, not {method}")
    if method == "wct":
        return wct_with_stats(content, stats.mean, _needed(stats, "colour"), mask)
    if method == "efdm":
        return efdm_with_stats(content, _needed(stats, "quantiles"), mask)
    return adain_with_stats(content, stats.mean, stats.std, mask, content_stats=content_stats)


def _needed(stats: StyleStats, name: str) -> Tensor:
    """``stats.<name>``, or a one-line error if these statistics were encoded for another method."""
    value = getattr(stats, name)
    if value is None:
        raise UsageError(f"{stats.method} needs the style statistics {name}, which these do not have (encode the styles for {stats.method})")
    return value
