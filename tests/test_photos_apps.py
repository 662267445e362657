"""Photos through the CLI, the Python API, data sets, video and the server: colour profiles, HEIC/AVIF,
EXIF kept, the record of how an output was made (``adain info``), style files (``adain save-style``)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain.cli import main
from adain.io import photo, profiles, provenance, stylefile
from adain.io.images import load_image, load_photo, save_image
from adain.ops import StyleStats
from helpers import GRAY, P3, assert_bad_input, camera_photo, heic_bytes, run, write_image

pytestmark = pytest.mark.usefixtures("one_thread")


def p3_photo(path: Path, size: tuple[int, int] = (48, 40), exif: Image.Exif | None = None) -> Path:
    """A photo stored in Display P3 (profile embedded), colours inside sRGB, with optional EXIF."""
    srgb = Image.open(write_image(path.with_suffix(".src.png"), size, seed=7)).convert("RGB")
    kwargs = {"exif": exif.tobytes()} if exif is not None else {}
    profiles.from_srgb(srgb, P3).save(path, icc_profile=P3, quality=95, **kwargs)
    return path


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def camera_exif(orientation: int = 1) -> Image.Exif:
    exif = camera_photo().getexif()
    exif[photo.ORIENTATION] = orientation
    return exif


# ---------------------------------------------------------------- reading


def test_p3_photo_is_read_in_srgb(tmp_path):
    path = p3_photo(tmp_path / "p3.jpg")
    managed = load_image(path)
    raw = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
    expected = torch.from_numpy(np.asarray(profiles.to_srgb(Image.open(path).convert("RGB"), P3), dtype=np.float32) / 255).permute(2, 0, 1)
    assert torch.allclose(managed, expected)
    assert (managed - raw).abs().mean() > 0.01  # read as if it were sRGB, the colours would be off


def test_grey_profile_and_broken_profile_files(tmp_path):
    Image.new("L", (20, 20), 128).save(tmp_path / "grey.png", icc_profile=GRAY)
    assert load_image(tmp_path / "grey.png")[:, 0, 0].tolist() == pytest.approx([129 / 255] * 3)
    Image.new("RGB", (20, 20)).save(tmp_path / "broken.png", icc_profile=P3[:100])
    with pytest.raises(ValueError, match=r"broken.png: embedded colour profile is unreadable"):
        load_image(tmp_path / "broken.png")


def test_heic_is_read_upright_with_its_profile(tmp_path):
    arr = np.zeros((16, 32, 3), np.uint8)
    arr[:, :16], arr[:, 16:] = (200, 60, 40), (40, 60, 200)  # stored: red left, blue right
    exif = Image.Exif()
    exif[photo.ORIENTATION] = 6  # shown turned 90° clockwise: red on top
    p3 = profiles.from_srgb(Image.fromarray(arr), P3)
    (tmp_path / "IMG_0001.HEIC").write_bytes(heic_bytes(p3, exif=exif.tobytes(), icc_profile=P3))
    image, info = load_photo(tmp_path / "IMG_0001.HEIC")
    assert image.shape == (3, 32, 16) and info.profile == "Display P3" and info.decoder.startswith("HEIF (pillow-heif")
    top, bottom = image[:, 4:12].mean((1, 2)) * 255, image[:, 20:28].mean((1, 2)) * 255
    assert (top - torch.tensor([200.0, 60, 40])).abs().max() < 8 and (bottom - torch.tensor([40.0, 60, 200])).abs().max() < 8


def test_avif_is_read(tmp_path):
    Image.new("RGB", (24, 20), (200, 30, 40)).save(tmp_path / "a.avif", quality=90)
    image, info = load_photo(tmp_path / "a.avif")
    assert image.shape == (3, 20, 24) and info.decoder.startswith("AVIF (Pillow")


def test_truncated_and_unsupported_heic(tmp_path, monkeypatch):
    data = heic_bytes(Image.new("RGB", (32, 32), (1, 2, 3)))
    for name, cut in (("half.heic", len(data) // 2), ("head.heic", 40)):
        (tmp_path / name).write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"{name}: (cannot decode|truncated or damaged HEIC)"):
            load_image(tmp_path / name)
    (tmp_path / "ok.heic").write_bytes(data)
    monkeypatch.setattr(photo, "register_heif", lambda: False)
    with pytest.raises(ValueError, match=r"ok.heic: HEIC/HEIF image: reading it needs the optional extra, pip install 'adain\[heif\]'"):
        load_image(tmp_path / "ok.heic")


# ---------------------------------------------------------------- writing


def test_outputs_are_tagged_srgb(tmp_path):
    for suffix in ("png", "jpg", "webp"):
        save_image(torch.rand(3, 16, 16), tmp_path / f"x.{suffix}")
        assert Image.open(tmp_path / f"x.{suffix}").info["icc_profile"] == profiles.srgb_bytes()


def test_kept_profile_that_fails_is_one_line(tmp_path):
    bad = provenance.OutputMeta(colour=profiles.OutputColour(GRAY))  # a grey profile cannot hold colours
    with pytest.raises(ValueError, match=r"out.jpg: cannot write the metadata: a GRAY colour profile"):
        save_image(torch.rand(3, 16, 16), tmp_path / "out.jpg", meta=bad)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- the CLI


def test_stylize_keeps_exif_drops_gps_and_records_how(tmp_path, pair, fast_models, capsys):
    content = p3_photo(tmp_path / "IMG_1.jpg", exif=camera_exif(orientation=6))
    out = tmp_path / "out.jpg"
    code, _, err = run(["-c", content, "-s", pair["a"], "-o", out, "--decoder", fast_models, "--alpha", "0.7"], capsys)
    assert code == 0, err
    img = Image.open(out)
    assert img.size == (40, 48)  # upright
    exif = img.getexif()
    assert exif[0x0110] == "EOS R5" and exif[photo.ORIENTATION] == 1 and photo.GPS_IFD not in exif
    assert img.info["icc_profile"] == profiles.srgb_bytes()
    record = provenance.read_record(img)
    assert record["alpha"] == 0.7 and record["software"].startswith("adain ")
    assert record["content"]["profile"] == "Display P3" and record["content"]["decoder"].startswith("JPEG")
    assert record["styles"] == [{"name": "a.jpg", "sha256": provenance.file_sha256(pair["a"]), "weight": 1.0}]
    assert record["output_size"] == [40, 48] and record["colour"]["output"] == "sRGB"
    assert main(["info", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "camera: Canon EOS R5" in shown and "profile: sRGB" in shown and provenance.file_sha256(pair["a"]) in shown
    assert main(["info", "--json", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["made_by"] == record


def test_strip_metadata_keep_gps_keep_profile(tmp_path, pair, fast_models, capsys):
    content = p3_photo(tmp_path / "IMG_2.jpg", exif=camera_exif())
    srgb_out, p3_out, bare = tmp_path / "srgb.png", tmp_path / "p3.png", tmp_path / "bare.jpg"
    base = ["-c", content, "-s", pair["a"], "--decoder", fast_models]
    assert run([*base, "-o", srgb_out], capsys)[0] == 0
    assert run([*base, "-o", p3_out, "--keep-profile", "--keep-gps"], capsys)[0] == 0
    assert run([*base, "-o", bare, "--strip-metadata"], capsys)[0] == 0
    kept = Image.open(p3_out)
    assert profiles.describe(kept.info["icc_profile"]) == "Display P3"
    assert photo.GPS_IFD in kept.getexif()
    back = np.asarray(profiles.to_srgb(kept.convert("RGB"), P3), dtype=int)
    assert np.abs(back - np.asarray(Image.open(srgb_out).convert("RGB"), dtype=int)).max() <= 2  # same colours
    stripped = Image.open(bare).getexif()
    assert 0x0110 not in stripped and stripped[photo.SOFTWARE].startswith("adain")
    assert provenance.read_record(Image.open(bare)) is not None


def test_huge_exif_is_trimmed_for_jpeg(tmp_path, pair, fast_models, capsys):
    src = camera_photo(maker_note=90_000)
    content = tmp_path / "big_exif.png"
    Image.open(write_image(tmp_path / "px.png", (40, 32))).save(content, exif=src.getexif().tobytes())
    out = tmp_path / "out.jpg"
    code, _, err = run(["-c", content, "-s", pair["a"], "-o", out, "--decoder", fast_models], capsys)
    assert code == 0, err
    exif = Image.open(out).getexif()
    assert exif[0x0110] == "EOS R5" and photo.MAKER_NOTE not in exif.get_ifd(photo.EXIF_IFD)


def test_broken_profile_and_missing_heif_extra_through_the_cli(tmp_path, pair, fast_models, capsys, monkeypatch):
    Image.new("RGB", (40, 32)).save(tmp_path / "broken.jpg", icc_profile=b"\0" * 200)
    code, _, err = run(["-c", tmp_path / "broken.jpg", "-s", pair["a"], "-o", pair["out"], "--decoder", fast_models], capsys)
    assert_bad_input(code, err, pair["out"], "broken.jpg", "colour profile")
    (tmp_path / "cut.heic").write_bytes(heic_bytes(Image.new("RGB", (32, 32)))[:300])
    code, _, err = run(["-c", tmp_path / "cut.heic", "-s", pair["a"], "-o", pair["out"], "--decoder", fast_models], capsys)
    assert_bad_input(code, err, pair["out"], "cut.heic")


def test_info_on_a_bad_file(tmp_path, capsys):
    (tmp_path / "x.jpg").write_text("hello")
    assert main(["info", str(tmp_path / "x.jpg")]) == 2
    assert capsys.readouterr().err.strip() == f"adain info: error: {tmp_path / 'x.jpg'}: not a picture or video adain can read"


# ---------------------------------------------------------------- style files


def test_style_file_gives_the_images_result(tmp_path, pair, fast_models, capsys):
    style = tmp_path / "a.safetensors"
    assert main(["save-style", str(pair["a"]), "-o", str(style), "--style-size", "0", "--decoder", str(fast_models)]) == 0
    assert "wrote" in capsys.readouterr().out and style.stat().st_size < 10_000
    outs = {}
    for name, s in (("image", pair["a"]), ("file", style)):
        outs[name] = tmp_path / f"{name}.png"
        code, _, err = run(["-c", pair["content"], "-s", s, "-o", outs[name], "--decoder", fast_models], capsys)
        assert code == 0, err
    a, b = (np.asarray(Image.open(p), dtype=int) for p in outs.values())
    assert np.abs(a - b).max() <= 1
    record = provenance.read_record(Image.open(outs["file"]))
    assert record["styles"][0]["paintings"][0]["sha256"] == provenance.file_sha256(pair["a"])


def test_mixed_style_file_is_the_interpolation(tmp_path, pair, fast_models, capsys):
    mix = tmp_path / "mix.safetensors"
    assert main(["save-style", str(pair["a"]), str(pair["b"]), "--weights", "3", "1", "-o", str(mix), "--style-size", "0",
                 "--decoder", str(fast_models)]) == 0
    capsys.readouterr()
    both, one = tmp_path / "both.png", tmp_path / "one.png"
    assert run(["-c", pair["content"], "-s", pair["a"], pair["b"], "--weights", "3", "1", "-o", both, "--decoder", fast_models], capsys)[0] == 0
    assert run(["-c", pair["content"], "-s", mix, "-o", one, "--decoder", fast_models], capsys)[0] == 0
    assert np.abs(np.asarray(Image.open(both), dtype=int) - np.asarray(Image.open(one), dtype=int)).max() <= 1


def test_style_file_refusals(tmp_path, pair, fast_models, capsys):
    style = tmp_path / "a.safetensors"
    assert main(["save-style", str(pair["a"]), "-o", str(style), "--style-size", "0", "--decoder", str(fast_models)]) == 0
    capsys.readouterr()
    code, _, err = run(["-c", pair["content"], "-s", style, "-o", pair["out"], "--decoder", fast_models, "--preserve-color", "color"], capsys)
    assert_bad_input(code, err, pair["out"], "a.safetensors", "--preserve-color")
    code, _, err = run(["-c", pair["content"], "-s", "hokusai", "-o", pair["out"], "--decoder", fast_models], capsys)  # bundled, made by VGG-19
    assert_bad_input(code, err, pair["out"], "hokusai.safetensors", "made with another encoder")
    for extra in (["--method", "wct"], ["--preserve-color", "color"]):  # need the painting: a bundled name means it
        code, _, err = run(["-c", pair["content"], "-s", "hokusai", "-o", pair["out"], "--decoder", fast_models, *extra], capsys)
        assert code == 0, err
        assert provenance.read_record(Image.open(pair["out"]))["styles"][0]["name"] == "hokusai.jpg"
    assert main(["save-style", str(pair["a"]), "-o", str(tmp_path / "a.png"), "--decoder", str(fast_models)]) == 2
    assert "a style file's name ends in .safetensors" in capsys.readouterr().err


def test_style_files_in_folder_mode_and_the_python_api(tmp_path, pair, fast_models, capsys, tiny_encoder):
    from adain.io.stylefile import read_style
    from adain.stylizer import Stylizer

    style = tmp_path / "styles" / "a.safetensors"
    style.parent.mkdir()
    assert main(["save-style", str(pair["a"]), "-o", str(style), "--style-size", "0", "--decoder", str(fast_models)]) == 0
    code, _, err = run(["-c", pair["content"], "-s", style.parent, "-o", tmp_path / "out", "--decoder", fast_models], capsys)
    assert code == 0, err
    assert (tmp_path / "out" / "content_a.jpg").exists()
    stylizer = Stylizer(fast_models, encoder=tiny_encoder, device="cpu")  # the networks (and precision) the CLI had
    content = load_image(pair["content"])
    from_file = stylizer.stylize(content, [read_style(style).for_encoder(stylizer.encoder)])
    from_image = stylizer.stylize(content, [load_image(pair["a"])])
    assert (from_file - from_image).abs().max() < 1e-5


# ---------------------------------------------------------------- data sets


def test_dataset_manifest_has_losses_and_flags(tmp_path, tiny_encoder):
    from adain.apps.dataset import DatasetOptions, flag_outliers, stylize_dataset
    from adain.decoder import Decoder
    from adain.stylizer import Stylizer

    for i in range(3):
        write_image(tmp_path / "src" / f"c{i}.png", (40, 32), seed=i)
    write_image(tmp_path / "styles" / "s.png", (32, 32), seed=9)
    flat = Decoder(width=0.0625)
    for p in flat.parameters():
        torch.nn.init.zeros_(p)  # outputs 0 everywhere: a uniform picture
    report = stylize_dataset(tmp_path / "src", tmp_path / "styles", tmp_path / "out", DatasetOptions(style_size=0),
                             stylizer=Stylizer(flat, encoder=tiny_encoder, device="cpu", bf16=False), progress=False)
    rows = read_rows(report.manifest)
    assert report.flagged == 3 and all(r["flags"] == "uniform" for r in rows)
    assert all(float(r["content_loss"]) > 0 and float(r["style_loss"]) > 0 for r in rows)
    assert provenance.read_record(Image.open(tmp_path / "out" / "c0.png"))["styles"][0]["name"] == "s.png"
    many = [{"content_loss": 1.0 + 0.01 * i, "style_loss": 2.0, "flags": ""} for i in range(30)]
    many.append({"content_loss": 9.0, "style_loss": 2.0, "flags": "uniform"})
    flag_outliers(many)
    assert many[-1]["flags"] == "uniform;high content loss" and not any(r["flags"] for r in many[:-1])
    flag_outliers(many)  # again (a resumed run): no doubled flags
    assert many[-1]["flags"] == "uniform;high content loss"


def test_dataset_takes_style_files_and_keeps_losses_on_resume(tmp_path, tiny_encoder):
    from adain.apps.dataset import stylize_dataset
    from adain.decoder import Decoder
    from adain.io.stylefile import compute_style, save_style
    from adain.stylizer import Stylizer

    stylizer = Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu", bf16=False)
    for i in range(2):
        write_image(tmp_path / "src" / f"c{i}.png", (40, 32), seed=i)
    save_style(compute_style(stylizer, load_image(write_image(tmp_path / "p.png", (32, 32), seed=5)), {"name": "p.png", "sha256": "0" * 64}, 0),
               tmp_path / "styles" / "p.safetensors")
    first = stylize_dataset(tmp_path / "src", tmp_path / "styles", tmp_path / "out", stylizer=stylizer, progress=False)
    rows = read_rows(first.manifest)
    assert first.written == 2 and rows[0]["style"] == "p.safetensors" and rows[0]["content_loss"]
    (tmp_path / "out" / "c1.png").unlink()
    again = stylize_dataset(tmp_path / "src", tmp_path / "styles", tmp_path / "out", stylizer=stylizer, progress=False)
    assert again.written == 1 and read_rows(again.manifest) == rows


def test_dataset_losses_reuse_the_stylization_features(tmp_path, tiny_encoder):
    """The losses cost one encoder pass per output: the content's features and the styles' statistics are the
    stylization's own; the values are those of encoding the content again (sides a multiple of 8)."""
    from adain.apps.dataset import DatasetOptions, audit, stylize_dataset
    from adain.decoder import Decoder
    from adain.io.stylefile import compute_style, encode_taps, save_style
    from adain.losses import content_loss
    from adain.stylizer import Stylizer

    torch.manual_seed(0)
    stylizer = Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu", bf16=False)
    for i in range(3):
        write_image(tmp_path / "src" / f"c{i}.png", (40, 32), seed=i)
    for k in range(2):
        painting = load_image(write_image(tmp_path / f"p{k}.png", (32, 32), seed=5 + k))
        save_style(compute_style(stylizer, painting, {"name": f"p{k}.png", "sha256": "0" * 64}, 0), tmp_path / "styles" / f"p{k}.safetensors")
    first_conv = next(m for m in stylizer.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    seen = []
    first_conv.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].shape[0]))
    for losses, passes in ((True, 3 * (1 + 2)), (False, 3)):
        seen.clear()
        stylize_dataset(tmp_path / "src", tmp_path / "styles", tmp_path / f"out{losses}", DatasetOptions(copies=2, losses=losses),
                        stylizer=stylizer, progress=False)
        assert sum(seen) == passes, (losses, seen)
    content = load_image(tmp_path / "src" / "c0.png")
    styles = [stylefile.read_style(tmp_path / "styles" / f"p{k}.safetensors") for k in range(2)]
    outputs = torch.stack(list(stylizer.stylize_each(content, StyleStats.cat([s.stats() for s in styles]))))
    rows = audit(stylizer, stylizer.content_features(content), outputs, styles)
    again = encode_taps(stylizer, content[None])[-1]
    for k, row in enumerate(rows):
        assert row["content_loss"] == round(float(content_loss(encode_taps(stylizer, outputs[k : k + 1])[-1], again)), 6)
    assert rows[0] != rows[1]


