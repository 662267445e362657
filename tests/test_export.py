"""ONNX export and the ONNX Runtime backend: files, manifest, precisions, equality with torch."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import onnx

from adain.decoder import Decoder, init_like_paper
from adain.onnx.export import MANIFEST, MissingExtraError, convert_precision, export_onnx, file_digest
from adain.onnx.runtime import ExportError, OnnxNetworks, OnnxStylizer, read_manifest
from adain.stylizer import Stylizer


@pytest.fixture(scope="module")
def tiny_decoder() -> Decoder:
    decoder = init_like_paper(Decoder(width=0.125), seed=1)
    decoder.metadata = {"width": 0.125, "steps": 0}
    return decoder.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_encoder, tiny_decoder) -> Path:
    """One fp32 export of the random VGG encoder and a tiny decoder (shared: exporting takes seconds)."""
    folder = tmp_path_factory.mktemp("onnx")
    export_onnx(folder, encoder=tiny_encoder, decoder=tiny_decoder)
    return folder


@pytest.fixture
def torch_stylizer(tiny_encoder, tiny_decoder) -> Stylizer:
    return Stylizer(tiny_decoder, encoder=tiny_encoder, device="cpu", bf16=False, channels_last=False)


def copy_export(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_manifest_and_checker(exported, tiny_decoder):
    manifest = read_manifest(exported)
    assert manifest["precision"] == "fp32"
    assert manifest["decoder"] == tiny_decoder.metadata
    assert manifest["input"]["channels"] == "RGB" and manifest["features"]["stride"] == 8
    for entry in manifest["files"].values():
        path = exported / entry["path"]
        assert entry["sha256"] == file_digest(path)
        onnx.checker.check_model(str(path), full_check=True)
    assert sorted(p.name for p in exported.iterdir()) == ["decoder.onnx", "encoder.onnx", MANIFEST]


def test_dynamic_height_and_width(exported, tiny_encoder, tiny_decoder):
    nets = OnnxNetworks(exported, threads=1)
    for h, w in ((32, 48), (56, 24)):
        x = torch.rand(2, 3, h, w)
        feats = nets.encode(x)
        torch.testing.assert_close(feats, tiny_encoder.encode(x), rtol=1e-4, atol=1e-4 * float(feats.abs().max()))
        out = nets.decode(feats)
        assert out.shape == (2, 3, h, w)
        torch.testing.assert_close(out, tiny_decoder(feats), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "controls",
    [
        {},
        {"alpha": 0.6},
        {"weights": [3.0, 1.0]},
        {"preserve_color": "color"},
        {"preserve_color": "luminance", "alpha": 0.8},
        {"masks": "halves"},
    ],
)
def test_stylizer_equals_torch(exported, torch_stylizer, controls, one_thread):
    """Every control runs the torch path's code; the results agree to float32 rounding (< 1e-4)."""
    torch.manual_seed(3)
    content = torch.rand(3, 36, 44)
    styles = [torch.rand(3, 40, 32), torch.rand(3, 24, 48)]
    if controls.get("masks") == "halves":
        left = torch.zeros(36, 44)
        left[:, :22] = 1
        controls = {"masks": torch.stack([left, 1 - left])}
    ours = OnnxStylizer(exported, threads=1).stylize(content, styles, **controls)
    theirs = torch_stylizer.stylize(content, styles, **controls)
    assert ours.shape == theirs.shape == content.shape
    assert float((ours - theirs).abs().max()) < 1e-4


