"""The lite model: its network, the ONNX graphs against torch, the controls in numpy, bad weights, training, and the torch-free CLI."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain.errors import UsageError, WeightsError
from adain.lite.export import export_lite
from adain.lite.model import LiteNet, load_lite, save_lite
from adain.lite.runtime import LiteModel, keep_chroma, luminance_image, match_color, pad_to_multiple, stage_masks
from adain.lite.weights import DECODER_FILE, ENCODER_FILE, LITE_PATH, read_lite_metadata
from adain.training.train import TrainConfig, train
from helpers import write_image

pytest.importorskip("onnxruntime")


def lively_lite(seed: int = 0) -> LiteNet:
    """A random lite network whose output varies with its inputs (He-initialised: the signal neither dies nor saturates)."""
    torch.manual_seed(seed)
    net = LiteNet()
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            torch.nn.init.uniform_(module.bias, -0.1, 0.1)
    with torch.no_grad():
        net.decoder.out[1].weight.mul_(0.1)
        net.decoder.out[1].bias.fill_(0.5)  # around mid-grey: little clipping
    return net


def _export(folder: Path, seed: int = 0) -> tuple[LiteNet, LiteModel]:
    folder.mkdir(parents=True, exist_ok=True)
    save_lite(lively_lite(seed), folder / "lite.safetensors", {"steps": 0})
    net = load_lite(folder / "lite.safetensors")
    export_lite(net, folder)
    return net, LiteModel(folder, threads=1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[LiteNet, LiteModel]:
    return _export(tmp_path_factory.mktemp("lite"))


def _rand(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_onnx_graphs_compute_the_torch_network(exported):
    net, model = exported
    content, style = _rand(50, 70, 0), _rand(40, 44, 1)
    out = model.stylize(content, [style])
    c = torch.from_numpy(pad_to_multiple(content.transpose(2, 0, 1).copy(), net.multiple))[None]
    s = torch.from_numpy(style.transpose(2, 0, 1).copy())[None]
    ref = net(c, s)[0, :, :50, :70].clamp(0, 1).permute(1, 2, 0).numpy()
    assert out.shape == (50, 70, 3)
    np.testing.assert_allclose(out, ref, atol=1e-4)
    assert np.abs(model.stylize(content, [_rand(40, 44, 2)]) - out).mean() > 1e-3  # another style, another picture


def _decoder_matches_torch(net: LiteNet, model: LiteModel, h: int, w: int, maps: bool, seed: int) -> None:
    """The decoder graph on a bottleneck grid ``h × w`` (features and targets random, the targets maps or vectors) equals
    the torch decoder, unclamped."""
    g = torch.Generator().manual_seed(seed)
    levels = len(net.widths)
    sizes = [(h * 2 ** (levels - 1 - level), w * 2 ** (levels - 1 - level)) for level in range(levels)]
    feats = [torch.randn(1, c, *size, generator=g).relu() for c, size in zip(net.widths, sizes, strict=True)]
    targets = [(torch.randn(1, c, *(size if maps else (1, 1)), generator=g), torch.rand(1, c, *(size if maps else (1, 1)), generator=g) + 0.1)
               for c, size in zip(net.widths, sizes, strict=True)]
    inputs = {"bottleneck": feats[-1].numpy(), **{f"feature{i + 1}": f.numpy() for i, f in enumerate(feats[:-1])}}
    for i, (mean, std) in enumerate(targets):
        inputs |= {f"mean{i + 1}": mean.numpy(), f"std{i + 1}": std.numpy()}
    (out,) = model.decoder.run(None, inputs)
    ref = net.decoder(feats, targets).numpy()
    assert out.shape == ref.shape == (1, 3, *sizes[0])
    np.testing.assert_allclose(out, ref, atol=1e-4)


@pytest.mark.parametrize(("h", "w", "maps"), [(5, 7, False), (3, 9, True), (2, 3, False)])
def test_decoder_graph_computes_the_torch_decoder_on_odd_grids(exported, h, w, maps):
    """The decoder's upsamplings are written at the low resolution (edge pad, a 2x2 convolution, DepthToSpace, a crop):
    the same numbers as upsampling, reflection padding and a 3x3 convolution, at every border of odd-sized grids and the
    smallest (2 × 3: a 16 px side)."""
    _decoder_matches_torch(*exported, h, w, maps, seed=h)


@pytest.mark.skipif(not LITE_PATH.is_file(), reason="no shipped lite weights")
def test_shipped_decoder_graph_computes_the_shipped_weights():
    _decoder_matches_torch(load_lite(LITE_PATH), LiteModel(threads=1), 5, 3, maps=False, seed=0)


def test_controls_mean_what_they_mean_for_the_full_model(exported):
    _, model = exported
    content, a, b = _rand(32, 40, 0), _rand(32, 32, 1), _rand(24, 40, 2)
    sa, sb = model.style(a), model.style(b)
    only_a = model.stylize(content, [sa])
    np.testing.assert_allclose(model.stylize(content, [sa, sb], weights=[1, 0]), only_a, atol=1e-5)
    np.testing.assert_allclose(model.stylize(content, [a]), only_a, atol=1e-6)  # an image or its statistics
    _, own = model.encode(content)
    targets = model._targets(own, [sa], 0.0, np.ones(1, np.float32), None)  # α = 0: the content's own statistics
    np.testing.assert_allclose(targets["mean3"].ravel(), own.means[2], rtol=1e-6)
    half = model._targets(own, [sa], 0.5, np.ones(1, np.float32), None)
    np.testing.assert_allclose(half["std1"].ravel(), 0.5 * own.stds[0] + 0.5 * sa.stds[0], rtol=1e-5)
    masks = np.zeros((2, 32, 40), np.float32)
    masks[0, :, :20], masks[1, :, 20:] = 1, 1
    maps = model._targets(own, [sa, sb], 1.0, None, stage_masks(masks, len(model.widths)))
    assert maps["mean1"].shape == (1, 16, 32, 40) and maps["mean4"].shape == (1, 128, 4, 5)
    np.testing.assert_allclose(maps["mean1"][0, :, 5, 3], sa.means[0], rtol=1e-6)
    np.testing.assert_allclose(maps["mean1"][0, :, 5, 30], sb.means[0], rtol=1e-6)
    assert model.stylize(content, [sa, sb], masks=masks).shape == (32, 40, 3)


def test_stage_masks_average_blocks_and_share_overlaps():
    masks = np.zeros((2, 8, 8), np.float32)
    masks[0, :, :4], masks[1] = 1, 1  # overlapping on the left half
    grids = stage_masks(masks, 3)
    assert [g.shape for g in grids] == [(2, 1, 8, 8), (2, 1, 4, 4), (2, 1, 2, 2)]
    np.testing.assert_allclose(grids[2][:, 0, 0, 0], [0.5, 0.5])  # shared where both cover
    np.testing.assert_allclose(grids[2][:, 0, 0, 1], [0.0, 1.0])


def test_colour_preservation_matches_the_full_models():
    from adain import color

    content, style = _rand(20, 24, 0), _rand(16, 16, 1) * 0.5
    to_t = lambda a: torch.from_numpy(a.transpose(2, 0, 1).copy())  # noqa: E731
    np.testing.assert_allclose(match_color(style, content), color.match_color(to_t(style), to_t(content)).permute(1, 2, 0).numpy(), atol=1e-5)
    np.testing.assert_allclose(luminance_image(style, like=content), color.luminance_image(to_t(style), like=to_t(content)).permute(1, 2, 0).numpy(),
                               atol=1e-5)
    out = _rand(20, 24, 2)
    np.testing.assert_allclose(keep_chroma(out, content), color.keep_chroma(to_t(out), to_t(content)).permute(1, 2, 0).numpy(), atol=1e-5)


@pytest.mark.parametrize("kw, message", [
    ({"alpha": 1.5}, "alpha must be in"),
    ({"weights": [1, 1]}, "2 style weights given for 1 styles"),
    ({"preserve_color": "sepia"}, "preserve_color must be one of"),
    ({"masks": np.ones((1, 3, 3), np.float32)}, "do not fit"),
])
def test_bad_controls_are_one_line(exported, kw, message):
    with pytest.raises(UsageError, match=message):
        exported[1].stylize(_rand(16, 16, 0), [_rand(16, 16, 1)], **kw)


def test_graphs_of_two_networks_are_refused(tmp_path, exported):
    _export(tmp_path / "other", seed=1)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(tmp_path / "other" / ENCODER_FILE, mixed / ENCODER_FILE)
    _export(tmp_path / "third", seed=2)
    shutil.copy(tmp_path / "third" / DECODER_FILE, mixed / DECODER_FILE)
    with pytest.raises(WeightsError, match="made from other weights"):
        LiteModel(mixed)
    (mixed / DECODER_FILE).write_bytes(b"\x08garbage" * 20)
    with pytest.raises(WeightsError, match=f"{DECODER_FILE}: not a readable ONNX model"):
        LiteModel(mixed)
    shutil.copy(tmp_path / "other" / ENCODER_FILE, mixed / DECODER_FILE)  # an encoder where the decoder belongs
    with pytest.raises(WeightsError, match="not the lite decoder"):
        LiteModel(mixed)


def test_damaged_or_foreign_weights_are_one_line(tmp_path):
    bad = tmp_path / "lite.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        read_lite_metadata(bad)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(bad), metadata={"format": "adain-decoder"})
    with pytest.raises(WeightsError, match="not lite weights"):
        read_lite_metadata(bad)
    save_file({"x": torch.zeros(1)}, str(bad), metadata={"format": "adain-lite", "widths": "[16, 32, 64, 128]"})
    with pytest.raises(WeightsError, match="not lite weights of widths"):
        load_lite(bad)


def test_distillation_trains_resumes_exactly_and_records_its_teacher(image_dir, tmp_path):
    cfg = dict(content=image_dir / "content", style=image_dir / "style", size=32, crop=32, batch=2, bf16=False, save_every=1, sample_every=2,
               log_every=1, model="lite", distill_weight=5.0)
    straight = train(TrainConfig(out=tmp_path / "a", steps=2, **cfg))
    assert straight.name == "lite.safetensors"
    train(TrainConfig(out=tmp_path / "b", steps=1, **cfg))
    resumed = train(TrainConfig(out=tmp_path / "b", steps=2, resume=True, **cfg))
    a, b = load_lite(straight).state_dict(), load_lite(resumed).state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"{key} differs after resume")
    meta = read_lite_metadata(straight)
    assert meta["steps"] == 2 and meta["distill_weight"] == 5.0 and meta["teacher"].startswith("decoder ") and "distill_weight*Ld" in meta["loss"]
    rows = list(csv.DictReader(open(tmp_path / "a" / "log.csv")))
    assert all(float(r["distill"]) > 0 for r in rows)
    with pytest.raises(UsageError, match="--distill-weight must be ≥ 0"):
        TrainConfig(out=tmp_path / "c", steps=1, **{**cfg, "distill_weight": -1.0})


needs_shipped = pytest.mark.skipif(not LITE_PATH.is_file(), reason="no shipped lite weights")


@needs_shipped
def test_stylize_runs_when_torch_cannot_be_imported(tmp_path):
    """``adain stylize --model lite`` never imports torch: it runs with a torch that fails to import (and loads no progress
    bar or package metadata for one image)."""
    blocker = tmp_path / "block"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
    content, style = write_image(tmp_path / "c.png", (40, 32), seed=0), write_image(tmp_path / "s.jpg", (32, 32), seed=1)
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    heavy = "{'torch', 'tqdm', 'importlib.metadata'}"  # nor what a one-shot image does not need (each costs start-up time)
    code = f"import sys; from adain.cli import main; rc = main(sys.argv[1:]); assert not {heavy} & set(sys.modules), {heavy} & set(sys.modules); sys.exit(rc)"
    Image.fromarray(np.full((16, 20), 255, np.uint8)).save(tmp_path / "m.png")  # a mask of half the content's size
    args = ["stylize", "--model", "lite", "--content", str(content), "--style", str(style), "--output", str(tmp_path / "o.jpg"), "--alpha", "0.8",
            "--mask", str(tmp_path / "m.png")]
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "o.jpg").size == (40, 32)
    check = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert check.returncode != 0  # the blocker works, so the command above really ran without torch


@needs_shipped
def test_cli_records_the_lite_model_and_refuses_what_it_lacks(tmp_path, capsys):
    import json

    from adain.cli import main
    from adain.io.provenance import read_record

    content, style = write_image(tmp_path / "c.png", (40, 32), seed=0), write_image(tmp_path / "s.jpg", (32, 32), seed=1)
    base = ["stylize", "--model", "lite", "--content", str(content), "--style", str(style)]
    assert main([*base, "--output", str(tmp_path / "o.png")]) in (0, None)
    record = read_record(Image.open(tmp_path / "o.png"))
    assert record["model"] == "lite" and record["lite"] == LiteModel().metadata["weights"] and record["method"] == "adain"
    for extra, message in [(["--method", "wct"], "does not take --method wct"), (["--tile", "64"], "does not take --tile"),
                           (["--backend", "onnxruntime"], "does not take --backend onnxruntime")]:
        assert main([*base, "--output", str(tmp_path / "x.jpg"), *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.jpg").exists()
    json.dumps(record)


@needs_shipped
def test_cli_masks_follow_the_rule_of_every_entry_point(tmp_path, capsys):
    """``--model lite`` takes masks as the full model does: one fewer than styles (style 1 takes the rest: the output of
    both masks), any size of the content's aspect ratio; another aspect ratio, or a count that fits neither, is refused."""
    from adain.cli import main

    content = write_image(tmp_path / "c.png", (40, 32), seed=0)
    styles = [str(write_image(tmp_path / f"s{i}.jpg", (32, 32), seed=i + 1)) for i in range(2)]
    left = np.zeros((32, 40), np.uint8)
    left[:, :20] = 255
    for name, arr in {"left": left, "right": 255 - left, "half": (255 - left)[::2, ::2], "wide": np.full((16, 40), 255, np.uint8)}.items():
        Image.fromarray(arr, "L").save(tmp_path / f"{name}.png")

    def stylize(out: str, *masks: str) -> int | None:
        return main(["stylize", "--model", "lite", "-c", str(content), "-s", *styles, "-o", str(tmp_path / out),
                     "--mask", *(str(tmp_path / f"{m}.png") for m in masks)])

    assert stylize("both.png", "left", "right") in (0, None) and stylize("fewer.png", "right") in (0, None)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "both.png")), np.asarray(Image.open(tmp_path / "fewer.png")))
    assert stylize("from_half.png", "half") in (0, None) and Image.open(tmp_path / "from_half.png").size == (40, 32)
    capsys.readouterr()
    assert stylize("x.png", "left", "wide") == 2 and "wide.png: 40x16 does not have the content's aspect ratio (40x32)" in capsys.readouterr().err
    assert stylize("x.png", "left", "right", "left") == 2 and "3 masks given for 2 styles" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@needs_shipped