# ---------------------------------------------------------------- server and video


def test_record_counts_every_phase_of_training(tiny_encoder):
    """A decoder trained from other weights (--init) records all its steps, not its last run's."""
    from adain.decoder import Decoder
    from adain.stylizer import Stylizer

    decoder = Decoder(width=0.0625)
    decoder.metadata = {"steps": 5, "total_steps": 12}
    assert Stylizer(decoder, encoder=tiny_encoder, device="cpu").model_entry["decoder_steps"] == 12
    decoder.metadata = {"steps": 5}
    assert Stylizer(decoder, encoder=tiny_encoder, device="cpu").model_entry["decoder_steps"] == 5


def test_server_takes_style_files_and_records(tmp_path, tiny_encoder):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from adain.apps.server import Limits, create_app
    from adain.decoder import Decoder
    from adain.io.stylefile import compute_style, to_bytes
    from adain.stylizer import Stylizer

    stylizer = Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu")
    painting = write_image(tmp_path / "p.png", (40, 32), seed=4)
    style_file = to_bytes(compute_style(stylizer, load_image(painting), {"name": "p.png", "sha256": "0" * 64}, 0))
    content = io.BytesIO()
    profiles.from_srgb(Image.open(write_image(tmp_path / "c.png", (48, 40), seed=1)).convert("RGB"), P3).save(
        content, "JPEG", icc_profile=P3, exif=camera_exif().tobytes())
    with TestClient(create_app(stylizer, limits=Limits(style_size=16, max_size=256), temp_dir=tmp_path)) as client:
        def post(style: bytes, **data) -> object:
            return client.post("/api/stylize", files={"content": ("c.jpg", content.getvalue()), "style": ("s", style)},
                               data={"size": "0", "format": "png", **data})
        by_image, by_file = post(painting.read_bytes()), post(style_file)
        assert by_image.status_code == by_file.status_code == 200
        a, b = (np.asarray(Image.open(io.BytesIO(r.content)), dtype=int) for r in (by_image, by_file))
        assert np.abs(a - b).max() <= 1
        out = Image.open(io.BytesIO(by_file.content))
        assert out.info["icc_profile"] == profiles.srgb_bytes() and out.getexif()[0x0110] == "EOS R5"
        assert provenance.read_record(out)["content"]["profile"] == "Display P3"
        refused = post(style_file, preserve_color="color")
        assert refused.status_code == 400 and "style file" in refused.json()["detail"]


