"""Tiled stylization equals the untiled one; spans, ramps and statistics accumulate correctly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain.cli import main
from adain.ops import StatsAccumulator, mean_std
from adain.stylizer import Stylizer
from adain.tiling import partition, ramp, resolve_tile, stylize_tiled, tile_spans


@pytest.fixture(scope="module")
def stylizer(lively_stylizer) -> Stylizer:
    return lively_stylizer


def _image(h: int, w: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8 + 1, w // 8 + 1, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0]


def test_spans_cover_with_overlap():
    for n, tile, overlap in [(10, 4, 1), (37, 8, 2), (8, 8, 2), (5, 8, 2), (100, 30, 10)]:
        spans = tile_spans(n, tile, overlap)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(e - s == min(tile, n) for s, e in spans)
        assert all(a[1] - b[0] >= overlap for a, b in zip(spans, spans[1:]))
    parts = partition(37, 8)
    assert parts[0] == (0, 8) and parts[-1] == (32, 37)
    assert sum(e - s for s, e in parts) == 37
    with pytest.raises(ValueError):
        tile_spans(10, 4, 4)


def test_ramps_of_neighbours_sum_to_one():
    a, b = ramp(10, 0, 4), ramp(10, 4, 0)
    torch.testing.assert_close(a[6:] + b[:4], torch.ones(4))
    assert float(a[:6].min()) == 1.0 and float(b.min()) > 0


def test_accumulated_statistics_equal_whole_ones():
    x = torch.randn(1, 16, 13, 21) * 3 + 1
    acc = StatsAccumulator()
    for r in partition(13, 5):
        for c in partition(21, 8):
            acc.add(x[..., r[0] : r[1], c[0] : c[1]])
    for got, want in zip(acc.mean_std(), mean_std(x)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_resolve_tile():
    assert resolve_tile("auto", 100, 100) == 0
    assert resolve_tile("auto", 3000, 3000) > 0
    assert resolve_tile("256", 10, 10) == 256
    for bad in (32, "big"):
        with pytest.raises(ValueError):
            resolve_tile(bad, 100, 100)


@pytest.mark.parametrize(
    ("controls", "tile", "overlap"),
    [({}, 48, 8), ({"alpha": 0.6, "weights": [1.0, 3.0], "preserve_color": "luminance"}, 64, 24)],
)
def test_tiled_matches_untiled(stylizer: Stylizer, controls: dict, tile: int, overlap: int):
    content = _image(110, 147, seed=1)  # not a multiple of 8: the padding must match too
    styles = [_image(40, 48, seed=2)] + ([_image(48, 40, seed=3)] if "weights" in controls else [])
    whole = stylizer.stylize(content, styles, **controls)
    tiled = stylize_tiled(stylizer, content, styles, tile=tile, overlap=overlap, **controls)
    assert tiled.shape == content.shape
    assert float(whole.std()) > 0.02, "the test nets should produce a varied picture"
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-4)


def test_tile_statistics_are_global(stylizer: Stylizer):
    """Per-tile AdaIN (each tile normalised by its own statistics) would differ a lot: tiling is not a no-op."""
    content = torch.cat([_image(64, 64, seed=4) * 0.3, _image(64, 64, seed=5) * 0.3 + 0.7], dim=-1)
    style = _image(40, 40, seed=6)
    whole = stylizer.stylize(content, style)
    halves = torch.cat([stylizer.stylize(content[..., :64], style), stylizer.stylize(content[..., 64:], style)], dim=-1)
    tiled = stylize_tiled(stylizer, content, style, tile=64, overlap=16)
    assert float((halves - whole).abs().mean()) > 10 * float((tiled - whole).abs().mean())


def test_cli_tile_option_real_weights(tmp_path: Path, capsys):
    """``adain stylize --tile`` with the shipped networks gives the untiled picture (up to bf16 and 8-bit rounding)."""
    from helpers import write_image

    content = write_image(tmp_path / "c.png", (128, 96), seed=1)
    style = write_image(tmp_path / "s.png", (64, 64), seed=2)
    common = ["stylize", "-c", str(content), "-s", str(style), "--style-size", "64"]
    assert main([*common, "-o", str(tmp_path / "tiled.png"), "--tile", "64"]) == 0
    assert main([*common, "-o", str(tmp_path / "whole.png")]) == 0
    tiled, whole = (np.asarray(Image.open(tmp_path / f"{n}.png"), dtype=np.float32) for n in ("tiled", "whole"))
    assert tiled.shape == whole.shape == (96, 128, 3)
    assert np.abs(tiled - whole).mean() < 1.0  # in 0..255 levels
    mask = write_image(tmp_path / "m.png", (128, 96), seed=3)
    capsys.readouterr()
    assert main([*common, "-o", str(tmp_path / "masked.png"), "--mask", str(mask), "--tile", "64"]) == 2
    assert "--tile does not work with --mask" in capsys.readouterr().err
    assert not (tmp_path / "masked.png").exists()