def test_folders_with_the_lite_model(tmp_path, image_dir):
    from adain.cli import main

    (image_dir / "content" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code = main(["stylize", "--model", "lite", "--content", str(image_dir / "content"), "--style", str(image_dir / "style"),
                 "--output", str(tmp_path / "out"), "--grid", str(tmp_path / "grid.jpg")])
    assert code == 2  # the broken file is skipped, the rest written
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 9 and (tmp_path / "grid.jpg").is_file()



@needs_shipped
def test_video_with_the_lite_model_records_it_and_refuses_what_it_lacks(tmp_path, capsys):
    import av

    from adain.cli import main
    from helpers import make_video

    clip = make_video(tmp_path / "clip.mp4", frames=5, size=(48, 32))
    style = write_image(tmp_path / "s.jpg", (32, 32), seed=1)
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip), str(out), "--style", str(style), "--model", "lite", "--alpha", "0.7"]) == 0, capsys.readouterr().err
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5
    assert main(["info", "--json", str(out)]) == 0
    shown = capsys.readouterr().out
    assert '"model": "lite"' in shown and LiteModel().metadata["weights"] in shown
    for extra, option in [(["--stats-momentum", "0.9"], "--stats-momentum"), (["--method", "efdm"], "--method"), (["--compile"], "--compile")]:
        assert main(["video", str(clip), str(tmp_path / "x.mp4"), "--style", str(style), "--model", "lite", *extra]) == 2
        assert f"--model lite does not take {option}" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