def test_video_takes_a_style_file(tmp_path):
    pytest.importorskip("av")
    from adain.apps.video import stylize_video
    from adain.decoder import Decoder
    from adain.encoder import Encoder
    from adain.io.stylefile import compute_style
    from adain.stylizer import Stylizer
    from helpers import make_video, read_frames

    torch.manual_seed(0)
    stylizer = Stylizer(Decoder(width=0.0625), encoder=Encoder(weights="random"), device="cpu", bf16=False)
    clip = make_video(tmp_path / "in.mp4", frames=3, audio=False)
    painting = load_image(write_image(tmp_path / "p.png", (32, 32), seed=4))
    stats = compute_style(stylizer, painting, {"name": "p.png", "sha256": "0" * 64}, 0).for_encoder(stylizer.encoder)
    stylize_video(clip, tmp_path / "a.mp4", [painting], stylizer=stylizer)
    stylize_video(clip, tmp_path / "b.mp4", [stats], stylizer=stylizer)
    (fa, _), (fb, _) = read_frames(tmp_path / "a.mp4"), read_frames(tmp_path / "b.mp4")
    assert len(fa) == len(fb) == 3
    assert all(np.array_equal(x.to_ndarray(format="rgb24"), y.to_ndarray(format="rgb24")) for x, y in zip(fa, fb))


