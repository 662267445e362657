"""Texture synthesis with the style-transfer networks: a texture of any size from one style image.

The style's statistics (of any transfer method) are applied to the relu4_1
features of a noise image, and the decoder turns them into a picture
(:func:`decode_texture`). Optionally a few optimisation steps on the pixels
then lower the Gram loss to the style (Gatys et al. 2015) at relu1_1 … relu4_1
(:func:`refine_texture`). ``tileable``: every convolution pads circularly and
the noise is periodic, so the texture wraps around seamlessly.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from adain.errors import UsageError
from adain.losses import gram
from adain.methods import apply_statistics

TILE_MULTIPLE = 8  # a tileable texture's sides: the encoder's downsampling
REFINE_LR = 0.02  # Adam step on pixels in [0, 1]


def noise_image(height: int, width: int, *, seed: int = 0, beta: float = 1.0) -> Tensor:
    """Grey noise with a ``1/f^beta`` spectrum, periodic in both directions: ``(3, height, width)`` in [0, 1].

    ``beta = 1`` gives structure at every scale (white noise, ``beta = 0``,
    only at the finest). Grey, so the noise brings no colour of its own.

    Example:
        >>> noise_image(16, 24, seed=1).shape
        torch.Size([3, 16, 24])
    """
    g = torch.Generator().manual_seed(seed)
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None]
    f = (fx**2 + fy**2).sqrt()
    f[0, 0] = 1.0
    spectrum = torch.randn(height, width // 2 + 1, dtype=torch.complex64, generator=g) / f**beta
    spectrum[0, 0] = 0.0
    x = torch.fft.irfft2(spectrum, s=(height, width))
    x = x / x.std().clamp_min(1e-12) * 0.2 + 0.5
    return x.clamp(0, 1).expand(3, -1, -1).contiguous()


def circular(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose reflection paddings are circular (the original is left as it is)."""
    out = copy.deepcopy(module)
    for name, child in list(out.named_modules()):
        if isinstance(child, nn.ReflectionPad2d):
            parent = out.get_submodule(name.rpartition(".")[0]) if "." in name else out
            setattr(parent, name.rpartition(".")[2], nn.CircularPad2d(child.padding))
    return out


def check_texture_size(height: int, width: int, tileable: bool, min_side: int = 16) -> None:
    """Raise a one-line ``ValueError`` for a side under ``min_side``, or (tileable) not a multiple of 8."""
    if min(height, width) < min_side:
        raise UsageError(f"texture size {width}x{height}: each side must be at least {min_side} px")
    if tileable and (height % TILE_MULTIPLE or width % TILE_MULTIPLE):
        up = lambda v: -(-v // TILE_MULTIPLE) * TILE_MULTIPLE  # noqa: E731
        raise UsageError(f"a tileable texture needs sides that are multiples of {TILE_MULTIPLE}, got {width}x{height} (try {up(width)}x{up(height)})")


def decode_texture(
    encode: Callable[[Tensor], Tensor],
    decode: Callable[[Tensor], Tensor],
    stats: dict[str, Tensor],
    method: str,
    noise: Tensor,
) -> Tensor:
    """``decode(apply_statistics(encode(noise)))``: the style's statistics on noise features.

    Args:
        encode: images ``(1, 3, H, W)`` → relu4_1 ``(1, 512, H/8, W/8)``.
        decode: relu4_1 features → images ``(1, 3, H, W)`` in [0, 1].
        stats: one style's statistics for ``method`` (batch 1).
        noise: ``(3, H, W)``, sides multiples of 8.

    Returns:
        ``(3, H, W)`` in [0, 1].
    """
    return decode(apply_statistics(encode(noise[None]), stats, method))[0]


def gram_loss(feats: list[Tensor], targets: list[Tensor]) -> Tensor:
    """Σ over taps of mse(Gram(feature), target Gram) → scalar."""
    return sum(((gram(f) - t) ** 2).mean() for f, t in zip(feats, targets, strict=True))


def refine_texture(
    image: Tensor,
    style: Tensor,
    encoder: nn.Module,
    steps: int,
    *,
    lr: float = REFINE_LR,
    on_step: Callable[[float], None] | None = None,
) -> Tensor:
    """Lower the Gram loss of ``image`` to ``style`` by ``steps`` Adam steps on the pixels.

    Args:
        image: start ``(3, H, W)`` in [0, 1]; style: ``(3, H', W')``.
        encoder: returns the list of tap features for ``(N, 3, H, W)`` images.
        on_step: called with the loss after each step (progress).

    Returns:
        ``(3, H, W)`` in [0, 1].
    """
    if steps < 0:
        raise UsageError(f"refine steps must be ≥ 0, got {steps}")
    device = next(encoder.parameters()).device
    with torch.no_grad():
        targets = [gram(f) for f in encoder(style[None].to(device))]
    x = image[None].to(device).clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = gram_loss(encoder(x), targets)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        if on_step is not None:
            on_step(loss.item())
    return x.detach()[0].cpu()