@needs_shipped
def test_server_stylizes_with_the_lite_model_when_asked(tmp_path):
    import io

    from fastapi.testclient import TestClient

    from adain.apps.server import Limits, create_app
    from adain.io.provenance import read_record
    from adain.stylizer import Stylizer
    from helpers import lively_nets, png_bytes

    encoder, decoder = lively_nets()
    full = Stylizer(decoder, encoder=encoder, device="cpu", bf16=False)
    client = TestClient(create_app(full, limits=Limits(style_size=64)))
    photo = png_bytes((np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8))
    files = [("content", ("photo.png", photo, "image/png"))]
    r = client.post("/api/stylize", data={"size": "32", "style_name": "hokusai", "model": "lite", "alpha": "0.8"}, files=files)
    assert r.status_code == 200, r.text
    record = read_record(Image.open(io.BytesIO(r.content)))
    assert record["model"] == "lite" and record["lite"] == LiteModel().metadata["weights"]
    assert Image.open(io.BytesIO(r.content)).size == (38, 32)
    full_record = read_record(Image.open(io.BytesIO(client.post("/api/stylize", data={"size": "32", "style_name": "hokusai"}, files=files).content)))
    assert "lite" not in full_record and full_record["decoder"]
    bad = client.post("/api/stylize", data={"size": "32", "style_name": "hokusai", "model": "lite", "method": "wct"}, files=files)
    assert bad.status_code == 400 and "adain only" in bad.json()["detail"]
    assert client.post("/api/stylize", data={"size": "32", "style_name": "hokusai", "model": "tiny"}, files=files).status_code == 422


