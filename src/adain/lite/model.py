"""The lite network in torch: what ``adain train --model lite`` trains and :mod:`adain.lite.export` writes as ONNX graphs.

A micro encoder ``E`` (four stages, at full, 1/2, 1/4 and 1/8 resolution) and a micro decoder ``D``
that mirrors it, with skip connections from the content's encoder stages (its structure at every scale). The style
enters as per-channel statistics of ``E``'s stages: AdaIN at the bottleneck, and at each of the decoder's upsampled
stages its features are instance-normalised and given the style's statistics of the matching encoder stage
(multi-level AdaIN). So every
control of the full model keeps its meaning: α mixes the content's own statistics with the style's,
several styles mix their statistics, masks make the statistics spatial maps. About 0.7 M
parameters and 35 k multiply-adds a pixel (the full model: ≈ 0.5 M a pixel).

Stylizing never needs torch: :mod:`adain.lite.runtime` runs the exported graphs in ONNX Runtime.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from adain.errors import WeightsError
from adain.io.atomic import atomic_path
from adain.lite.weights import FORMAT, read_lite_metadata
from adain.ops import EPS

WIDTHS = (16, 32, 64, 128)
"""Channels of the encoder's stages, at full, 1/2, 1/4 and 1/8 resolution (the bottleneck's grid is relu4_1's)."""

Stats = list[tuple[Tensor, Tensor]]
"""Per stage ``(mean, std)``, each ``(N, C_l, 1, 1)``, or spatial maps ``(N, C_l, H_l, W_l)``."""


def _conv(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3, stride)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def _zero_conv(channels: int) -> nn.Conv2d:
    """A 1x1 convolution with zero weights and bias (a skip connection that starts closed)."""
    conv = nn.Conv2d(channels, channels, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()  # type: ignore[union-attr]  # a Conv2d made with its default bias=True
    return conv


def stage_stats(x: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std over space, ``(N, C, H, W)`` → two ``(N, C, 1, 1)`` (population variance + ``eps``)."""
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    return mean, (var + eps).sqrt()


def modulate(x: Tensor, mean: Tensor, std: Tensor, eps: float = EPS) -> Tensor:
    """Instance-normalise ``x`` ``(N, C, H, W)`` and give it the target ``mean``/``std`` (``(N, C, 1, 1)`` or maps that broadcast)."""
    m, s = stage_stats(x, eps)
    return (x - m) / s * std + mean


class LiteEncoder(nn.Module):
    """``(N, 3, H, W)`` RGB in [0, 1] (H, W multiples of ``2^(L−1)``) → the ``L`` stages' features, stage ``l`` ``(N, C_l, H/2^l, W/2^l)``
    (``l`` from 0): one convolution at full resolution, then per stage a strided convolution and one more."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        self.stages = nn.ModuleList([_conv(3, widths[0])])
        self.stages.extend(nn.Sequential(_conv(cin, cout, 2), _conv(cout, cout)) for cin, cout in zip(widths, widths[1:]))

    def forward(self, image: Tensor) -> list[Tensor]:
        x, feats = image * 2 - 1, []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class LiteDecoder(nn.Module):
    """The content's encoder features (stages ``0 … L−1``, the last the bottleneck ``(N, C_L, h, w)``) and per-stage
    targets → image ``(N, 3, 2^(L−1)·h, 2^(L−1)·w)`` (unclamped).

    AdaIN at the bottleneck, two convolutions; then per finer stage a 2x nearest upsampling and a convolution to its
    width, plus a 1x1 convolution of the content's features of that stage (a skip connection: the content's structure
    at every scale), given that stage's targets (:func:`modulate`), and one more convolution (at full resolution the one
    to RGB). The skips start at zero, so a network without them is the same function with zero skip weights."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        self.bottleneck = nn.Sequential(_conv(widths[-1], widths[-1]), _conv(widths[-1], widths[-1]))
        finer = list(reversed(widths[:-1]))
        self.ups = nn.ModuleList(_conv(cin, cout) for cin, cout in zip([widths[-1], *finer], finer))
        self.skips = nn.ModuleList(_zero_conv(c) for c in finer)
        self.afters = nn.ModuleList(_conv(c, c) for c in finer[:-1])
        self.out = _conv(widths[0], 3, relu=False)

    def forward(self, feats: list[Tensor], targets: Stats) -> Tensor:
        x = self.bottleneck(modulate(feats[-1], *targets[-1]))
        finer = zip(self.ups, self.skips, reversed(feats[:-1]), reversed(targets[:-1]), strict=True)
        for i, (up, skip, feat, (mean, std)) in enumerate(finer):
            x = modulate(up(F.interpolate(x, scale_factor=2.0, mode="nearest")) + skip(feat), mean, std)
            x = self.afters[i](x) if i < len(self.afters) else self.out(x)
        return x


class LiteNet(nn.Module):
    """The whole lite network: ``forward(content, style)`` is ``D(E(c), stats(E(s)))``.

    Example:
        >>> net = LiteNet()
        >>> net(torch.rand(1, 3, 64, 48), torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 3, 64, 48])
    """

    def __init__(self, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        self.widths: tuple[int, ...] = tuple(int(w) for w in widths)
        self.encoder = LiteEncoder(self.widths)
        self.decoder = LiteDecoder(self.widths)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (the bottleneck's stride)."""
        return 2 ** (len(self.widths) - 1)

    def style_stats(self, style: Tensor) -> Stats:
        """The targets of a style image ``(N, 3, H, W)``: each stage's ``(mean, std)``."""
        return [stage_stats(f) for f in self.encoder(style)]

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        return self.decoder(self.encoder(content), self.style_stats(style))


def save_lite(net: LiteNet, path: str | Path, metadata: dict | None = None) -> None:
    """Write the weights atomically as safetensors; metadata values are stored as JSON strings."""
    meta = {"format": FORMAT, "widths": json.dumps(list(net.widths))}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
    state = {k: v.detach().float().contiguous().cpu() for k, v in net.state_dict().items()}
    with atomic_path(Path(path)) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_lite(path: str | Path) -> LiteNet:
    """A lite network from its safetensors file (metadata in ``.metadata``), frozen, in eval mode.

    Raises:
        WeightsError: a missing, damaged or foreign file, or one whose tensors do not fit its widths.
    """
    meta = read_lite_metadata(path)
    widths = meta["widths"]
    try:
        with torch.device("meta"):
            net = LiteNet(widths)
        net.load_state_dict(load_file(str(path)), assign=True)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise WeightsError(f"{path}: not lite weights of widths {widths} ({str(exc).splitlines()[0][:120]})") from None
    object.__setattr__(net, "metadata", meta)  # a plain attribute, not a parameter or buffer
    return net.eval().requires_grad_(False)