def test_precisions(exported, tmp_path, torch_stylizer, one_thread):
    """fp16 halves the files; results stay close to fp32's."""
    content, style = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    reference = torch_stylizer.stylize(content, style)
    folder = copy_export(exported, tmp_path / "fp16")
    for name in ("encoder.onnx", "decoder.onnx"):
        convert_precision(folder / name, "fp16")
        onnx.checker.check_model(str(folder / name), full_check=True)
    (folder / MANIFEST).unlink()
    size = sum(p.stat().st_size for p in folder.iterdir())
    with pytest.raises(ExportError, match="no manifest.json"):
        OnnxNetworks(folder)
    manifest = json.loads((exported / MANIFEST).read_text())
    for entry in manifest["files"].values():
        entry.update(bytes=(folder / entry["path"]).stat().st_size, sha256=file_digest(folder / entry["path"]))
    manifest["precision"] = "fp16"
    (folder / MANIFEST).write_text(json.dumps(manifest))
    assert float((OnnxStylizer(folder, threads=1).stylize(content, style) - reference).abs().mean()) < 0.01
    assert size < 0.55 * sum(p.stat().st_size for p in exported.iterdir())


def test_int8_is_static_with_the_first_and_last_convolutions_in_float(tmp_path, tiny_encoder, tiny_decoder, torch_stylizer, one_thread):
    """Static QDQ int8, calibrated on the bundled examples: every convolution but the encoder's first and the
    decoder's last reads int8 weights; a quarter of the size; close to fp32."""
    manifest = export_onnx(tmp_path, precision="int8", encoder=tiny_encoder, decoder=tiny_decoder, calibration_size=32)
    assert manifest["precision"] == "int8" and manifest["quantization"]["float_convs"] == {"encoder": [0], "decoder": [-1]}
    for role, float_at in (("encoder", 0), ("decoder", -1)):
        graph = onnx.load(str(tmp_path / f"{role}.onnx")).graph
        made_by = {out: node for node in graph.node for out in node.output}
        convs = [node for node in graph.node if node.op_type == "Conv"]
        quantized = [made_by.get(node.input[1]) is not None and made_by[node.input[1]].op_type == "DequantizeLinear" for node in convs]
        assert not quantized[float_at] and sum(quantized) == len(convs) - 1, role
    content, style = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    ours = OnnxStylizer(tmp_path, threads=1).stylize(content, style)
    assert float((ours - torch_stylizer.stylize(content, style)).abs().mean()) < 0.1


def test_int8_models_are_built_once_per_decoder(tmp_path, monkeypatch, tiny_encoder, tiny_decoder):
    import adain.onnx.runtime as onnxrt
    from adain.decoder import save_decoder

    built = []

    def fake_export(folder, **kw):
        built.append(kw["decoder"])
        folder.mkdir(parents=True)
        (folder / MANIFEST).write_text("{}")

    monkeypatch.setattr(onnxrt, "export_onnx", fake_export)
    monkeypatch.setattr("adain.encoder.Encoder", lambda: tiny_encoder)
    save_decoder(tiny_decoder, tmp_path / "a.safetensors")
    other = init_like_paper(Decoder(width=0.125), seed=2)
    save_decoder(other, tmp_path / "b.safetensors")
    logged = []
    first = onnxrt.int8_models(tmp_path / "a.safetensors", cache=tmp_path / "cache", log=logged.append)
    assert onnxrt.int8_models(tmp_path / "a.safetensors", cache=tmp_path / "cache", log=logged.append) == first
    second = onnxrt.int8_models(tmp_path / "b.safetensors", cache=tmp_path / "cache", log=logged.append)
    assert len(built) == 2 and second != first and first.parent == tmp_path / "cache" / "int8" and len(logged) == 2
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, second.name]), "no build folder left behind"


