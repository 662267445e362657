"""The lite network in torch: what ``adain train --model lite`` trains and ``adain.lite.onnx`` exports.

A micro encoder ``E`` (three stages, full, 1/2 and 1/4 resolution) and a micro decoder ``D`` that
mirrors it. The style enters as per-channel statistics of ``E``'s three stages: AdaIN at the
bottleneck, and at each of the decoder's two upsampled stages its features are instance-normalised
and given the style's statistics of the matching encoder stage (multi-level AdaIN). So every
control of the full model keeps its meaning: α mixes the content's own statistics with the style's,
several styles mix their statistics, masks make the statistics spatial maps. About 0.18 M
parameters, 24 k multiply-adds a pixel (the full model: ≈ 1 M).

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

from adain.atomic import atomic_path
from adain.errors import WeightsError
from adain.lite.weights import FORMAT, read_lite_metadata
from adain.ops import EPS

WIDTHS = (16, 32, 64)
"""Channels of the encoder's three stages (full, 1/2 and 1/4 resolution)."""

Stats = list[tuple[Tensor, Tensor]]
"""Per stage ``(mean, std)``, each ``(N, C_l, 1, 1)``, or spatial maps ``(N, C_l, H_l, W_l)``."""


def _conv(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3, stride)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def stage_stats(x: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std over space, ``(N, C, H, W)`` → two ``(N, C, 1, 1)`` (population variance + ``eps``)."""
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    return mean, (var + eps).sqrt()


def modulate(x: Tensor, mean: Tensor, std: Tensor, eps: float = EPS) -> Tensor:
    """Instance-normalise ``x`` ``(N, C, H, W)`` and give it the target ``mean``/``std`` (``(N, C, 1, 1)`` or maps that broadcast)."""
    m, s = stage_stats(x, eps)
    return (x - m) / s * std + mean


class LiteEncoder(nn.Module):
    """``(N, 3, H, W)`` RGB in [0, 1] (H, W multiples of 4) → the three stages' features,
    ``(N, C_1, H, W)``, ``(N, C_2, H/2, W/2)``, ``(N, C_3, H/4, W/4)``."""

    def __init__(self, widths: tuple[int, int, int] = WIDTHS) -> None:
        super().__init__()
        c1, c2, c3 = widths
        self.stage1 = _conv(3, c1)
        self.stage2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.stage3 = nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3))

    def forward(self, image: Tensor) -> list[Tensor]:
        f1 = self.stage1(image * 2 - 1)
        f2 = self.stage2(f1)
        return [f1, f2, self.stage3(f2)]


class LiteDecoder(nn.Module):
    """Bottleneck features ``(N, C_3, h, w)`` and per-stage targets → image ``(N, 3, 4h, 4w)`` (unclamped)."""

    def __init__(self, widths: tuple[int, int, int] = WIDTHS) -> None:
        super().__init__()
        c1, c2, c3 = widths
        self.bottleneck = nn.Sequential(_conv(c3, c3), _conv(c3, c3))
        self.up2 = _conv(c3, c2)
        self.stage2 = _conv(c2, c2)
        self.up1 = _conv(c2, c1)
        self.out = _conv(c1, 3, relu=False)

    def forward(self, f3: Tensor, targets: Stats) -> Tensor:
        (m1, s1), (m2, s2), (m3, s3) = targets
        x = self.bottleneck(modulate(f3, m3, s3))
        x = self.up2(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        x = self.stage2(modulate(x, m2, s2))
        x = self.up1(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.out(modulate(x, m1, s1))


class LiteNet(nn.Module):
    """The whole lite network: ``forward(content, style)`` is ``D(E(c)_3, stats(E(s)))``.

    Example:
        >>> net = LiteNet()
        >>> net(torch.rand(1, 3, 64, 48), torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 3, 64, 48])
    """

    def __init__(self, widths: tuple[int, int, int] = WIDTHS) -> None:
        super().__init__()
        self.widths: tuple[int, int, int] = (int(widths[0]), int(widths[1]), int(widths[2]))
        self.encoder = LiteEncoder(self.widths)
        self.decoder = LiteDecoder(self.widths)

    def style_stats(self, style: Tensor) -> Stats:
        """The targets of a style image ``(N, 3, H, W)``: each stage's ``(mean, std)``."""
        return [stage_stats(f) for f in self.encoder(style)]

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        return self.decoder(self.encoder(content)[-1], self.style_stats(style))


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