@needs_shipped
def test_dataset_with_the_lite_model(tmp_path, capsys):
    from adain.cli import main
    from adain.io.provenance import read_record

    for i in range(2):
        write_image(tmp_path / "src" / f"c{i}.png", (40, 32), seed=i)
    write_image(tmp_path / "styles" / "s.jpg", (32, 32), seed=9)
    args = ["stylize-dataset", str(tmp_path / "src"), str(tmp_path / "styles"), str(tmp_path / "out"), "--model", "lite"]
    assert main(args) == 2 and "--no-losses" in capsys.readouterr().err
    assert main([*args, "--no-losses"]) == 0, capsys.readouterr().err
    record = read_record(Image.open(tmp_path / "out" / "c0.png"))
    assert record["model"] == "lite" and record["styles"][0]["name"] == "s.jpg"
    assert main([*args, "--no-losses", "--backend", "onnxruntime"]) == 2


@needs_shipped
def test_server_serves_the_lite_graphs_for_the_page():
    import hashlib

    from fastapi.testclient import TestClient

    from adain.apps.server import create_app
    from adain.stylizer import Stylizer
    from helpers import lively_nets

    encoder, decoder = lively_nets()
    client = TestClient(create_app(Stylizer(decoder, encoder=encoder, device="cpu", bf16=False)))
    assert client.get("/api/info").json()["lite"] == "lite/manifest.json"
    manifest = client.get("/lite/manifest.json").json()
    assert manifest["format"] == "adain-lite" and manifest["stats"][:2] == ["mean1", "std1"] and manifest["multiple"] == 8
    for entry in manifest["files"].values():
        data = client.get(f"/lite/{entry['path']}").content
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    for name in ("lite.safetensors", "decoder.safetensors", "..%2Fdecoder.safetensors"):
        assert client.get(f"/lite/{name}").status_code == 404
    assert "/lite/manifest.json" not in client.get("/openapi.json").json()["paths"]


