"""Gradients of the ops and losses training backpropagates through (gradcheck), and the bf16 path the CPU default uses."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from adain.controls import Controls
from adain.losses import content_loss, gram_distance, style_distance, style_loss
from adain.ops import adain, adain_with_stats, mean_std
from adain.stylizer import Stylizer
from helpers import lively_nets

pytestmark = pytest.mark.usefixtures("one_thread")


def _x(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).requires_grad_()


def test_mean_std_gradients():
    x = _x(2, 3, 5, 4, seed=0)
    mask = torch.rand(1, 1, 5, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert gradcheck(lambda t: mean_std(t), (x,), fast_mode=True)
    assert gradcheck(lambda t: mean_std(t, mask=mask), (x,), fast_mode=True)


def test_adain_gradients():
    content, mean, std = _x(2, 3, 4, 4, seed=2), _x(1, 3, 1, 1, seed=3), _x(1, 3, 1, 1, seed=4)
    std_pos = std.detach().abs().add(0.5).requires_grad_()
    assert gradcheck(lambda c, m, s: adain_with_stats(c, m, s), (content, mean, std_pos), fast_mode=True)
    assert gradcheck(lambda c, s: adain(c, s), (content, _x(1, 3, 6, 5, seed=5)), fast_mode=True)


def test_loss_gradients():
    outs = [_x(1, 2, 6, 6, seed=6), _x(1, 3, 3, 3, seed=7)]
    styles = [torch.randn(1, 2, 5, 5, dtype=torch.float64), torch.randn(1, 3, 4, 4, dtype=torch.float64)]
    target = torch.randn(1, 3, 3, 3, dtype=torch.float64)
    assert gradcheck(lambda a, b: content_loss(b, target), tuple(outs), fast_mode=True)
    assert gradcheck(lambda a, b: style_loss([a, b], styles), tuple(outs), fast_mode=True)
    assert gradcheck(lambda a, b: style_loss([a, b], styles, "channels"), tuple(outs), fast_mode=True)
    assert gradcheck(lambda a, b: style_distance([a, b], styles), tuple(outs), fast_mode=True)
    assert gradcheck(lambda a, b: gram_distance([a, b], styles), tuple(outs), fast_mode=True)


def test_the_channels_balance_weighs_each_tap_by_its_channel_count():
    gen = torch.Generator().manual_seed(8)
    outs = [torch.randn(2, c, 4, 4, generator=gen) for c in (2, 6)]
    styles = [torch.randn(1, c, 4, 4, generator=gen) for c in (2, 6)]
    per_tap = [style_loss([o], [s]) for o, s in zip(outs, styles)]
    torch.testing.assert_close(style_loss(outs, styles), per_tap[0] + per_tap[1])
    torch.testing.assert_close(style_loss(outs, styles, "channels"), 0.5 * per_tap[0] + 1.5 * per_tap[1])
    with pytest.raises(ValueError, match="style balance must be one of uniform, channels"):
        style_loss(outs, styles, "layers")


def test_bf16_stylizer_stays_close_to_fp32(native_bf16):
    """bf16 autocast (the default on CPUs with native bf16, forced elsewhere) changes the result a little, not the picture."""
    encoder, decoder = lively_nets()
    fp32 = Stylizer(decoder, encoder=encoder, device="cpu", bf16=False)
    bf16 = Stylizer(decoder, encoder=encoder, device="cpu", bf16=True)
    assert Stylizer(decoder, encoder=encoder, device="cpu").bf16 == native_bf16  # the default follows the CPU
    gen = torch.Generator().manual_seed(0)
    content, styles = torch.rand(3, 48, 40, generator=gen), [torch.rand(3, 32, 32, generator=gen) for _ in range(2)]
    for controls in (Controls(), Controls(alpha=0.5, weights=[1, 2]), Controls(preserve_color="luminance")):
        a, b = fp32.stylize(content, styles, controls), bf16.stylize(content, styles, controls)
        assert b.dtype == torch.float32 and b.shape == a.shape
        diff = (a - b).abs()
        assert 0 < float(diff.mean()) < 0.02, float(diff.mean())  # bf16 did run, and stays close
        assert float(diff.max()) < 0.25