def test_int8_option_needs_the_extra_and_the_torch_backend(monkeypatch, tmp_path, capsys):
    import builtins

    from adain.cli import main

    real = builtins.__import__

    def no_onnxscript(name, *args, **kwargs):
        if name == "onnxscript":
            raise ImportError("No module named 'onnxscript'")
        return real(name, *args, **kwargs)

    photo, painting = str(EXAMPLES / "content" / "canyon.jpg"), str(EXAMPLES / "style" / "hokusai.jpg")
    monkeypatch.setenv("ADAIN_CACHE", str(tmp_path / "cache"))  # nothing built yet: building needs onnxscript
    monkeypatch.setattr(builtins, "__import__", no_onnxscript)
    assert main(["stylize", "-c", photo, "-s", painting, "-o", str(tmp_path / "o.jpg"), "--precision", "int8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "adain[onnx]"' in err[0] and not (tmp_path / "o.jpg").exists()
    monkeypatch.setattr(builtins, "__import__", real)
    for extra in (["--backend", "onnxruntime", "--models", str(tmp_path)], ["--compile"], ["--device", "cuda"]):
        assert main(["stylize", "-c", photo, "-s", painting, "-o", str(tmp_path / "o.jpg"), "--precision", "int8", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("precision" in err[0] or "int8" in err[0]), extra


def test_bad_folders(exported, tmp_path):
    with pytest.raises(ExportError, match="not a folder"):
        read_manifest(tmp_path / "nothing")
    folder = copy_export(exported, tmp_path / "missing")
    (folder / "decoder.onnx").unlink()
    with pytest.raises(ExportError, match=r"decoder.onnx: missing"):
        read_manifest(folder)
    folder = copy_export(exported, tmp_path / "truncated")
    data = (folder / "encoder.onnx").read_bytes()
    (folder / "encoder.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ExportError, match="does not match its manifest"):
        read_manifest(folder)
    folder = copy_export(exported, tmp_path / "old")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest.update(format_version=0, adain_version="0.0.1")
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match=r"export format 0 \(made by adain 0.0.1\).*export again"):
        read_manifest(folder)
    (folder / MANIFEST).write_text("{not json")
    with pytest.raises(ExportError, match="not valid JSON"):
        read_manifest(folder)


def edit_manifest(folder: Path, change) -> Path:
    """Rewrite ``folder``'s manifest with ``change(manifest)`` applied; returns the manifest's path."""
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    return path


def replace_model(folder: Path, role: str, data: bytes) -> None:
    """Put ``data`` in place of a model file, and its size and SHA-256 into the manifest (it matches its manifest)."""
    file = folder / f"{role}.onnx"
    file.write_bytes(data)
    edit_manifest(folder, lambda m: m["files"][role].update(bytes=len(data), sha256=file_digest(file)))


DEEP = json.loads("[" * 900 + "]" * 900)  # deeper than the schema allows, shallow enough to write here


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.update(files=[1, 2]), "files must be an object, got a list of 2"),
    (lambda m: m["files"]["encoder"].update(path=5), "files.encoder.path must be a string of at most 255 characters, got 5"),
    (lambda m: m["files"]["decoder"].update(path=None), "files.decoder.path must be a string of at most 255 characters, got null"),
    (lambda m: m["files"]["decoder"].update(path="../decoder.onnx"), 'files.decoder.path must name a file in the export folder, got "../decoder.onnx"'),
    (lambda m: m["files"]["decoder"].update(bytes="12"), 'files.decoder.bytes must be a whole number in 1..17179869184, got "12"'),
    (lambda m: m.update(format_version=10**5000), "not valid JSON (Exceeds the limit"),
    (lambda m: m.update(format_version=[1]), "export format a list of 1 (made by adain"),
    (lambda m: m.update(precision="x" * 10_000), 'precision must be one of \'fp32\', \'fp16\', \'int8\', got "xxx'),
    (lambda m: m.update(decoder=DEEP), "JSON nested more than 32 deep"),
])
def test_manifest_of_the_wrong_types_or_sizes_is_one_line(exported, tmp_path, change, message):
    import sys

    folder = copy_export(exported, tmp_path / "bad")
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # to write the 5000-digit version
    try:
        path = edit_manifest(folder, change)
    finally:
        sys.set_int_max_str_digits(limit)
    with pytest.raises(ExportError) as caught:
        OnnxNetworks(folder)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and len(text) < 300 + len(str(path)), text[:400]


def identity_model(input_name: str, output_name: str) -> bytes:
    """An ONNX model passing its float input of rank 4 through unchanged."""
    from onnx import TensorProto, helper

    dims = ["n", "c", "h", "w"]
    graph = helper.make_graph([helper.make_node("Identity", [input_name], [output_name])], "identity",
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, dims)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


@pytest.mark.parametrize(("role", "make", "message"), [
    ("decoder", lambda folder: identity_model("features", "image"), "not the decoder its manifest describes (it turns (1, 512, 2, 2) into (1, 512, 2, 2)"),
    ("encoder", lambda folder: (folder / "decoder.onnx").read_bytes(), "not the encoder its manifest describes (one input 'image'"),
    ("encoder", lambda folder: identity_model("image", "relu4_1"), "not the encoder its manifest describes (it turns"),
    ("decoder", lambda folder: bytes(range(256)) * 40, "not an ONNX model ONNX Runtime can load"),
    ("encoder", lambda folder: (folder / "encoder.onnx").read_bytes()[:5000], "not an ONNX model ONNX Runtime can load"),
])
def test_model_files_are_checked_to_be_their_network_before_running(exported, tmp_path, role, make, message):
    folder = copy_export(exported, tmp_path / "bad")
    replace_model(folder, role, make(folder))
    read_manifest(folder)  # the files match their manifest
    with pytest.raises(ExportError) as caught:
        OnnxNetworks(folder)
    assert str(caught.value).startswith(f"{folder / f'{role}.onnx'}: ") and message in str(caught.value), str(caught.value)


def test_identity_decoder_through_the_cli_names_the_file(exported, tmp_path, capsys):
    from adain.cli import main
    from helpers import write_image

    folder = copy_export(exported, tmp_path / "bad")
    replace_model(folder, "decoder", identity_model("features", "image"))
    content = write_image(tmp_path / "c.png", (40, 32))
    out = tmp_path / "out.png"
    code = main(["stylize", "-c", str(content), "-s", str(content), "-o", str(out), "--style-size", "0", "--backend", "onnxruntime",
                 "--models", str(folder)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and not out.exists()
    assert err[0].startswith(f"adain stylize: error: {folder / 'decoder.onnx'}: not the decoder its manifest describes"), err


def test_bad_precision(tmp_path):
    with pytest.raises(ValueError, match="precision must be one of fp32, fp16, int8"):
        export_onnx(tmp_path, precision="fp8")


def test_missing_extra_is_one_line(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(MissingExtraError, match=r'^the ONNX tools are missing: pip install "adain\[onnx\]" \(no module \'onnxruntime\'\)$'):
        OnnxNetworks("anywhere")


EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "adain" / "examples"


@pytest.fixture(scope="module")
def real_site(tmp_path_factory) -> Path:
    """``adain export --format onnx --site`` with the real encoder and the shipped decoder (one export, ~10 s)."""
    from adain.cli import main

    site = tmp_path_factory.mktemp("site")
    assert main(["export", "--format", "onnx", "--output", str(site), "--site"]) == 0
    return site


def test_real_weights_match_torch_on_the_examples(real_site, one_thread):
    """fp32 ONNX Runtime against torch fp32 on the four bundled photos × paintings at 128 px:
    at most 2/255 apart anywhere, under 0.05/255 on average (float32 rounding through 20 convolutions)."""
    from adain.geometry import resize_shorter
    from adain.io.images import load_image

    ours = OnnxStylizer(real_site / "models", threads=1)
    theirs = Stylizer(device="cpu", bf16=False, channels_last=False)
    contents = sorted((EXAMPLES / "content").glob("*.jpg"))
    styles = sorted((EXAMPLES / "style").glob("*.jpg"))
    for content, style in zip(contents, styles, strict=True):
        c, s = resize_shorter(load_image(content), 128), resize_shorter(load_image(style), 128)
        diff = (ours.stylize(c, s) - theirs.stylize(c, s)).abs()
        assert float(diff.max()) < 2 / 255 and float(diff.mean()) < 0.05 / 255, (content.name, float(diff.max()), float(diff.mean()))


def test_site_folder(real_site):
    info = json.loads((real_site / "api" / "info").read_text())
    assert info["server"] is False and info["models"] == "models/manifest.json"
    for item in info["styles"] + info["contents"]:
        assert (real_site / item["url"]).is_file()
    for name in ("index.html", "static/app.js", "static/local.js", "static/ort/ort.wasm.min.mjs", "static/ort/ort-wasm-simd-threaded.wasm"):
        assert (real_site / name).is_file(), name
    assert 'src="static/app.js"' in (real_site / "index.html").read_text()  # relative: works from any sub-folder


def test_cli_backend(exported, tmp_path, capsys):
    from adain.cli import main
    from helpers import write_image

    content, style = write_image(tmp_path / "c.png", (40, 32)), write_image(tmp_path / "s.png", (32, 32), seed=1)
    out = tmp_path / "out.png"
    args = ["stylize", "-c", str(content), "-s", str(style), "-o", str(out), "--style-size", "0", "--backend", "onnxruntime"]
    assert main([*args, "--models", str(exported)]) == 0 and out.is_file()
    assert main(args) == 2
    assert main([*args, "--models", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "adain stylize: error: the onnxruntime backend needs an export folder (--models DIR; make one with: adain export --format onnx --output DIR)",
        f"adain stylize: error: {tmp_path}: no manifest.json, not an adain ONNX export (or an incomplete one): export it again",
    ]


def test_server_serves_the_models(exported, torch_stylizer, tmp_path):
    from fastapi.testclient import TestClient

    from adain.apps.server import create_app

    with pytest.raises(ExportError, match="no manifest.json"):
        create_app(torch_stylizer, models=tmp_path)
    client = TestClient(create_app(torch_stylizer, models=exported))
    assert client.get("/api/info").json()["models"] == "models/manifest.json"
    answer = client.get("/models/manifest.json")
    assert answer.status_code == 200 and answer.json()["files"]["encoder"]["path"] == "encoder.onnx"
    assert client.get("/models/decoder.onnx").content == (exported / "decoder.onnx").read_bytes()
    page = client.get("/")
    assert page.headers["cross-origin-opener-policy"] == "same-origin"  # threads for the WebAssembly runtime
    assert page.headers["cross-origin-embedder-policy"] == "require-corp"
    assert TestClient(create_app(torch_stylizer)).get("/api/info").json()["models"] is None


def test_onnx_stylizer_is_a_stylizer_composed_with_onnx_networks(exported, torch_stylizer):
    """OnnxStylizer is the Stylizer itself on other networks: no torch weights, and the torch modules refused in one line."""
    from adain.errors import UsageError
    from adain.networks import TorchNetworks

    ours = OnnxStylizer(exported, threads=1)
    assert type(ours) is Stylizer and isinstance(ours.networks, OnnxNetworks) and isinstance(torch_stylizer.networks, TorchNetworks)
    assert list(ours.parameters()) == [] and ours.device == torch.device("cpu") and ours.taps == ("relu4_1",)
    with pytest.raises(UsageError, match="ONNX Runtime"):
        assert ours.encoder is None
    with pytest.raises(UsageError, match="networks= run as they are"):
        Stylizer(torch_stylizer.decoder, networks=ours.networks)


# ---------------------------------------------------------------- style files, video and data sets on ONNX Runtime


@pytest.fixture(scope="module")
def lively(tmp_path_factory) -> tuple[Path, Stylizer]:
    """An export of lively nets (outputs that vary with the inputs) and the torch Stylizer on the same nets."""
    from helpers import lively_nets

    encoder, decoder = lively_nets()
    folder = tmp_path_factory.mktemp("lively")
    export_onnx(folder, encoder=encoder, decoder=decoder)
    return folder, Stylizer(decoder, encoder=encoder, device="cpu", bf16=False, channels_last=False)


def _style_file(stylizer: Stylizer, folder: Path, name: str = "wave", seed: int = 4) -> Path:
    from adain.io.images import load_image
    from adain.io.stylefile import compute_style, save_style
    from helpers import write_image

    painting = load_image(write_image(folder / f"{name}.png", (32, 32), seed=seed))
    path = folder / f"{name}.safetensors"
    save_style(compute_style(stylizer, painting, {"name": f"{name}.png", "sha256": "0" * 64}, 0), path)
    return path


def test_style_files_on_onnxruntime(lively, tmp_path, capsys, one_thread):
    """Style files are checked against the exported encoder (its manifest records the identity) and give torch's
    result; an export that does not record it, or a file from another encoder, is one line."""
    exported, torch_stylizer = lively
    from adain.cli import main
    from adain.encoder import Encoder
    from adain.io.stylefile import read_style
    from helpers import write_image

    ours = OnnxStylizer(exported, threads=1)
    assert ours.encoder_identity == torch_stylizer.encoder_identity
    wave, other = read_style(_style_file(torch_stylizer, tmp_path)), read_style(_style_file(torch_stylizer, tmp_path, "other", seed=9))
    content = torch.rand(3, 36, 44)
    mine = ours.stylize(content, [wave.for_encoder(ours.encoder_identity)])
    assert float((mine - torch_stylizer.stylize(content, [wave.for_encoder(torch_stylizer.encoder_identity)])).abs().max()) < 1e-4
    assert float((mine - ours.stylize(content, [other.for_encoder(ours.encoder_identity)])).abs().mean()) > 1e-3

    photo, out = write_image(tmp_path / "c.png", (40, 32)), tmp_path / "out.png"
    args = ["stylize", "-c", str(photo), "-o", str(out), "--backend", "onnxruntime"]
    assert main([*args, "-s", str(tmp_path / "wave.safetensors"), "--models", str(exported)]) == 0 and out.is_file()
    alien = Stylizer(torch_stylizer.decoder, encoder=Encoder(weights="random"), device="cpu", bf16=False)
    _style_file(alien, tmp_path, "alien")
    earlier = copy_export(exported, tmp_path / "earlier")
    manifest = json.loads((earlier / MANIFEST).read_text())
    del manifest["encoder_identity"]
    (earlier / MANIFEST).write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main([*args, "-s", str(tmp_path / "alien.safetensors"), "--models", str(exported)]) == 2
    assert main([*args, "-s", str(tmp_path / "wave.safetensors"), "--models", str(earlier)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "alien.safetensors: made with another encoder" in err[0]
    assert err[1] == f"adain stylize: error: {earlier / MANIFEST}: does not say which encoder it holds (an earlier export): export it again to use style files"


def test_video_on_onnxruntime(lively, tmp_path, capsys, one_thread):
    """adain video --backend onnxruntime: the same frames as torch's with a style file, weights, α, the
    statistics stabiliser and the temporal blend; the record names the export."""
    exported, torch_stylizer = lively
    from adain.apps.video import VideoOptions, stylize_video
    from adain.apps.video_io import describe_video, read_frames
    from adain.cli import main
    from adain.controls import Controls
    from adain.io.stylefile import read_style
    from helpers import make_video

    clip = make_video(tmp_path / "in.mp4", frames=4, audio=False)
    wave = read_style(_style_file(torch_stylizer, tmp_path))
    painting = torch.rand(3, 32, 40, generator=torch.Generator().manual_seed(2))
    frames = {}
    for name, stylizer in (("torch", torch_stylizer), ("onnxruntime", OnnxStylizer(exported, threads=1))):
        out = tmp_path / f"{name}.mp4"
        opts = VideoOptions(Controls(weights=[1, 3], alpha=0.8), stats_momentum=0.5, temporal="blend", crf=0)
        stylize_video(clip, out, [painting, wave.for_encoder(stylizer.encoder_identity)], opts, stylizer=stylizer, progress=False)
        frames[name] = torch.cat(list(read_frames(out)))
    assert frames["torch"].shape == frames["onnxruntime"].shape == (4, 3, 32, 48)
    assert float((frames["torch"] - frames["onnxruntime"]).abs().max()) <= 2 / 255
    assert float((frames["torch"][1:] - frames["torch"][:-1]).abs().mean()) > 2 / 255  # the frames differ: the comparison means something
    assert describe_video(tmp_path / "onnxruntime.mp4")["made_by"]["precision"] == "fp32 (onnxruntime)"
    out = tmp_path / "cli.mp4"
    assert main(["video", str(clip), str(out), "--style", str(tmp_path / "wave.safetensors"), "--backend", "onnxruntime",
                 "--models", str(exported), "--stabilize"]) == 0
    assert "4 frames" in capsys.readouterr().out


def test_dataset_on_onnxruntime(lively, tmp_path, capsys, one_thread):
    """adain stylize-dataset --backend onnxruntime --no-losses: torch's outputs (paintings and style files);
    with the losses (which need relu1_1 … relu3_1, not in the export) one line before anything is written."""
    exported, torch_stylizer = lively
    from adain.apps.dataset import DatasetOptions, stylize_dataset
    from adain.cli import main
    from adain.errors import UsageError
    from adain.io.images import load_image
    from helpers import write_image

    for i in range(2):
        write_image(tmp_path / "src" / f"c{i}.png", (40, 32), seed=i)
    write_image(tmp_path / "styles" / "p.png", (32, 32), seed=7)
    _style_file(torch_stylizer, tmp_path / "styles")
    ours = OnnxStylizer(exported, threads=1)
    with pytest.raises(UsageError, match=r"losses need the encoder's relu1_1 … relu4_1 features.*--no-losses"):
        stylize_dataset(tmp_path / "src", tmp_path / "styles", tmp_path / "refused", stylizer=ours, progress=False)
    assert not (tmp_path / "refused").exists()
    opts = DatasetOptions(copies=3, losses=False, format="png")
    for name, stylizer in (("torch", torch_stylizer), ("onnxruntime", ours)):
        assert stylize_dataset(tmp_path / "src", tmp_path / "styles", tmp_path / name, opts, stylizer=stylizer, progress=False).written == 6
    outputs = sorted(p.name for p in (tmp_path / "torch").glob("*.png"))
    assert outputs == sorted(p.name for p in (tmp_path / "onnxruntime").glob("*.png")) and len(outputs) == 6
    for name in outputs:
        assert float((load_image(tmp_path / "torch" / name) - load_image(tmp_path / "onnxruntime" / name)).abs().max()) <= 1 / 255, name
    assert float((load_image(tmp_path / "torch" / outputs[0]) - load_image(tmp_path / "torch" / outputs[1])).abs().mean()) > 1 / 255
    args = ["stylize-dataset", str(tmp_path / "src"), str(tmp_path / "styles"), str(tmp_path / "cli"), "--backend", "onnxruntime", "--models", str(exported)]
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err.strip().startswith("adain stylize-dataset: error: the manifest's losses need")
    assert main([*args, "--no-losses"]) == 0 and len(list((tmp_path / "cli").glob("*.png"))) == 2


def test_eval_stylizes_with_the_export_in_onnx_runtime(exported, torch_stylizer, tmp_path: Path, capsys):
    """adain eval --backend onnxruntime: the export's networks stylize, the torch encoder measures."""
    from adain.cli import main
    from adain.encoder import Encoder
    from adain.evaluation.evaluate import evaluate
    from helpers import write_image

    data = tmp_path / "eval"
    for name, seed in (("chicago_cropped", 0), ("ashville_cropped", 1), ("chicago_stylized_asheville", 2)):
        write_image(data / "examples" / f"{name}.jpg", (48, 48), seed=seed)
    torch.manual_seed(0)
    metrics = Encoder(last="relu5_1", weights="random")
    kw = dict(data=data, device="cpu", encoder=metrics, progress=False)
    onnx_run, _ = evaluate("release", stylizer=OnnxStylizer(exported), backend="onnxruntime fp32", **kw)
    torch_run, _ = evaluate("release", stylizer=torch_stylizer, **kw)
    shipped, _ = evaluate("release", **kw)
    assert onnx_run["backend"] == "onnxruntime fp32" and shipped["backend"] == "torch fp32"
    for k in ("content", "style", "gram"):
        assert onnx_run["mean"][k] == pytest.approx(torch_run["mean"][k], rel=1e-3)
        assert onnx_run["mean"][k] != pytest.approx(shipped["mean"][k], rel=1e-2), "the export's networks must stylize"
    argv = ["eval", "--set", "release", "--data", str(data), "--backend", "onnxruntime", "--models", str(exported)]
    assert main([*argv, "--json", str(tmp_path / "n.json")]) == 0
    assert json.loads((tmp_path / "n.json").read_text())["backend"] == f"onnxruntime fp32 ({exported})"
    capsys.readouterr()
    assert main([*argv, "--write-metadata"]) == 2
    assert "--write-metadata stores the torch decoder's numbers" in capsys.readouterr().err


def test_eval_precision_picks_the_stylizer(monkeypatch, tmp_path: Path, capsys):
    """adain eval --precision: int8 stylizes with the cached int8 model, fp32/bf16 with torch at that precision."""
    from adain.cli import main

    seen = []
    monkeypatch.setattr("adain.onnx.runtime.int8_models", lambda decoder: seen.append(("int8", decoder)) or tmp_path)

    class FakeOnnx(OnnxNetworks):
        def __init__(self, folder, threads):  # no sessions: only what eval reads
            self.manifest = {"precision": "int8"}

    monkeypatch.setattr("adain.onnx.runtime.OnnxStylizer", lambda folder, threads: Stylizer(networks=FakeOnnx(folder, threads)))
    fake_torch = SimpleNamespace(networks=object())  # stands for a torch Stylizer: eval tells the backends apart by their networks
    monkeypatch.setattr("adain.onnx.runtime.Stylizer", lambda decoder, device, bf16: seen.append(("torch", bf16)) or fake_torch)

    def fake_evaluate(which, **kw):
        seen.append(kw.get("backend"))
        raise SystemExit(0)

    monkeypatch.setattr("adain.evaluation.evaluate.evaluate", fake_evaluate)
    for precision in ("int8", "fp32", "bf16"):
        with pytest.raises(SystemExit):
            main(["eval", "--set", "release", "--data", str(tmp_path), "--precision", precision])
    assert seen == [("int8", None), "onnxruntime int8 (built from the decoder)", ("torch", False), "torch fp32", ("torch", True), "torch bf16"]
    assert main(["eval", "--set", "release", "--data", str(tmp_path), "--precision", "int8", "--write-metadata"]) == 2
    assert "without --backend or --precision" in capsys.readouterr().err


def test_export_says_nothing_about_operators_it_does_not_use(tmp_path, tiny_decoder):
    """torch's exporter logs, on every export, that torchvision's operators are not registered: adain uses none."""
    from adain.onnx.export import export_decoder

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("torch.onnx")
    logger.addHandler(handler)
    try:
        export_decoder(tiny_decoder, tmp_path / "decoder.onnx")
    finally:
        logger.removeHandler(handler)
    assert not [r for r in records if "torchvision" in r.getMessage()]


def test_a_long_folder_run_on_onnx_runtime_never_compiles(exported, tmp_path):
    """The compile rule leaves ONNX Runtime's networks alone, however long the job, and compile_for refuses them in one line."""
    from adain.apps.compiling import CompileRule, can_compile
    from adain.errors import UsageError

    ours = OnnxStylizer(exported, threads=1)
    assert not can_compile(ours)
    decisions: list[str] = []
    rule = CompileRule(ours, total=1_000_000, log=decisions.append, pays=lambda left, seconds: True)  # a rule that would compile
    content = torch.rand(3, 32, 32)
    for _ in range(3):
        with rule.timed((1, *content.shape)):
            ours.stylize(content, [torch.rand(3, 32, 32)])
    assert not rule.compiled and decisions == []
    with pytest.raises(UsageError, match="ONNX Runtime"):
        ours.compile_for((1, 3, 32, 32))
