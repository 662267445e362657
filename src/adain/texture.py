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
from typing import TypeVar

import torch
from torch import Tensor, nn

from adain.errors import UsageError
from adain.limits import MAX_TEXTURE_PIXELS, MIN_SIDE
from adain.losses import gram
from adain.methods import apply_statistics
from adain.ops import StyleStats
from adain.schema import short_number
from adain.stylizer import Stylizer

M = TypeVar("M", bound=nn.Module)
TILE_MULTIPLE = 8  # a tileable texture's sides: the encoder's downsampling
REFINE_LR = 0.02  # Adam step on pixels in [0, 1]
SEEDS = range(0, 2**64)
"""The seeds a texture takes (those of ``torch.Generator.manual_seed``): the one bound of the CLI, the API and the server."""
REFINE_STEPS = range(0, 1001)
"""The refinement steps a texture may ask for (a 512 px step takes about a second on a CPU: at most ~15 minutes);
the server's own ``max_refine`` is lower still."""


def check_texture_options(seed: int, refine: int, *, max_refine: int = REFINE_STEPS[-1], names: tuple[str, str] = ("seed", "refine steps")) -> None:
    """Raise a one-line :class:`UsageError` for a seed outside :data:`SEEDS` or refinement steps outside
    ``0..max_refine`` (at most :data:`REFINE_STEPS`' last); ``names``: what to call the two (the CLI's options)."""
    if seed not in SEEDS:
        raise UsageError(f"{names[0]} must be in {SEEDS[0]}..{SEEDS[-1]}, got {short_number(seed)}")
    if not 0 <= refine <= min(max_refine, REFINE_STEPS[-1]):
        raise UsageError(f"{names[1]} must be in 0..{min(max_refine, REFINE_STEPS[-1])}, got {short_number(refine)}")


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


def circular(module: M) -> M:
    """A copy of ``module`` whose reflection paddings are circular (the original is left as it is)."""
    out = copy.deepcopy(module)
    for name, child in list(out.named_modules()):
        if isinstance(child, nn.ReflectionPad2d):
            parent = out.get_submodule(name.rpartition(".")[0]) if "." in name else out
            setattr(parent, name.rpartition(".")[2], nn.CircularPad2d(child.padding))
    return out


def round_up(side: int) -> int:
    """The next multiple of 8 (the encoder's downsampling) from ``side`` up."""
    return -(-side // TILE_MULTIPLE) * TILE_MULTIPLE


def check_texture_size(height: int, width: int, tileable: bool, *, min_side: int = MIN_SIDE, max_pixels: int = MAX_TEXTURE_PIXELS) -> None:
    """Raise a one-line :class:`UsageError` for a side under ``min_side``, over ``max_pixels`` (the server passes its own value,
    ``Limits.max_output_pixels``), or (tileable) not a multiple of 8."""
    if min(height, width) < min_side:
        raise UsageError(f"texture size {width}x{height}: each side must be at least {min_side} px")
    if height * width > max_pixels:
        raise UsageError(f"texture size {width}x{height} = {width * height} pixels is over the limit of {max_pixels}")
    if tileable and (height % TILE_MULTIPLE or width % TILE_MULTIPLE):
        suggestion = f"{round_up(width)}x{round_up(height)}"
        raise UsageError(f"a tileable texture needs sides that are multiples of {TILE_MULTIPLE}, got {width}x{height} (try {suggestion})")


def decode_texture(
    encode: Callable[[Tensor], Tensor],
    decode: Callable[[Tensor], Tensor],
    stats: StyleStats,
    noise: Tensor,
) -> Tensor:
    """``decode(apply_statistics(encode(noise)))``: the style's statistics on noise features.

    Args:
        encode: images ``(1, 3, H, W)`` → relu4_1 ``(1, 512, H/8, W/8)``.
        decode: relu4_1 features → images ``(1, 3, H, W)`` in [0, 1].
        stats: one style's statistics (any method, K = 1).
        noise: ``(3, H, W)``, sides multiples of 8.

    Returns:
        ``(3, H, W)`` in [0, 1].
    """
    return decode(apply_statistics(encode(noise[None]), stats))[0]


def gram_loss(feats: list[Tensor], targets: list[Tensor]) -> Tensor:
    """Σ over taps of mse(Gram(feature), target Gram) → scalar."""
    return torch.stack([((gram(f) - t) ** 2).mean() for f, t in zip(feats, targets, strict=True)]).sum()


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
    check_texture_options(0, steps)
    if steps == 0:
        return image
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


def synthesize_texture(
    stylizer: Stylizer,
    style: Tensor,
    height: int,
    width: int,
    *,
    method: str = "adain",
    seed: int = 0,
    tileable: bool = False,
    refine: int = 0,
    on_step: Callable[[float], None] | None = None,
) -> Tensor:
    """A ``height`` × ``width`` texture in the style of ``style`` ``(3, H', W')``.

    The style's statistics (``method``) on the features of :func:`noise_image`,
    decoded (:func:`decode_texture`), then ``refine`` Gram-loss steps
    (:func:`refine_texture`). ``tileable``: circular padding everywhere, so the
    result wraps around without a seam (sides must be multiples of 8).

    Returns:
        ``(3, height, width)`` in [0, 1].

    Raises:
        UsageError: a bad size, seed or number of steps (:func:`check_texture_options`), an unknown method, a flat style.
    """
    check_texture_size(height, width, tileable)
    check_texture_options(seed, refine)
    stats = stylizer.style_stats([style], method)
    net = stylizer
    if tileable:
        net = Stylizer(circular(stylizer.decoder), encoder=circular(stylizer.encoder), device=stylizer.device, bf16=stylizer.bf16)
    noise = noise_image(round_up(height), round_up(width), seed=seed)
    image = decode_texture(net.encode, lambda t: net.decode(t, (height, width)), stats, noise)
    return refine_texture(image.cpu(), style, net.encoder, refine, on_step=on_step)
