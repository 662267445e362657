"""Training losses of the paper (and the metrics of ``adain eval``).

Convention used for training (as the widely used PyTorch port): both terms are
mean squared errors, ``Lc = mse(f(g(t)), t)`` at relu4_1 and
``Ls = Σ_i mse(μ(φ_i(g(t))), μ(φ_i(s))) + mse(σ(φ_i(g(t))), σ(φ_i(s)))`` over
relu1_1 … relu4_1, with ``L = Lc + λ·Ls`` and λ = 10 by default. The original
Torch code uses summed (not averaged) criteria with ``-styleWeight 1e-2``;
see the README for how the two map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from adain.ops import mean_std


def content_loss(output_feat: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of relu4_1 features, ``(N, C, h, w)`` each → scalar."""
    return F.mse_loss(output_feat.float(), target.float())


def style_loss(output_feats: list[Tensor], style_feats: list[Tensor]) -> Tensor:
    """Σ over taps of mse(μ) + mse(σ) between output and style features → scalar."""
    if len(output_feats) != len(style_feats):
        raise ValueError(f"{len(output_feats)} output taps but {len(style_feats)} style taps")
    total = output_feats[0].new_zeros((), dtype=torch.float32)
    for o, s in zip(output_feats, style_feats):
        om, osd = mean_std(o)
        sm, ssd = mean_std(s)
        total = total + F.mse_loss(om, sm.expand_as(om)) + F.mse_loss(osd, ssd.expand_as(osd))
    return total


def style_distance(output_feats: list[Tensor], style_feats: list[Tensor]) -> Tensor:
    """The paper's evaluation style loss: Σ over taps of ‖μ(o) − μ(s)‖₂ + ‖σ(o) − σ(s)‖₂, per sample ``(N,)``."""
    total = output_feats[0].new_zeros(output_feats[0].shape[0], dtype=torch.float32)
    for o, s in zip(output_feats, style_feats):
        om, osd = mean_std(o)
        sm, ssd = mean_std(s)
        total = total + (om - sm).flatten(1).norm(dim=1) + (osd - ssd).flatten(1).norm(dim=1)
    return total


def gram(x: Tensor) -> Tensor:
    """Gram matrix normalised by the number of positions, ``(N, C, H, W)`` → ``(N, C, C)``."""
    n, c, h, w = x.shape
    f = x.float().reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def gram_distance(output_feats: list[Tensor], style_feats: list[Tensor]) -> Tensor:
    """Σ over taps of mse(Gram(o), Gram(s)), per sample ``(N,)``."""
    total = output_feats[0].new_zeros(output_feats[0].shape[0], dtype=torch.float32)
    for o, s in zip(output_feats, style_feats):
        total = total + (gram(o) - gram(s)).pow(2).mean(dim=(1, 2))
    return total
