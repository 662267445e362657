"""Every control of the Stylizer on tiny nets: α, interpolation, masks, index maps, colour, sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from adain.apps.files import StylizeOptions, load_pair
from adain.color import keep_chroma, match_color, rgb_to_yiq, yiq_to_rgb
from adain.controls import (
    index_map_to_masks,
    masks_to_grid,
    normalise_weights,
    target_features,
)
from adain.geometry import center_crop, pad_to_multiple, prepare, resize_shorter
from adain.io.images import InputError
from adain.methods import style_statistics
from adain.ops import StyleStats, adain_with_stats, mean_std
from adain.stylizer import Stylizer
from helpers import write_image

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def stylizer(lively_stylizer) -> Stylizer:
    return lively_stylizer


def smooth(h: int, w: int, seed: int) -> torch.Tensor:
    """A smooth random image ``(3, h, w)`` in [0.1, 0.9]."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, h // 4 + 2, w // 4 + 2, generator=gen)
    return torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)[0] * 0.8 + 0.1


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize("h, w", [(16, 16), (17, 23), (33, 64), (50, 19), (81, 40)])
def test_any_size_in_gives_the_same_size_out(stylizer, h, w):
    out = stylizer.stylize(smooth(h, w, 0), smooth(30, 26, 1))
    assert out.shape == (3, h, w) and float(out.min()) >= 0 and float(out.max()) <= 1
    masks = torch.zeros(2, h, w)
    masks[0, :, : w // 2], masks[1, :, w // 2 :] = 1, 1
    assert stylizer.stylize(smooth(h, w, 0), [smooth(30, 26, 1), smooth(20, 40, 2)], masks=masks).shape == (3, h, w)


def test_resize_and_crop_helpers():
    image = torch.rand(3, 40, 100)
    assert resize_shorter(image, 20).shape == (3, 20, 50)
    assert resize_shorter(image, 0) is image
    assert prepare(image, 20, crop=True).shape == (3, 20, 20)
    assert center_crop(torch.arange(10.0).view(1, 1, 10).expand(1, 4, 10), 4)[0, 0].tolist() == [3, 4, 5, 6]
    with pytest.raises(ValueError, match="at least 16"):
        resize_shorter(image, 8)
    padded, size = pad_to_multiple(torch.rand(1, 3, 17, 23))
    assert padded.shape == (1, 3, 24, 24) and size == (17, 23)


# ---------------------------------------------------------------- α


def test_alpha_zero_reproduces_the_decoded_content_features(stylizer):
    content = smooth(37, 29, 3)
    padded, _ = pad_to_multiple(content[None])
    with torch.no_grad():
        expected = stylizer.decoder(stylizer.encoder.encode(padded))[..., :37, :29].clamp(0, 1)[0]
    torch.testing.assert_close(stylizer.stylize(content, smooth(32, 32, 4), alpha=0.0), expected, rtol=1e-4, atol=1e-5)


def test_alpha_interpolates_the_features():
    feat, mean, std = torch.randn(1, 8, 5, 6), torch.randn(1, 8, 1, 1), torch.rand(1, 8, 1, 1) + 0.5
    full = target_features(feat, mean, std, alpha=1.0)
    torch.testing.assert_close(full, adain_with_stats(feat, mean, std))
    torch.testing.assert_close(target_features(feat, mean, std, alpha=0.3), 0.3 * full + 0.7 * feat)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_outside_unit_interval(stylizer, alpha):
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        stylizer.stylize(smooth(16, 16, 0), smooth(16, 16, 1), alpha=alpha)


# ---------------------------------------------------------------- interpolation


def test_weights_mix_the_style_statistics():
    feat = torch.randn(1, 8, 6, 6) * 2 + 1
    means, stds = torch.randn(2, 8, 1, 1), torch.rand(2, 8, 1, 1) + 0.5
    t = target_features(feat, means, stds, weights=torch.tensor([0.25, 0.75]))
    m, s = mean_std(t)
    torch.testing.assert_close(m, 0.25 * means[:1] + 0.75 * means[1:], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(s, 0.25 * stds[:1] + 0.75 * stds[1:], atol=1e-3, rtol=1e-3)


def test_weights_through_the_stylizer(stylizer):
    content, a, b = smooth(24, 32, 0), smooth(24, 24, 1), smooth(40, 24, 2)
    torch.testing.assert_close(stylizer.stylize(content, [a, b], weights=[1.0, 0.0]), stylizer.stylize(content, a))
    torch.testing.assert_close(stylizer.stylize(content, [a, b], weights=[2.0, 2.0]), stylizer.stylize(content, [a, b]))
    assert not torch.allclose(stylizer.stylize(content, [a, b], weights=[0.9, 0.1]), stylizer.stylize(content, [a, b], weights=[0.1, 0.9]))


@pytest.mark.parametrize(
    "weights, message",
    [([1.0, -1.0], "≥ 0"), ([0.0, 0.0], "all zero"), ([1.0], "1 style weights given for 2 styles"), ([1.0, float("inf")], "finite")],
)
def test_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        normalise_weights(weights, 2)


# ---------------------------------------------------------------- spatial control


def test_masks_apply_each_style_in_its_region():
    feat = torch.randn(1, 8, 4, 6) * 2 + 1
    means, stds = torch.randn(2, 8, 1, 1), torch.rand(2, 8, 1, 1) + 0.5
    masks = torch.zeros(2, 1, 4, 6)
    masks[0, :, :, :3], masks[1, :, :, 3:] = 1, 1
    t = target_features(feat, means, stds, masks=masks)
    for k, cols in ((0, slice(0, 3)), (1, slice(3, 6))):
        expected = adain_with_stats(feat, means[k : k + 1], stds[k : k + 1], mask=masks[k : k + 1])
        torch.testing.assert_close(t[..., cols], expected[..., cols])
        m, s = mean_std(t[..., cols])
        torch.testing.assert_close(m, means[k : k + 1], atol=1e-4, rtol=1e-4)


def test_uncovered_positions_keep_the_content_features():
    feat = torch.randn(1, 8, 4, 6)
    masks = torch.zeros(1, 1, 4, 6)
    masks[..., :2] = 1
    t = target_features(feat, torch.randn(1, 8, 1, 1), torch.rand(1, 8, 1, 1) + 0.5, masks=masks)
    torch.testing.assert_close(t[..., 2:], feat[..., 2:])


def test_weights_with_masks_is_an_error_not_ignored():
    feat, masks = torch.randn(1, 8, 4, 6), torch.ones(2, 1, 4, 6) / 2
    with pytest.raises(ValueError, match="not both"):
        target_features(feat, torch.randn(2, 8, 1, 1), torch.rand(2, 8, 1, 1), weights=torch.tensor([0.5, 0.5]), masks=masks)


def test_stylizer_refuses_weights_with_masks(stylizer):
    content, a, b = smooth(24, 40, 0), smooth(24, 24, 1), smooth(32, 24, 2)
    with pytest.raises(ValueError, match="not both"):
        stylizer.stylize(content, [a, b], weights=[0.5, 0.5], masks=torch.ones(2, 24, 40) / 2)


def test_style_statistics_are_not_biased_by_padding(stylizer):
    style = smooth(27, 35, 3)  # not a multiple of 8: padding would add reflected rows and columns
    stats = stylizer.style_stats([style])
    mean, std = mean_std(stylizer.encoder.encode(style[None]))
    torch.testing.assert_close(stats.mean, mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(stats.std, std, rtol=1e-4, atol=1e-5)


def test_full_mask_equals_no_mask_and_index_map_equals_masks(stylizer):
    content, a, b = smooth(24, 40, 0), smooth(24, 24, 1), smooth(32, 24, 2)
    torch.testing.assert_close(stylizer.stylize(content, a, masks=torch.ones(1, 24, 40)), stylizer.stylize(content, a), rtol=1e-4, atol=1e-5)
    index = torch.zeros(24, 40, dtype=torch.long)
    index[:, 16:] = 1
    masks = torch.stack([(index == 0).float(), (index == 1).float()])
    torch.testing.assert_close(index_map_to_masks(index, 2), masks)
    split = stylizer.stylize(content, [a, b], masks=index_map_to_masks(index, 2))
    torch.testing.assert_close(split, stylizer.stylize(content, [a, b], masks=masks))
    assert not torch.allclose(split, stylizer.stylize(content, [b, a], masks=masks))


def test_overlapping_masks_share_the_position():
    grid = masks_to_grid(torch.ones(3, 16, 16), (2, 2))
    torch.testing.assert_close(grid.sum(0), torch.ones(1, 2, 2))


def test_mask_errors(stylizer):
    content, a, b = smooth(24, 40, 0), smooth(24, 24, 1), smooth(32, 24, 2)
    with pytest.raises(ValueError, match="covers nothing"):
        stylizer.stylize(content, [a, b], masks=torch.stack([torch.ones(24, 40), torch.zeros(24, 40)]))
    with pytest.raises(ValueError, match="masks are 20x24 but the content is 40x24"):
        stylizer.stylize(content, [a, b], masks=torch.ones(2, 24, 20))
    with pytest.raises(ValueError, match=r"the mask tensor holds 1 maps, not one per style \(2\)"):
        stylizer.stylize(content, [a, b], masks=torch.ones(1, 24, 40))
    with pytest.raises(ValueError, match=r"values must be in 0\.\.1"):
        index_map_to_masks(torch.full((4, 4), 2), 2)


# ---------------------------------------------------------------- colour preservation


def test_match_color_gives_the_content_colour_statistics():
    content, style = smooth(40, 40, 0) * 0.5 + 0.2, smooth(30, 50, 1)
    style = torch.stack([style[0], style[1] * 0.3, style[2] * 0.3 + 0.6])  # a bluish style
    out = match_color(style, content)
    c, o = content.reshape(3, -1), out.reshape(3, -1)
    torch.testing.assert_close(o.mean(1), c.mean(1), atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(o), torch.cov(c), atol=2e-3, rtol=0.1)


def test_preserve_color_modes_through_the_stylizer(stylizer):
    content, style = smooth(32, 40, 5), smooth(32, 32, 6)
    recoloured = stylizer.stylize(content, match_color(style, content))
    torch.testing.assert_close(stylizer.stylize(content, style, preserve_color="color"), recoloured)
    lum = stylizer.stylize(content, style, preserve_color="luminance")
    # luminance only: the chroma (I, Q) and so the mean colour cast are the content's
    iq_out, iq_content = rgb_to_yiq(lum)[1:], rgb_to_yiq(content)[1:]
    torch.testing.assert_close(iq_out.mean(dim=(1, 2)), iq_content.mean(dim=(1, 2)), atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="preserve_color"):
        stylizer.stylize(content, style, preserve_color="colour")


def test_yiq_round_trip_and_keep_chroma():
    image = torch.rand(3, 8, 8)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(image)), image, atol=1e-5, rtol=1e-5)
    grey = torch.full((3, 8, 8), 0.5)
    mild = image * 0.2 + 0.4  # chroma small enough that mid-grey luminance needs no clipping
    torch.testing.assert_close(rgb_to_yiq(keep_chroma(grey, mild))[1:], rgb_to_yiq(mild)[1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(rgb_to_yiq(keep_chroma(grey, mild))[0], rgb_to_yiq(grey)[0], atol=1e-5, rtol=0)


# ---------------------------------------------------------------- one content, many styles


@pytest.mark.parametrize("preserve", [None, "color", "luminance"])
def test_stylize_each_matches_stylize(stylizer, preserve):
    content, styles = smooth(24, 32, 0), [smooth(24, 24, 1), smooth(32, 24, 2)]
    each = list(stylizer.stylize_each(content, styles, alpha=0.7, preserve_color=preserve))
    assert len(each) == 2
    for s, out in zip(styles, each, strict=True):
        torch.testing.assert_close(out, stylizer.stylize(content, s, alpha=0.7, preserve_color=preserve))


def test_stylize_each_reuses_encoded_styles(stylizer):
    content, styles = smooth(24, 32, 0), [smooth(24, 24, 1), smooth(32, 24, 2)]
    stats = stylizer.style_stats(styles)
    assert isinstance(stats, StyleStats) and len(stats) == 2 and stats.mean.shape == (2, 512, 1, 1)
    for a, b in zip(stylizer.stylize_each(content, stats), stylizer.stylize_each(content, styles), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="needs the style images"):
        next(stylizer.stylize_each(content, stats, preserve_color="color"))


def test_content_stats_replace_the_contents_own(stylizer):
    """``content_stats``: the contents' own statistics give the plain result; others give AdaIN with them,
    per image of a batch, and per mask region with masks; adain only."""
    contents = torch.stack([smooth(24, 32, 5), smooth(24, 32, 6)])
    stats = stylizer.style_stats([smooth(24, 24, 1), smooth(32, 24, 2)])
    feats = stylizer.content_features(contents)
    plain = stylizer.stylize_batch(contents, stats, alpha=0.8)
    torch.testing.assert_close(stylizer.stylize_batch(contents, stats, alpha=0.8, content_stats=mean_std(feats)), plain, rtol=0, atol=1e-5)
    gen = torch.Generator().manual_seed(0)
    other = (torch.randn(2, 512, 1, 1, generator=gen), torch.rand(2, 512, 1, 1, generator=gen) + 0.5)
    normalised = (feats - other[0]) / other[1]
    t = 0.8 * (normalised * stats.std.mean(0, keepdim=True) + stats.mean.mean(0, keepdim=True)) + 0.2 * feats
    got = stylizer.stylize_batch(contents, stats, alpha=0.8, content_stats=other)
    torch.testing.assert_close(got, stylizer.decode(t, (24, 32)), rtol=0, atol=1e-5)
    assert float((got - plain).abs().mean()) > 1e-2, "other statistics must change the picture"
    masks = torch.zeros(2, 24, 32)
    masks[0, :, :16], masks[1, :, 16:] = 1, 1  # feature columns 0-1 and 2-3
    per_region = (other[0][:, None], other[1][:, None])  # (K, 1, C, 1, 1): region k of every image
    t = torch.cat([((feats - other[0][k]) / other[1][k] * stats.std[k] + stats.mean[k])[..., 2 * k : 2 * k + 2] for k in range(2)], dim=-1)
    got = stylizer.stylize_batch(contents, stats, masks=masks, content_stats=per_region)
    torch.testing.assert_close(got, stylizer.decode(t, (24, 32)), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="adain only"):
        stylizer.stylize_batch(contents, stylizer.style_stats([smooth(24, 24, 1)], "wct"), content_stats=mean_std(feats))


# ---------------------------------------------------------------- file-level loading


def test_options_are_checked():
    for kwargs, message in [
        ({"alpha": 2.0}, "alpha"), ({"content_size": 8}, "content size"), ({"style_size": -1}, "style size"),
        ({"max_pixels": 10}, "max pixels"), ({"quality": 0}, "quality"), ({"preserve_color": "hue"}, "preserve_color"),
    ]:
        with pytest.raises(ValueError, match=message):
            StylizeOptions(**kwargs)


def test_load_pair_resizes_and_crops_masks_with_the_content(tmp_path):
    content = write_image(tmp_path / "c.png", (80, 40))
    styles = [write_image(tmp_path / "a.png", (30, 30), 1), write_image(tmp_path / "b.png", (60, 30), 2)]
    left = np.zeros((40, 80), np.uint8)
    left[:, :40] = 255
    Image.fromarray(left).save(tmp_path / "left.png")
    Image.fromarray(255 - left).save(tmp_path / "right.png")
    job = load_pair(content, styles, StylizeOptions(content_size=20, style_size=16), masks=[tmp_path / "left.png", tmp_path / "right.png"])
    assert job.content.shape == (3, 20, 40) and job.controls.masks.shape == (2, 20, 40)
    assert [tuple(s.shape[-2:]) for s in job.styles] == [(16, 16), (16, 32)]
    assert float(job.controls.masks[0, :, :18].min()) > 0.99 and float(job.controls.masks[0, :, 22:].max()) < 0.01
    cropped = load_pair(content, styles, StylizeOptions(crop=True), weights=[1, 3])
    assert cropped.content.shape == (3, 40, 40) and list(cropped.controls.weights) == [0.25, 0.75]
    # the centre crop of an 80x40 content keeps columns 20..59: a mask on columns 0..15 is cropped away
    edge = np.zeros((40, 80), np.uint8)
    edge[:, :16] = 255
    Image.fromarray(edge).save(tmp_path / "edge.png")
    with pytest.raises(InputError, match="inside the centre crop") as info:
        load_pair(content, styles, StylizeOptions(crop=True), masks=[tmp_path / "edge.png", tmp_path / "right.png"])
    assert str(tmp_path / "edge.png") in str(info.value)


# ---------------------------------------------------------------- transfer methods


@pytest.mark.parametrize("method", ["adain", "wct", "efdm"])
def test_alpha_zero_gives_the_content_features_back(method):
    feat, style = torch.randn(1, 8, 6, 6), torch.randn(2, 8, 5, 7)
    stats = StyleStats.cat([style_statistics(style[i : i + 1], method) for i in range(2)])
    torch.testing.assert_close(target_features(feat, stats, alpha=0.0, weights=torch.tensor([0.3, 0.7])), feat)
    masks = torch.zeros(2, 1, 6, 6)
    masks[0, :, :, :3] = 1
    masks[1, :, :, 3:] = 1
    torch.testing.assert_close(target_features(feat, stats, alpha=0.0, masks=masks), feat)
    t = target_features(feat, stats, masks=masks)
    left = target_features(feat, stats.select(0), masks=masks[:1])
    torch.testing.assert_close(t[..., :3], left[..., :3])  # the left half is the first style's alone
    assert not torch.allclose(t[..., 3:], left[..., 3:], atol=1e-3)  # the right half took the second style


@pytest.mark.parametrize("method", ["adain", "wct", "efdm"])
def test_stylizer_runs_every_method(stylizer, method):
    content, styles = smooth(24, 32, 0), [smooth(24, 24, 1), smooth(32, 24, 2)]
    stats = stylizer.style_stats(styles, method)
    assert stats.method == method and len(stats) == 2
    out = stylizer.stylize(content, styles, method=method, weights=[0.5, 0.5], alpha=0.8, preserve_color="color")
    assert out.shape == content.shape and torch.isfinite(out).all()
    each = list(stylizer.stylize_each(content, stats))
    torch.testing.assert_close(each[1], stylizer.stylize(content, styles[1], method=method))


def test_methods_differ_and_bad_methods_or_flat_styles_are_errors(stylizer):
    content, style = smooth(24, 32, 3), smooth(24, 24, 4)
    outs = {m: stylizer.stylize(content, style, method=m) for m in ("adain", "wct", "efdm")}
    assert not torch.allclose(outs["adain"], outs["wct"], atol=1e-3)
    assert not torch.allclose(outs["adain"], outs["efdm"], atol=1e-3)
    with pytest.raises(ValueError, match="^unknown method 'gatys': choose one of adain, wct, efdm$"):
        stylizer.stylize(content, style, method="gatys")
    with pytest.raises(ValueError, match="^style 2 is a flat image"):
        stylizer.style_stats([style, torch.full((3, 24, 24), 0.4)], "wct")
    with pytest.raises(ValueError, match="encoded for efdm, not wct"):
        next(stylizer.stylize_each(content, stylizer.style_stats([style], "efdm"), method="wct"))


def test_color_preservation_is_coral():
    # CORAL: the recoloured style has the content's RGB mean and covariance (mild images: no clipping)
    gen = torch.Generator().manual_seed(5)
    mix = torch.tensor([[0.9, 0.3, 0.1], [0.2, 0.8, 0.3], [0.1, 0.2, 0.7]])
    style = (0.1 * mix @ torch.randn(3, 40 * 30, generator=gen) + 0.5).reshape(3, 40, 30)
    content = (0.05 * mix.T @ torch.randn(3, 20 * 24, generator=gen) + torch.tensor([[0.6], [0.4], [0.5]])).reshape(3, 20, 24)
    out = match_color(style, content).reshape(3, -1).double()
    c = content.reshape(3, -1).double()
    torch.testing.assert_close(out.mean(1), c.mean(1), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cov(out), torch.cov(c), atol=1e-4, rtol=1e-3)