@needs_shipped
def test_lite_style_files_give_the_paintings_result_and_are_checked(tmp_path, capsys):
    from adain.cli import main
    from adain.lite.stylefile import LiteStyleFileError, read_lite_style, write_lite_style

    content, a, b = (write_image(tmp_path / n, s, seed=i) for i, (n, s) in enumerate([("c.png", (48, 40)), ("a.jpg", (40, 40)), ("b.png", (32, 48))]))
    mix = tmp_path / "mix.safetensors"
    assert main(["save-style", "--model", "lite", str(a), str(b), "--weights", "3", "1", "-o", str(mix)]) == 0
    assert "a.jpg × 0.75, b.png × 0.25" in capsys.readouterr().out and mix.stat().st_size < 4096
    outs = {}
    for name, styles in (("file", [mix]), ("paintings", [a, b])):
        outs[name] = tmp_path / f"{name}.png"
        args = ["stylize", "--model", "lite", "-c", str(content), "-s", *map(str, styles), "-o", str(outs[name])]
        assert main(args + (["--weights", "3", "1"] if name == "paintings" else [])) == 0, capsys.readouterr().err
    pixels = [np.asarray(Image.open(p), dtype=int) for p in outs.values()]
    assert np.abs(pixels[0] - pixels[1]).max() <= 1
    model = LiteModel()
    style, sources = read_lite_style(mix, model)
    assert [s["name"] for s in sources] == ["a.jpg", "b.png"]
    bad = tmp_path / "bad.safetensors"
    write_lite_style(style, bad, model="adain-lite:0000000000000000", sources=[])
    with pytest.raises(LiteStyleFileError, match="made with other lite weights"):
        read_lite_style(bad, model)
    broken = type(style)(style.means, (style.stds[0] * 0, *style.stds[1:]))
    write_lite_style(broken, bad, model=model.identity, sources=[])
    with pytest.raises(LiteStyleFileError, match="std1 must be 16 finite float32 values, all positive"):
        read_lite_style(bad, model)
    assert main(["stylize", "--model", "lite", "-c", str(content), "-s", str(mix), "-o", str(tmp_path / "x.png"), "--preserve-color", "color"]) == 2
    assert "mix.safetensors: --preserve-color recolours the painting" in capsys.readouterr().err
    assert main(["stylize", "-c", str(content), "-s", str(mix), "-o", str(tmp_path / "x.png")]) == 2  # the full model refuses it in one line
    assert "mix.safetensors" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_eval_takes_lite_weights_of_a_run(tmp_path):
    from adain.evaluation.evaluate import _stylize_fns

    save_lite(lively_lite(3), tmp_path / "lite.safetensors", {"steps": 7, "total_steps": 7})
    stylize, _, device, weights, steps = _stylize_fns("lite", "adain", tmp_path / "lite.safetensors", None, None, "cpu", 0)
    out = stylize(torch.rand(3, 40, 48), torch.rand(3, 300, 320))  # the painting shrunk to the lite model's scale inside
    assert out.shape == (3, 40, 48) and weights == tmp_path / "lite.safetensors" and steps == 7 and device.type == "cpu"
    with pytest.raises(UsageError, match="adain only"):
        _stylize_fns("lite", "wct", tmp_path / "lite.safetensors", None, None, "cpu", 0)


@needs_shipped
def test_info_describes_a_lite_style_file(tmp_path, capsys):
    from adain.cli import main

    painting = write_image(tmp_path / "a.jpg", (40, 40), seed=1)
    assert main(["save-style", "--model", "lite", str(painting), "-o", str(tmp_path / "a.safetensors")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "a.safetensors")]) == 0
    shown = capsys.readouterr().out
    assert "lite style file" in shown and LiteModel().identity in shown and "a.jpg" in shown


def test_lite_options_mirror_the_full_models_file_options():
    """LiteOptions repeats the fields of StylizeOptions it supports (it must import no torch): same names, same defaults
    but the style size (the lite model's training scale)."""
    import dataclasses

    from adain.apps.files import StylizeOptions
    from adain.apps.lite import LiteOptions
    from adain.lite.weights import STYLE_SIZE

    full = {f.name: f.default for f in dataclasses.fields(StylizeOptions)}
    lite = {f.name: f.default for f in dataclasses.fields(LiteOptions)}
    assert set(lite) <= set(full)
    assert {k: v for k, v in lite.items() if k != "style_size"} == {k: full[k] for k in lite if k != "style_size"}
    assert lite["style_size"] == STYLE_SIZE