# ---------------------------------------------------------------- the record names the controls that ran


@pytest.mark.parametrize("method", ["adain", "wct", "efdm"])
def test_stylize_records_the_method_that_ran(tmp_path, pair, fast_models, capsys, method):
    out = tmp_path / "out.png"
    code, _, err = run(["-c", pair["content"], "-s", pair["a"], "-o", out, "--decoder", fast_models, "--method", method], capsys)
    assert code == 0, err
    assert provenance.read_record(Image.open(out))["method"] == method
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "a.jpg").write_bytes(pair["a"].read_bytes())
    code, _, err = run(["-c", pair["content"], "-s", styles, "-o", tmp_path / "folder", "--decoder", fast_models, "--method", method], capsys)
    assert code == 0, err
    assert provenance.read_record(Image.open(tmp_path / "folder" / "content_a.jpg"))["method"] == method


@pytest.mark.parametrize("method", ["wct", "efdm"])
def test_dataset_records_the_method_that_ran(tmp_path, tiny_encoder, method):
    from adain.apps.dataset import DatasetOptions, stylize_dataset
    from adain.decoder import Decoder
    from adain.stylizer import Stylizer

    write_image(tmp_path / "src" / "c0.png", (40, 32), seed=0)
    write_image(tmp_path / "styles" / "s.png", (32, 32), seed=9)
    stylizer = Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu", bf16=False)
    stylize_dataset(tmp_path / "src", tmp_path / "styles", tmp_path / "out", DatasetOptions(style_size=0, method=method), stylizer=stylizer, progress=False)
    assert provenance.read_record(Image.open(tmp_path / "out" / "c0.png"))["method"] == method
