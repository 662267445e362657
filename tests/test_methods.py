"""Transfer methods (adain, wct, efdm) on tiny feature tensors: each method's defining property."""

from __future__ import annotations

import pytest
import torch

from adain.methods import (
    METHODS,
    apply_statistics,
    check_method,
    check_varies,
    covariance,
    efdm,
    efdm_with_stats,
    matrix_power,
    mix_statistics,
    quantiles,
    sample_sorted,
    style_statistics,
    wct,
)
from adain.ops import StyleStats, mean_std


def features(seed: int, c: int = 4, h: int = 8, w: int = 8, scale: float = 1.0) -> torch.Tensor:
    """Correlated features ``(1, c, h, w)``: a random mixing of independent channels, shifted."""
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(1, c, h * w, generator=g)
    mixing = torch.randn(c, c, generator=g)
    return (scale * mixing @ raw + torch.randn(c, 1, generator=g)).view(1, c, h, w)


# ---------------------------------------------------------------- wct


def test_wct_output_covariance_and_mean_are_the_styles():
    content, style = features(0), features(1, h=10, w=6, scale=3.0)
    out = wct(content, style)
    (out_mean, out_cov), (s_mean, s_cov) = covariance(out), covariance(style)
    assert out.shape == content.shape and out.dtype == torch.float32
    torch.testing.assert_close(out_cov, s_cov, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out_mean, s_mean, rtol=1e-5, atol=1e-5)
    # AdaIN matches only the diagonal: its off-diagonal covariance stays the content's correlations
    adain_cov = covariance(apply_statistics(content, style_statistics(style, "adain")))[1]
    assert (adain_cov - s_cov).abs().max() > 1.0


def test_matrix_power_inverts_and_stays_finite_when_singular():
    cov = covariance(features(2))[1]
    torch.testing.assert_close(matrix_power(cov, 0.5) @ matrix_power(cov, -0.5), torch.eye(4, dtype=torch.float64)[None], atol=1e-4, rtol=0)
    singular = torch.zeros(1, 4, 4, dtype=torch.float64)
    singular[0, 0, 0] = 1.0
    assert torch.isfinite(matrix_power(singular, -0.5)).all()


def test_wct_flat_content_gives_the_style_mean_not_nan():
    style = features(3)
    out = wct(torch.full((1, 4, 8, 8), 2.5), style)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, covariance(style)[0].float().expand_as(out), atol=1e-5, rtol=0)


def test_wct_rank_deficient_inputs_stay_finite():
    # fewer positions (3x3 = 9) than channels (16), and a style with two identical channels
    content, style = features(4, c=16, h=3, w=3), features(5, c=16, h=3, w=3)
    style[:, 1] = style[:, 0]
    out = wct(content, style)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(covariance(out)[0], covariance(style)[0], atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- efdm


def test_efdm_sorted_values_are_the_styles():
    content, style = features(6), features(7, scale=2.0)
    out = efdm(content, style)
    torch.testing.assert_close(out.flatten(2).sort(-1).values, style.flatten(2).sort(-1).values, rtol=0, atol=1e-6)
    # the content's order is kept: the ranks of the output are the content's
    assert torch.equal(out.flatten(2).argsort(-1), content.flatten(2).argsort(-1))


def test_efdm_different_sizes_match_the_resampled_quantile_function():
    content, style = features(8, h=4, w=5), features(9, h=12, w=11)
    out = efdm(content, style)
    torch.testing.assert_close(out.flatten(2).sort(-1).values, quantiles(style, 20), rtol=0, atol=1e-6)


def test_quantiles_and_sample_sorted_are_exact_at_the_sample_positions():
    x = features(10)
    assert torch.equal(quantiles(x, 64), x.flatten(2).sort(-1).values)
    assert torch.equal(sample_sorted(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.5, 1.0])), torch.tensor([1.0, 2.0, 3.0]))


