"""Training losses of the paper, one forward pass of the objective, and the metrics of ``adain eval``.

Convention used for training (as the widely used PyTorch port): both terms are
mean squared errors, ``Lc = mse(f(g(t)), t)`` at relu4_1 and
``Ls = Σ_i mse(μ(φ_i(g(t))), μ(φ_i(s))) + mse(σ(φ_i(g(t))), σ(φ_i(s)))`` over
relu1_1 … relu4_1, with ``L = Lc + λ·Ls`` and λ = 10 by default. The original
Torch code uses summed (not averaged) criteria with ``-styleWeight 1e-2``;
docs/training.md says how the two map.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adain.encoder import TAPS, Encoder
from adain.errors import UsageError
from adain.ops import adain, mean_std, upcast


def content_loss(output_feat: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of relu4_1 features, ``(N, C, h, w)`` each → scalar."""
    return F.mse_loss(upcast(output_feat), upcast(target))


STYLE_BALANCES = ("uniform", "channels")
"""How :func:`style_loss` weighs its taps: equally (the PyTorch port), or by channel count (the original)."""


def style_tap_weights(feats: list[Tensor], balance: str = "uniform") -> list[float]:
    """The weight of each tap's term in :func:`style_loss`, averaging 1 over the taps.

    ``"channels"`` weighs tap *l* by its channel count ``C_l`` (the original Torch code sums
    over channels): 0.27, 0.53, 1.07, 2.13 for relu1_1..relu4_1.

    Example:
        >>> style_tap_weights([torch.zeros(1, c, 2, 2) for c in (64, 128, 256, 512)], "channels")
        [0.26666666666666666, 0.5333333333333333, 1.0666666666666667, 2.1333333333333333]
    """
    if balance not in STYLE_BALANCES:
        raise UsageError(f"style balance must be one of {', '.join(STYLE_BALANCES)}, got {balance!r}")
    if balance == "uniform":
        return [1.0] * len(feats)
    channels = [f.shape[1] for f in feats]
    return [len(channels) * c / sum(channels) for c in channels]


def style_loss(output_feats: list[Tensor], style_feats: list[Tensor], balance: str = "uniform") -> Tensor:
    """Σ over taps of w_l·(mse(μ) + mse(σ)) between output and style features → scalar (``w`` from :func:`style_tap_weights`)."""
    if len(output_feats) != len(style_feats):
        raise UsageError(f"{len(output_feats)} output taps but {len(style_feats)} style taps")
    total = output_feats[0].new_zeros((), dtype=torch.float32)
    for o, s, w in zip(output_feats, style_feats, style_tap_weights(style_feats, balance)):
        om, osd = mean_std(o)
        sm, ssd = mean_std(s)
        total = total + w * (F.mse_loss(om, sm.expand_as(om)) + F.mse_loss(osd, ssd.expand_as(osd)))
    return total


def style_distance(output_feats: list[Tensor], style_feats: list[Tensor]) -> Tensor:
    """The paper's evaluation style loss: Σ over taps of ‖μ(o) − μ(s)‖₂ + ‖σ(o) − σ(s)‖₂, per sample ``(N,)``."""
    return style_distance_stats(output_feats, [mean_std(s) for s in style_feats])


def style_distance_stats(output_feats: list[Tensor], style_stats: list[tuple[Tensor, Tensor]]) -> Tensor:
    """:func:`style_distance` against a style's per-tap ``(mean, std)``, each ``(1 or N, C, 1, 1)`` → ``(N,)``."""
    total = output_feats[0].new_zeros(output_feats[0].shape[0], dtype=torch.float32)
    for o, (sm, ssd) in zip(output_feats, style_stats, strict=True):
        om, osd = mean_std(o)
        total = total + (om - sm.to(om)).flatten(1).norm(dim=1) + (osd - ssd.to(osd)).flatten(1).norm(dim=1)
    return total


def gram(x: Tensor) -> Tensor:
    """Gram matrix normalised by the number of positions, ``(N, C, H, W)`` → ``(N, C, C)``."""
    n, c, h, w = x.shape
    f = upcast(x).reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def gram_distance(output_feats: list[Tensor], style_feats: list[Tensor]) -> Tensor:
    """Σ over taps of mse(Gram(o), Gram(s)), per sample ``(N,)``."""
    total = output_feats[0].new_zeros(output_feats[0].shape[0], dtype=torch.float32)
    for o, s in zip(output_feats, style_feats):
        total = total + (gram(o) - gram(s)).pow(2).mean(dim=(1, 2))
    return total


def loss_terms(encoder: Encoder, decoder: nn.Module, content: Tensor, style: Tensor, balance: str = "uniform") -> tuple[Tensor, Tensor, Tensor]:
    """One forward pass of the objective.

    Args:
        content, style: ``(N, 3, H, W)`` RGB in [0, 1].
        balance: the weights of the style taps (:func:`style_tap_weights`).

    Returns:
        ``(Lc, Ls, output image (N, 3, H, W))``.
    """
    with torch.no_grad():
        c4 = encoder.encode(content)
        s_feats = encoder(style)
        t = adain(c4, s_feats[-1])
    out = decoder(t)
    o_feats = encoder(out)
    return content_loss(o_feats[-1], t), style_loss(o_feats, s_feats, balance), out


def distill_terms(
    encoder: Encoder, teacher: nn.Module, student: Callable[[Tensor, Tensor], Tensor], content: Tensor, style: Tensor, balance: str = "uniform"
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One forward pass of a student's objective: the paper's two terms, plus the distance to the teacher.

    The student maps ``(content, style)`` to an image itself; the teacher is the full model's decoder
    on the same AdaIN target ``t``, whose image the student is pulled toward (mean absolute error of
    the pixels). ``Lc`` is taken against ``t`` as for the decoder.

    Args:
        content, style: ``(N, 3, H, W)`` RGB in [0, 1].

    Returns:
        ``(Lc, Ls, Ld, student's image (N, 3, H, W))``.
    """
    with torch.no_grad():
        c4 = encoder.encode(content)
        s_feats = encoder(style)
        t = adain(c4, s_feats[-1])
        target = teacher(t)
    out = student(content, style)
    o_feats = encoder(out)
    distill = F.l1_loss(upcast(out), upcast(target))
    return content_loss(o_feats[-1], t), style_loss(o_feats, s_feats, balance), distill, out


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
        raise UsageError(f"the metrics need an encoder up to relu5_1, this one stops at {encoder.taps[-1]}")
    if output.shape != content.shape or output.dim() != 4 or output.shape[0] != 1:
        raise UsageError(f"output {tuple(output.shape)} and content {tuple(content.shape)} must be one image of the same size")
    out_f, style_f = encoder(output.float()), encoder(style.float())
    n = len(TAPS)
    return {
        "content": content_loss(out_f[n - 1], encoder.encode(content.float())).item(),
        "style": style_distance(out_f[:n], style_f[:n]).item(),
        "gram": gram_distance(out_f, style_f).item(),
    }
