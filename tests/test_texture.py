"""Texture synthesis: noise, circular padding (tileable), refinement (size checks: tests/test_limits.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from adain.losses import gram
from adain.texture import circular, gram_loss, noise_image, refine_texture


def test_noise_is_grey_periodic_and_seeded():
    a = noise_image(32, 48, seed=3)
    assert a.shape == (3, 32, 48) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a[0], a[1]) and torch.equal(a[0], a[2])
    assert torch.equal(a, noise_image(32, 48, seed=3)) and not torch.equal(a, noise_image(32, 48, seed=4))
    assert float(a.std()) > 0.05


def test_circular_copy_wraps_and_leaves_the_original(tiny_encoder, one_thread):
    torch.manual_seed(0)
    net = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(2, 2, 3), nn.Upsample(scale_factor=2), nn.ReflectionPad2d(1), nn.Conv2d(2, 2, 3))
    wrapped = circular(net)
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in net.modules()) == 2
    assert not any(isinstance(m, nn.ReflectionPad2d) for m in wrapped.modules())
    # translation equivariance with wrap-around: shifting the input by one position shifts the output by 2
    t = torch.randn(1, 2, 4, 6)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(t.roll(1, dims=-1)), wrapped(t).roll(2, dims=-1), atol=1e-6, rtol=1e-6)
        assert not torch.allclose(net(t.roll(1, dims=-1)), net(t).roll(2, dims=-1), atol=1e-3)
    encoder = circular(tiny_encoder)
    image = noise_image(32, 32)[None]
    with torch.no_grad():
        torch.testing.assert_close(encoder.encode(image.roll(8, dims=-2)), encoder.encode(image).roll(1, dims=-2), atol=1e-4, rtol=1e-4)


def test_refine_lowers_the_gram_loss(tiny_encoder, one_thread):
    style, start = torch.rand(3, 32, 32), noise_image(32, 32)
    targets = [gram(f) for f in tiny_encoder(style[None])]
    losses: list[float] = []
    out = refine_texture(start, style, tiny_encoder, 5, lr=0.05, on_step=losses.append)
    assert len(losses) == 5 and out.shape == start.shape
    assert float(gram_loss(tiny_encoder(out[None]), targets)) < float(gram_loss(tiny_encoder(start[None]), targets))
    assert torch.equal(refine_texture(start, style, tiny_encoder, 0), start)


def test_bad_refine_steps_get_one_line_errors():
    with pytest.raises(ValueError, match="refine steps"):
        refine_texture(torch.rand(3, 16, 16), torch.rand(3, 16, 16), nn.Conv2d(3, 3, 1), -1)