def test_efdm_ties_get_one_value():
    # half the content is one flat value (as relu4_1 zeros): it maps to one value, not a ramp
    content = features(11)
    content[..., :4, :] = 0.0
    out = efdm_with_stats(content, quantiles(features(12), 64))
    top = out[..., :4, :].flatten(2)
    assert torch.equal(top, top[..., :1].expand_as(top))
    assert torch.isfinite(out).all()


# ---------------------------------------------------------------- every method


@pytest.mark.parametrize("method", METHODS)
def test_mask_keeps_regions_separate(method):
    # the output inside a region depends on the content inside it only
    content, style = features(13), features(14)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, :3] = 1
    stats = style_statistics(style, method)
    changed = content.clone()
    changed[..., :, 3:] = 10 * torch.randn(1, 4, 8, 5)
    a = apply_statistics(content, stats, mask)
    b = apply_statistics(changed, stats, mask)
    torch.testing.assert_close(a[..., :, :3], b[..., :, :3], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_mask_region_takes_the_style(method):
    content, style = features(15), features(16, scale=4.0)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1
    out = apply_statistics(content, style_statistics(style, method), mask)
    region_mean, _ = mean_std(out, mask)
    torch.testing.assert_close(region_mean, mean_std(style)[0], atol=0.05, rtol=0.05)


@pytest.mark.parametrize("method", METHODS)
def test_mix_with_one_hot_weights_is_that_style(method):
    content, styles = features(17), [features(18), features(19, scale=2.0)]
    stats = [style_statistics(s, method) for s in styles]
    both = StyleStats.cat(stats)
    assert len(both) == 2 and both.select(1).method == method
    mixed = apply_statistics(content, mix_statistics(both, torch.tensor([0.0, 1.0])))
    torch.testing.assert_close(mixed, apply_statistics(content, stats[1]), atol=1e-5, rtol=1e-5)


def test_wct_mix_blends_the_coloured_features():
    content, styles = features(20), torch.cat([features(21), features(22, scale=2.0)])
    stats = style_statistics(styles, "wct")
    mixed = apply_statistics(content, mix_statistics(stats, torch.tensor([0.25, 0.75])))
    blend = 0.25 * wct(content, styles[:1]) + 0.75 * wct(content, styles[1:])
    torch.testing.assert_close(mixed, blend, atol=1e-4, rtol=1e-4)


def test_efdm_mix_is_the_average_quantile_function():
    content, styles = features(23), torch.cat([features(24), features(25, scale=3.0)])
    stats = style_statistics(styles, "efdm", levels=64)
    mixed = apply_statistics(content, mix_statistics(stats, torch.tensor([0.5, 0.5])))
    target = 0.5 * styles[0].flatten(1).sort(-1).values + 0.5 * styles[1].flatten(1).sort(-1).values
    torch.testing.assert_close(mixed[0].flatten(1).sort(-1).values, target, atol=1e-5, rtol=0)


@pytest.mark.parametrize("method", METHODS)
def test_flat_content_stays_finite(method):
    out = apply_statistics(torch.zeros(1, 4, 8, 8), style_statistics(features(26), method))
    assert torch.isfinite(out).all()


def test_bad_input_gets_a_one_line_error():
    with pytest.raises(ValueError, match=r"^unknown method 'gatys': choose one of adain, wct, efdm$"):
        check_method("gatys")
    with pytest.raises(ValueError, match="flat image"):
        check_varies(torch.full((1, 4, 8, 8), 0.3))
    check_varies(features(27))
    nan = features(28)
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        style_statistics(nan, "wct")
    adain_stats = style_statistics(features(30), "adain")
    with pytest.raises(ValueError, match="wct needs the style statistics colour"):
        apply_statistics(features(29), StyleStats(adain_stats.mean, adain_stats.std, "wct"))
    with pytest.raises(ValueError, match="do not fit"):
        apply_statistics(features(31, c=3), style_statistics(features(32), "efdm"))
    with pytest.raises(ValueError, match="different methods"):
        StyleStats.cat([adain_stats, style_statistics(features(33), "efdm")])
