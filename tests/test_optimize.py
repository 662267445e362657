"""adain optimize: the objective goes down, the baseline cache, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from adain.cli import main
from adain.encoder import Encoder
from adain.evaluation.optimize import (
    OptimizeConfig,
    objective,
    optimize_image,
    run_baseline,
)
from adain.evaluation.pairs import full_pairs
from adain.io.images import load_image
from adain.ops import adain


@pytest.fixture(scope="module")
def encoder5() -> Encoder:
    torch.manual_seed(0)
    return Encoder(last="relu5_1", weights="random")


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    content = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=gen), size=(32, 32), mode="bilinear")
    style = torch.rand(1, 3, 40, 32, generator=gen)
    return content, style


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_a_few_steps_lower_the_objective(encoder5: Encoder, pair, method: str):
    content, style = pair
    image, history = optimize_image(content, style, encoder=encoder5, config=OptimizeConfig(steps=5, method=method), progress=False)
    assert len(history) == 6 and history[-1] < 0.9 * history[0], history
    assert image.shape == content.shape and float(image.min()) >= 0 and float(image.max()) <= 1
    assert not torch.equal(image, content)


def test_channels_last_input_is_accepted(encoder5: Encoder, pair):
    """Images read from files are permuted HWC arrays; L-BFGS needs a contiguous parameter."""
    content, style = pair
    hwc = content.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert not hwc.is_contiguous()
    image, history = optimize_image(hwc, style, encoder=encoder5, config=OptimizeConfig(steps=2), progress=False)
    assert history[-1] < history[0] and image.shape == content.shape


def test_objective_uses_the_adain_target_of_training(encoder5: Encoder, pair):
    content, style = pair
    style_feats = encoder5(style, last="relu4_1")
    c4 = encoder5.encode(content)
    total, lc, ls = objective(encoder5, content, adain(c4, style_feats[-1]), style_feats, 10.0)
    assert lc > 0 and ls > 0 and total == pytest.approx(float(lc + 10 * ls))
    # the content image is already optimal for Gatys' content term without a style term
    image, history = optimize_image(
        content, style, encoder=encoder5, config=OptimizeConfig(steps=2, style_weight=0.0, content_target="content"), progress=False
    )
    assert history[0] == 0.0 and torch.allclose(image, content)


def test_config_checks():
    assert OptimizeConfig(method="adam").lr == 0.02 and OptimizeConfig().lr == 1.0
    for bad in (dict(method="sgd"), dict(steps=0), dict(lr=-1.0), dict(style_weight=-1.0), dict(content_target="x")):
        with pytest.raises(ValueError):
            OptimizeConfig(**bad)


def test_baseline_cache_is_extended_not_recomputed(image_dir: Path, tmp_path: Path, encoder5: Encoder):
    path = tmp_path / "base.json"
    config = OptimizeConfig(steps=2)
    first = run_baseline(path, data=image_dir, limit=1, config=config, size=32, encoder=encoder5, outputs=tmp_path / "img", progress=False)
    names = [p.name for p in full_pairs(image_dir, 2)]
    assert list(first["pairs"]) == names[:1] and first["config"]["size"] == 32 and first["config"]["lr"] == 1.0
    assert first["subset"].startswith("first 1 pairs")
    assert load_image(tmp_path / "img" / f"{names[0]}.jpg").shape[1] == 32
    entry = first["pairs"][names[0]]
    assert entry["objective_end"] < entry["objective_start"] and entry["style"] > 0 and entry["seconds"] > 0
    second = run_baseline(path, data=image_dir, limit=2, config=config, size=32, encoder=encoder5, progress=False)
    assert list(second["pairs"]) == names and second["pairs"][names[0]] == entry
    assert json.loads(path.read_text())["mean"]["style"] == pytest.approx(sum(e["style"] for e in second["pairs"].values()) / 2)
    with pytest.raises(ValueError, match="base.json holds a baseline made with"):
        run_baseline(path, data=image_dir, limit=1, config=OptimizeConfig(steps=3), size=32, encoder=encoder5, progress=False)


def test_optimize_cli_single_image(image_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "best.png"
    argv = ["optimize", "--content", str(image_dir / "content" / "c0.png"), "--style", str(image_dir / "style" / "s0.jpg")]
    code = main(argv + ["--output", str(out), "--steps", "2", "--size", "32", "--style-size", "32", "--device", "cpu"])
    assert code == 0 and load_image(out).shape == (3, 32, 38)
    assert "best.png: content" in capsys.readouterr().out


def test_optimize_cli_errors(image_dir: Path, tmp_path: Path, capsys):
    content, style = str(image_dir / "content" / "c0.png"), str(image_dir / "style" / "s0.jpg")
    cases = [
        (["--content", content, "--style", style], "give --content, --style and --output"),
        (["--content", content, "--style", style, "--output", str(tmp_path / "o.xyz")], "o.xyz: unknown image format"),
        (["--content", str(tmp_path / "no.jpg"), "--style", style, "--output", str(tmp_path / "o.png")], "no.jpg: no such file"),
        (["--baseline", str(tmp_path / "b.json"), "--content", content], "do not give --content"),
        (["--baseline", str(tmp_path / "b.json"), "--limit", "-2"], "--limit must be ≥ 0"),
        (["--content", content, "--style", style, "--output", str(tmp_path / "o.png"), "--steps", "0"], "steps must be ≥ 1"),
        (["--content", content, "--style", style, "--output", style, "--steps", "1"], "s0.jpg: is also the style input"),
    ]
    before = (image_dir / "style" / "s0.jpg").read_bytes()
    for extra, message in cases:
        code = main(["optimize", *extra, "--size", "32"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, err
    assert not [p.name for p in tmp_path.iterdir() if p.name not in ("content", "style")]
    assert (image_dir / "style" / "s0.jpg").read_bytes() == before
