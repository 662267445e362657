import pytest
import torch

from adain.ops import EPS, AdaIN, adain, adain_with_stats, mean_std


def test_mean_std_matches_torch():
    x = torch.randn(2, 5, 7, 9)
    mean, std = mean_std(x)
    assert mean.shape == std.shape == (2, 5, 1, 1)
    torch.testing.assert_close(mean[..., 0, 0], x.mean(dim=(2, 3)))
    torch.testing.assert_close(std[..., 0, 0], (x.var(dim=(2, 3), correction=0) + EPS).sqrt())


def test_adain_output_carries_style_statistics():
    content, style = torch.randn(3, 8, 10, 12) * 3 + 1, torch.randn(3, 8, 5, 6) * 0.5 - 2
    out = adain(content, style)
    om, osd = mean_std(out)
    sm, ssd = mean_std(style)
    torch.testing.assert_close(om, sm, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(osd, ssd, atol=1e-3, rtol=1e-3)


def test_adain_identity_when_content_is_style():
    x = torch.randn(2, 4, 6, 6) * 2 + 0.5
    torch.testing.assert_close(adain(x, x), x, atol=1e-5, rtol=1e-5)


def test_style_batch_of_one_broadcasts():
    content, style = torch.randn(4, 3, 5, 5), torch.randn(1, 3, 7, 7)
    out = adain(content, style)
    assert out.shape == content.shape
    torch.testing.assert_close(mean_std(out)[0], mean_std(style)[0].expand(4, -1, -1, -1), atol=1e-4, rtol=1e-4)


def test_constant_channel_stays_finite():
    content = torch.ones(1, 2, 4, 4)
    out = adain(content, torch.randn(1, 2, 4, 4))
    assert torch.isfinite(out).all()


def test_masked_statistics_use_only_masked_region():
    x = torch.zeros(1, 1, 4, 4)
    x[..., :2, :] = 5.0
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    mean, std = mean_std(x, mask)
    assert mean.item() == pytest.approx(5.0)
    assert std.item() == pytest.approx(EPS**0.5, rel=1e-3)


@pytest.mark.parametrize(
    "content, style, message",
    [
        (torch.randn(1, 3, 4, 4), torch.randn(1, 4, 4, 4), "channels"),
        (torch.randn(2, 3, 4, 4), torch.randn(3, 3, 4, 4), "batch"),
        (torch.randn(3, 4, 4), torch.randn(1, 3, 4, 4), r"\(N, C, H, W\)"),
    ],
)
def test_shape_mismatch_errors(content, style, message):
    with pytest.raises(ValueError, match=message):
        adain(content, style)


def test_mask_errors():
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="covers no position"):
        mean_std(x, torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="does not fit"):
        mean_std(x, torch.ones(1, 1, 3, 3))
    with pytest.raises(ValueError, match="do not fit"):
        adain_with_stats(x, torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1))


def test_given_content_statistics_replace_the_contents_own():
    x = torch.randn(2, 8, 5, 7) * 2 + 0.5
    mean, std = torch.randn(1, 8, 1, 1), torch.rand(1, 8, 1, 1) + 0.5
    given = (torch.randn(2, 8, 1, 1), torch.rand(2, 8, 1, 1) + 0.5)
    torch.testing.assert_close(adain_with_stats(x, mean, std, content_stats=given), (x - given[0]) / given[1] * std + mean)
    torch.testing.assert_close(adain_with_stats(x, mean, std, content_stats=mean_std(x)), adain_with_stats(x, mean, std))
    with pytest.raises(ValueError, match="content statistics"):
        adain_with_stats(x, mean, std, content_stats=(given[0][:, :4], given[1][:, :4]))


def test_module_matches_function():
    c, s = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(AdaIN()(c, s), adain(c, s))
