"""Refinement after the decoder (adain.refine and Stylizer.stylize(refine=N)): tiny nets and images."""

from __future__ import annotations

import pytest
import torch

from adain.errors import UsageError
from adain.geometry import pad_to_multiple
from adain.ops import mean_std
from adain.refine import REFINE_STEPS, check_refine, refine_image, refine_loss, refine_targets, region_stats


def images(seed: int, h: int = 32, w: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(3, h // 4, w // 4, generator=g)
    return torch.nn.functional.interpolate(small[None], size=(h, w), mode="bilinear", align_corners=False)[0]


def setup(stylizer, content, styles, **controls):
    """The decoder's output at the padded size and the targets of its refinement."""
    from adain.controls import Controls, feature_grid, target_features

    c = Controls(**controls)
    method = c.method or "adain"
    stats = stylizer.style_stats(styles, method)
    taps = stylizer.tap_stats(styles, method)
    feats = stylizer.tap_features(pad_to_multiple(content[None])[0])
    grid = None if c.masks is None else feature_grid(c.masks, feats[-1].shape[-2:])
    t = target_features(feats[-1], stats, alpha=c.alpha, weights=c.style_weights(len(styles)), masks=grid)
    out = stylizer.decode(t, (t.shape[-2] * 8, t.shape[-1] * 8))
    return out, refine_targets(feats, taps, alpha=c.alpha, weights=c.style_weights(len(styles)), masks=c.masks)


def test_refine_lowers_the_objective_and_stays_in_range(lively_stylizer):
    out, targets = setup(lively_stylizer, images(0), [images(1)])
    enc = lively_stylizer.encoder
    before = float(refine_loss(enc(out, last="relu4_1"), targets))
    losses: list[float] = []
    refined = refine_image(enc, out, targets, 8, on_step=losses.append)
    after = float(refine_loss(enc(refined, last="relu4_1"), targets))
    assert len(losses) == 8 and losses[0] == pytest.approx(before, rel=1e-4)
    assert after < 0.9 * before
    assert refined.shape == out.shape and float(refined.min()) >= 0 and float(refined.max()) <= 1
    assert refine_image(enc, out, targets, 0) is out


def test_stylize_with_refine_differs_by_style_and_from_plain(lively_stylizer):
    content, s1, s2 = images(0), images(1), images(2, 24, 24)
    plain = lively_stylizer.stylize(content, s1)
    refined = lively_stylizer.stylize(content, s1, refine=4)
    other = lively_stylizer.stylize(content, s2, refine=4)
    assert refined.shape == content.shape
    assert (refined - plain).abs().mean() > 1e-3
    assert (refined - other).abs().mean() > 1e-3
    assert lively_stylizer.stylize(content, s1, refine=0).equal(plain)


def test_a_refined_stylization_encodes_each_style_once(lively_stylizer):
    content, style = images(0), images(1, 24, 24)
    sizes: list[tuple[int, int]] = []
    hook = lively_stylizer.encoder.register_forward_hook(lambda _m, args, _out: sizes.append(tuple(args[0].shape[-2:])))
    try:
        lively_stylizer.stylize(content, style, refine=3)
    finally:
        hook.remove()
    assert sizes.count((24, 24)) == 1  # the taps' statistics serve the decoder's AdaIN too
    assert len(sizes) == 2 + 3  # content, style, and one pass a step


def test_refine_refuses_a_flat_style_in_one_line(lively_stylizer):
    with pytest.raises(UsageError, match="the style is a flat image"):
        lively_stylizer.stylize(images(0), torch.full((3, 24, 24), 0.5), refine=2)


@pytest.mark.parametrize("controls", [
    {"alpha": 0.5},
    {"weights": [0.3, 0.7]},
    {"masks": "halves"},
    {"preserve_color": "luminance"},
    {"preserve_color": "color"},
    {"method": "wct"},
    {"method": "efdm"},
])
def test_refine_combines_with_every_control(lively_stylizer, controls):
    content = images(0)
    styles = [images(1), images(2, 24, 24)]
    if controls.get("masks") == "halves":
        masks = torch.zeros(2, 32, 40)
        masks[0, :, :20] = 1
        masks[1, :, 20:] = 1
        controls = {"masks": masks}
    n = 2 if "weights" in controls or "masks" in controls else 1
    plain = lively_stylizer.stylize(content, styles[:n], **controls)
    refined = lively_stylizer.stylize(content, styles[:n], refine=3, **controls)
    assert refined.shape == content.shape and torch.isfinite(refined).all()
    assert (refined - plain).abs().mean() > 1e-4


def test_targets_follow_alpha_masks_and_method(lively_stylizer):
    content, s1, s2 = images(0), images(1), images(2, 24, 24)
    feats = lively_stylizer.tap_features(content[None])
    # alpha 0: the target statistics are the content's own at every tap
    targets = refine_targets(feats, lively_stylizer.tap_stats([s1]), alpha=0.0)
    for f, m, s in zip(feats, targets.means, targets.stds, strict=True):
        cm, cs = mean_std(f)
        assert torch.allclose(m[:, 0], cm.flatten(1), atol=1e-5) and torch.allclose(s[:, 0], cs.flatten(1), atol=1e-5)
    # alpha 1: the style's
    targets = refine_targets(feats, lively_stylizer.tap_stats([s1]))
    sm, _ = mean_std(lively_stylizer.tap_features(s1[None])[0])
    assert torch.allclose(targets.means[0][:, 0], sm.flatten(1), atol=1e-4)
    # masks: one region per style, each toward its own style
    masks = torch.zeros(2, 32, 40)
    masks[0, :, :20] = 1
    masks[1, :, 20:] = 1
    targets = refine_targets(feats, lively_stylizer.tap_stats([s1, s2]), masks=masks)
    assert targets.means[0].shape == (1, 2, feats[0].shape[1]) and targets.masks is not None
    s2m, _ = mean_std(lively_stylizer.tap_features(s2[None])[0])
    assert torch.allclose(targets.means[0][:, 0], sm.flatten(1), atol=1e-3)
    assert torch.allclose(targets.means[0][:, 1], s2m.flatten(1), atol=1e-3)
    # another method, other targets
    wct = refine_targets(feats, lively_stylizer.tap_stats([s1], "wct"))
    adain = refine_targets(feats, lively_stylizer.tap_stats([s1]))
    assert not torch.allclose(wct.content, adain.content) or not torch.allclose(wct.stds[2], adain.stds[2])
    # the content target: the content's own relu4_1, or the decoder's input
    assert refine_targets(feats, lively_stylizer.tap_stats([s1]), content_target="content").content.equal(feats[-1])
    assert not refine_targets(feats, lively_stylizer.tap_stats([s1]), content_target="target").content.equal(feats[-1])


def test_region_stats_of_a_full_mask_are_the_whole_maps():
    x = torch.randn(2, 5, 6, 7)
    m, s = region_stats(x, None)
    mm, ms = region_stats(x, torch.ones(1, 1, 6, 7))
    assert m.shape == (2, 1, 5) and torch.allclose(m, mm, atol=1e-6) and torch.allclose(s, ms, atol=1e-5)


@pytest.mark.parametrize("bad", [-1, REFINE_STEPS[-1] + 1, True, 2.5, "3"])
def test_bad_steps_are_one_line_errors(lively_stylizer, bad):
    with pytest.raises(UsageError, match="refine steps must be an integer in 0..") as err:
        check_refine(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError):
        lively_stylizer.stylize(images(0), images(1), refine=bad)
    assert check_refine(5, max_steps=5) == 5
    with pytest.raises(UsageError, match="0..4"):
        check_refine(5, max_steps=4)


def test_style_files_cannot_be_refined(lively_stylizer):
    stats = lively_stylizer.style_stats([images(1)])
    with pytest.raises(UsageError, match="refinement needs the painting"):
        lively_stylizer.stylize(images(0), [stats], refine=2)
    assert lively_stylizer.stylize(images(0), [stats]).shape == (3, 32, 40)


# ---------------------------------------------------------------- the command line, folders, data sets


@pytest.fixture
def fast_models(monkeypatch, tmp_path):
    """The CLI builds its Stylizer on lively_nets' encoder; returns the path of the matching tiny decoder file."""
    from adain.decoder import save_decoder
    from helpers import lively_nets

    encoder, decoder = lively_nets()
    monkeypatch.setattr("adain.networks.Encoder", lambda **settings: encoder)
    path = tmp_path / "tiny.safetensors"
    save_decoder(decoder, path, {"steps": 0})
    return path


@pytest.fixture
def files(tmp_path):
    from helpers import write_image

    return {"content": write_image(tmp_path / "in" / "c.png", (45, 37), seed=1), "style": write_image(tmp_path / "in" / "s.png", (40, 30), seed=2),
            "other": write_image(tmp_path / "in" / "t.png", (30, 34), seed=3)}


def cli(args: list, capsys) -> tuple[int, str, str]:
    from adain.cli import main

    code = main([*map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_refine_changes_the_output_and_a_bare_flag_takes_the_default(files, tmp_path, fast_models, capsys, monkeypatch):
    import numpy as np
    from PIL import Image

    import adain.stylizer

    base = ["stylize", "-c", files["content"], "-s", files["style"], "--decoder", fast_models, "--style-size", "0", "--precision", "fp32"]
    assert cli([*base, "-o", tmp_path / "plain.png"], capsys)[0] == 0
    assert cli([*base, "-o", tmp_path / "refined.png", "--refine", "3"], capsys)[0] == 0
    plain, refined = (np.asarray(Image.open(tmp_path / f"{n}.png"), np.float32) for n in ("plain", "refined"))
    assert plain.shape == refined.shape == (37, 45, 3)
    assert np.abs(plain - refined).mean() > 0.5
    steps: list[int] = []
    real = adain.stylizer.refine_image
    monkeypatch.setattr("adain.refine.DEFAULT_REFINE", 2)
    monkeypatch.setattr(adain.stylizer, "refine_image", lambda *a, **k: steps.append(a[3]) or real(*a, **k))
    code, _, err = cli([*base, "-o", tmp_path / "bare.png", "--refine"], capsys)
    assert code == 0, err
    assert steps == [2]


@pytest.mark.parametrize("extra, message", [
    (["--refine", "-1"], "refine steps must be an integer in 0..200, got -1"),
    (["--refine", "201"], "refine steps must be an integer in 0..200, got 201"),
    (["--refine", "2", "--tile", "64"], "--refine does not work with --tile"),
    (["--refine", "2", "--model", "lite", "--tile", "64"], "--model lite does not take --tile"),
])
def test_cli_bad_refine_is_a_one_line_error(files, tmp_path, fast_models, capsys, extra, message):
    out = tmp_path / "out" / "o.png"
    code, _, err = cli(["stylize", "-c", files["content"], "-s", files["style"], "-o", out, "--decoder", fast_models, *extra], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err, err
    assert not out.exists()


def test_cli_refine_refuses_a_style_file(files, tmp_path, fast_models, capsys):
    style_file = tmp_path / "s.safetensors"
    code, _, err = cli(["save-style", files["style"], "-o", style_file], capsys)
    assert code == 0, err
    code, _, err = cli(["stylize", "-c", files["content"], "-s", style_file, "-o", tmp_path / "o.png", "--decoder", fast_models, "--refine", "2"], capsys)
    assert code == 2 and "refinement needs the painting" in err and len(err.strip().splitlines()) == 1, err


def test_folder_mode_refines_every_pair(files, tmp_path, fast_models, capsys):
    import numpy as np
    from PIL import Image

    styles = tmp_path / "in"
    base = ["stylize", "-c", files["content"], "-s", styles, "--decoder", fast_models, "--style-size", "0", "--precision", "fp32"]
    assert cli([*base, "-o", tmp_path / "plain"], capsys)[0] == 0
    code, out, err = cli([*base, "-o", tmp_path / "refined", "--refine", "2"], capsys)
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "refined").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "plain").iterdir()) and len(names) == 3
    for name in names:
        a, b = (np.asarray(Image.open(tmp_path / d / name), np.float32) for d in ("plain", "refined"))
        assert np.abs(a - b).mean() > 0.5, name


def test_dataset_refines_its_outputs(files, tmp_path, lively_stylizer):
    import numpy as np
    from PIL import Image

    from adain.apps.dataset import DatasetOptions, stylize_dataset
    from helpers import write_image

    src, paintings = tmp_path / "src", tmp_path / "paintings"
    write_image(src / "a.png", (40, 32), seed=4)
    write_image(paintings / "p.png", (36, 36), seed=5)
    for refine, out in ((0, "plain"), (2, "refined")):
        opts = DatasetOptions(losses=False, format="png", refine=refine)
        stylize_dataset(src, paintings, tmp_path / out, opts, stylizer=lively_stylizer, shard=(0, 1), progress=False)
    a, b = (np.asarray(Image.open(next((tmp_path / d).rglob("a*.png"))), np.float32) for d in ("plain", "refined"))
    assert a.shape == b.shape and np.abs(a - b).mean() > 0.5
    with pytest.raises(UsageError, match="refine steps must be an integer"):
        DatasetOptions(refine=-2)


# ---------------------------------------------------------------- the HTTP API


def png_bytes_of(size: tuple[int, int], seed: int) -> bytes:
    import io

    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    small = (torch.rand(3, size[1] // 4 + 1, size[0] // 4 + 1, generator=g) * 255).byte().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(small, "RGB").resize(size).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def api(lively_stylizer, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from adain.apps.server import Limits, create_app

    def make(**limits):
        return TestClient(create_app(lively_stylizer, limits=Limits(style_size=32, max_size=256, **limits), temp_dir=tmp_path))

    return make


def test_api_refine_matches_the_python_api_and_is_bounded(api, lively_stylizer):
    import io

    from PIL import Image

    from adain.geometry import prepare, resize_shorter
    from adain.io.images import pil_to_tensor
    from adain.lite.stylizer import LiteStylizer

    content, style = png_bytes_of((48, 40), 0), png_bytes_of((40, 48), 1)
    files = [("content", ("c.png", content, "image/png")), ("style", ("s.png", style, "image/png"))]
    client = api()
    plain = client.post("/api/stylize", data={"size": "32"}, files=files)
    refined = client.post("/api/stylize", data={"size": "32", "refine": "3"}, files=files)
    assert plain.status_code == refined.status_code == 200, refined.text
    got, base = (pil_to_tensor(Image.open(io.BytesIO(r.content))) for r in (refined, plain))
    c = prepare(pil_to_tensor(Image.open(io.BytesIO(content))), 32)
    s = resize_shorter(pil_to_tensor(Image.open(io.BytesIO(style))), 32)
    want = lively_stylizer.stylize(c, [s], refine=3)
    assert float((got - want).abs().max()) <= 1.5 / 255
    assert float((got - base).abs().mean()) > 1 / 255
    over = client.post("/api/stylize", data={"size": "32", "refine": "21"}, files=files)
    assert over.status_code == 422
    lite = client.post("/api/stylize", data={"size": "32", "refine": "2", "model": "lite"}, files=files)
    assert lite.status_code == 200, lite.text
    want_lite = LiteStylizer(refiner=lively_stylizer).stylize(c, [s], refine=2)
    assert float((pil_to_tensor(Image.open(io.BytesIO(lite.content))) - want_lite).abs().max()) <= 1.5 / 255


def test_page_has_a_refine_control():
    from adain.apps.server import STATIC

    page = (STATIC / "index.html").read_text()
    assert 'id="refine"' in page and 'form.append("refine"' in (STATIC / "app.js").read_text()


@pytest.mark.parametrize("preserve_color", [None, "luminance", "color"])
def test_the_lite_models_output_is_refined_by_the_full_models_encoder(lively_stylizer, preserve_color):
    """Refinement starts from the lite model's image before colour preservation and ends as the full model's does:
    lower objective than the lite output itself, the content's chroma kept with ``"luminance"``; no refiner: one line."""
    pytest.importorskip("onnxruntime")
    from adain.color import content_inputs, rgb_to_yiq
    from adain.lite.stylizer import LiteStylizer

    content, style = images(0, 40, 48), images(1, 32, 32)
    lite = LiteStylizer(threads=1, refiner=lively_stylizer)
    plain, refined = lite.stylize(content, [style], preserve_color=preserve_color), lite.stylize(content, [style], preserve_color=preserve_color, refine=3)
    assert refined.shape == plain.shape == content.shape and float((refined - plain).abs().mean()) > 1e-3
    if preserve_color == "luminance":
        assert float((rgb_to_yiq(refined)[1:] - rgb_to_yiq(content)[1:]).abs().mean()) < 0.01  # but where clipping to [0, 1] cuts
    taps = lively_stylizer.tap_stats([style], preserve_color=preserve_color, reference=content)
    feats = lively_stylizer.tap_features(pad_to_multiple(content_inputs(content[None], preserve_color))[0])
    targets = refine_targets(feats, taps, alpha=1.0, weights=torch.ones(1), masks=None)

    def objective(image):
        seen = content_inputs(image[None], preserve_color) if preserve_color == "luminance" else image[None]
        return float(refine_loss(lively_stylizer.tap_features(pad_to_multiple(seen)[0]), targets))

    assert objective(refined) < objective(plain)
    with pytest.raises(UsageError, match="full model's encoder"):
        LiteStylizer(threads=1).stylize(content, [style], refine=2)


def test_cli_and_dataset_refine_the_lite_model(files, tmp_path, fast_models, capsys):
    pytest.importorskip("onnxruntime")
    import numpy as np
    from PIL import Image

    from adain.io.provenance import read_record

    base = ["stylize", "-c", files["content"], "-s", files["style"], "--model", "lite", "--style-size", "0"]
    assert cli([*base, "-o", tmp_path / "plain.png"], capsys)[0] == 0
    code, _, err = cli([*base, "-o", tmp_path / "refined.png", "--refine", "2"], capsys)
    assert code == 0, err
    plain, refined = (np.asarray(Image.open(tmp_path / f"{n}.png"), np.float32) for n in ("plain", "refined"))
    assert plain.shape == refined.shape == (37, 45, 3) and np.abs(plain - refined).mean() > 0.5
    record = read_record(Image.open(tmp_path / "refined.png"))
    assert record["model"] == "lite" and record["refine"] == 2
    dataset = ["stylize-dataset", files["content"].parent, files["style"].parent, tmp_path / "ds", "--model", "lite", "--no-losses"]
    code, _, err = cli([*dataset, "--refine", "1"], capsys)
    assert code == 0, err
    assert read_record(Image.open(next((tmp_path / "ds").glob("c*"))))["refine"] == 1
