"""Hostile files and numbers on the newer surfaces: outputs that are inputs, unbounded numbers, style files,
ONNX export folders, records inside pictures; every refusal one line naming the file, values cut short."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from adain.cli import main
from adain.errors import InputError, UsageError
from adain.io.atomic import check_not_an_input
from adain.io.stylefile import StyleFileError, parse_style, read_style
from helpers import style_file_bytes, write_image

pytestmark = pytest.mark.usefixtures("one_thread")


def one_line(code: int, err: str, command: str, *names: object, longest: int = 400) -> str:
    """Exit 2 and one short line ``adain COMMAND: error: …`` naming ``names``, no traceback."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"adain {command}: error: "), err
    assert len(lines[0]) <= longest, lines[0][:500]
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def cli(args: list, capsys) -> tuple[int, str]:
    code = main([*map(str, args)])
    return code, capsys.readouterr().err


@pytest.fixture
def painting(tmp_path) -> Path:
    return write_image(tmp_path / "painting.jpg", (40, 32), seed=3)


@pytest.fixture
def style_file(tmp_path) -> Path:
    path = tmp_path / "a.safetensors"
    path.write_bytes(style_file_bytes())
    return path


# ---------------------------------------------------------------- an output is never one of the inputs


def test_the_rule_resolves_links_and_dots(tmp_path, painting):
    (tmp_path / "sub").mkdir()
    link, hard = tmp_path / "link.jpg", tmp_path / "hard.jpg"
    link.symlink_to(painting)
    os.link(painting, hard)
    for output in (painting, link, hard, tmp_path / "sub" / ".." / "painting.jpg"):
        with pytest.raises(InputError, match="is also the style input; writing there would destroy it"):
            check_not_an_input(output, {"style": painting})
    check_not_an_input(tmp_path / "other.jpg", {"style": painting, "mask": None})
    check_not_an_input(tmp_path / "new" / "x.jpg", {"style": painting})  # not there yet: nothing to compare


@pytest.mark.parametrize("via", ["same", "symlink"])
def test_texture_never_overwrites_its_style(tmp_path, painting, capsys, via):
    before = painting.read_bytes()
    output = painting
    if via == "symlink":
        output = tmp_path / "texture.jpg"
        output.symlink_to(painting)
    code, err = cli(["texture", "--style", painting, "--size", "32x32", "--output", output], capsys)
    one_line(code, err, "texture", output, "style input", "would destroy it")
    assert painting.read_bytes() == before


def test_save_style_never_overwrites_a_style_file_it_mixes(tmp_path, style_file, painting, capsys):
    before = style_file.read_bytes()
    hard = tmp_path / "b.safetensors"
    os.link(style_file, hard)
    for output in (style_file, hard):
        code, err = cli(["save-style", style_file, painting, "--output", output], capsys)
        one_line(code, err, "save-style", output, "painting 1 input", "would destroy it")
    assert style_file.read_bytes() == before


# ---------------------------------------------------------------- numbers bounded where they are read


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--seed", 2**64, "--seed must be in 0..18446744073709551615, got 18446744073709551616"),
    ("--seed", -1, "--seed must be in 0..18446744073709551615, got -1"),
    ("--refine", 1_000_000_000, "--refine must be in 0..1000, got 1000000000"),
])
def test_texture_numbers_are_bounded(tmp_path, painting, capsys, option, value, message):
    out = tmp_path / "t.png"
    code, err = cli(["texture", "--style", painting, "--size", "32x32", "--output", out, option, value], capsys)
    one_line(code, err, "texture", message)
    assert not out.exists()


def test_texture_api_shares_the_bounds(lively_stylizer):
    from adain.apps.server import Limits
    from adain.texture import REFINE_STEPS, SEEDS, synthesize_texture

    style = torch.rand(3, 32, 32)
    with pytest.raises(UsageError, match="seed must be in"):
        synthesize_texture(lively_stylizer, style, 16, 16, seed=SEEDS[-1] + 1)
    with pytest.raises(UsageError, match="refine steps must be in 0..1000"):
        synthesize_texture(lively_stylizer, style, 16, 16, refine=REFINE_STEPS[-1] + 1)
    with pytest.raises(UsageError, match="max refine must be at most 1000"):
        Limits(max_refine=REFINE_STEPS[-1] + 1)
    a = synthesize_texture(lively_stylizer, style, 16, 16, seed=SEEDS[-1])  # the largest seed works
    assert a.shape == (3, 16, 16) and not torch.equal(a, synthesize_texture(lively_stylizer, style, 16, 16, seed=0))


# ---------------------------------------------------------------- style files


@pytest.mark.parametrize(("make", "message"), [
    (lambda: style_file_bytes(dtype=torch.float8_e4m3fn), "relu1_1 statistics are float8_e4m3fn, expected float32"),
    (lambda: style_file_bytes(dtype=torch.float16), "relu1_1 statistics are float16, expected float32"),
    (lambda: style_file_bytes(sources="5"), "sources must be a list of at most 1000 items, got 5"),
    (lambda: style_file_bytes(sources="[1, 2]"), "sources[0] must be an object, got 1"),
    (lambda: style_file_bytes(sources='[{"name": 5}]'), "sources[0].name must be a string"),
    (lambda: style_file_bytes(sources="[" * 5000 + "]" * 5000), "JSON nested more than 32 deep"),
    (lambda: style_file_bytes(style_size="9" * 5000), "style_size must be a string of at most 7 characters"),
    (lambda: style_file_bytes(style_size="-7"), "style_size must be a whole number in -1..100000, got -7"),
    (lambda: style_file_bytes(encoder="x" * 1_000_000), 'encoder must be a string of at most 200 characters, got "xxx'),
    (lambda: style_file_bytes(format="y" * 100_000), "not a style file (format"),
])
def test_damaged_style_files_are_refused_by_the_schema(make, message):
    with pytest.raises(StyleFileError) as caught:
        parse_style(make(), "bad.safetensors")
    text = str(caught.value)
    assert text.startswith("bad.safetensors: ") and message in text and len(text) < 300, text[:500]


def test_a_good_style_file_passes_the_schema():
    style = parse_style(style_file_bytes(seed=4), "good.safetensors")
    assert style.name == "good" and style.sources[0]["name"] == "painting4.jpg" and style.means["relu4_1"].dtype == torch.float32
    assert not torch.equal(style.means["relu1_1"], parse_style(style_file_bytes(seed=5), "x.safetensors").means["relu1_1"])


@pytest.mark.parametrize("command", ["info", "stylize", "save-style"])
def test_float8_style_file_is_one_line_everywhere(tmp_path, painting, capsys, command):
    bad = tmp_path / "f8.safetensors"
    bad.write_bytes(style_file_bytes(dtype=torch.float8_e4m3fn))
    out = tmp_path / "out.png"
    args = {"info": ["info", bad], "stylize": ["stylize", "-c", painting, "-s", bad, "-o", out, "--style-size", "0"],
            "save-style": ["save-style", bad, painting, "-o", tmp_path / "m.safetensors"]}[command]
    code, err = cli(args, capsys)
    one_line(code, err, command, bad, "float8_e4m3fn, expected float32")
    assert not out.exists() and not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("sources", ["5", "[1, 2]"])
def test_mixing_a_style_file_with_misshapen_sources_is_one_line(tmp_path, painting, capsys, sources):
    bad = tmp_path / "s.safetensors"
    bad.write_bytes(style_file_bytes(sources=sources))
    code, err = cli(["save-style", bad, painting, "-o", tmp_path / "m.safetensors"], capsys)
    one_line(code, err, "save-style", bad, "damaged style file: sources")


def test_a_long_encoder_string_is_not_echoed_whole(tmp_path, painting, capsys):
    bad = tmp_path / "enc.safetensors"
    bad.write_bytes(style_file_bytes(encoder="e" * 1_000_000))
    code, err = cli(["stylize", "-c", painting, "-s", bad, "-o", tmp_path / "o.png", "--style-size", "0"], capsys)
    one_line(code, err, "stylize", bad, "(1000000 characters)", longest=300)
    style = parse_style(style_file_bytes(encoder="vgg19-relu4_1:" + "f" * 150), "long.safetensors")  # within the bound, still cut short
    with pytest.raises(StyleFileError) as caught:
        style.for_encoder("vgg19-relu4_1:0123")
    assert "long.safetensors: made with another encoder" in str(caught.value) and len(str(caught.value)) < 250


def test_style_file_with_another_method_names_the_file(tmp_path, painting, style_file, capsys):
    out = tmp_path / "o.png"
    code, err = cli(["stylize", "-c", painting, "-s", style_file, "-o", out, "--method", "wct", "--style-size", "0"], capsys)
    one_line(code, err, "stylize", style_file, "method \"wct\" needs the painting")
    with pytest.raises(StyleFileError, match=r"a.safetensors: .*method \"efdm\" needs the painting"):
        read_style(style_file).for_method("efdm")
    read_style(style_file).for_method("adain")


@pytest.mark.parametrize(("data", "extra", "message"), [
    (style_file_bytes(dtype=torch.float8_e4m3fn), {}, "float8_e4m3fn, expected float32"),
    (style_file_bytes(encoder="e" * 1_000_000), {}, "(1000000 characters)"),
    (style_file_bytes(), {"method": "wct"}, 'method "wct" needs the painting'),
])
def test_server_answers_400_naming_the_style_file(tmp_path, lively_stylizer, data, extra, message):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from adain.apps.server import Limits, create_app

    photo = write_image(tmp_path / "photo.png", (40, 32)).read_bytes()
    with TestClient(create_app(lively_stylizer, limits=Limits(style_size=32, max_size=64), temp_dir=tmp_path)) as client:
        r = client.post("/api/stylize", data={"size": "32", **extra},
                        files=[("content", ("photo.png", photo, "image/png")), ("style", ("up.safetensors", data, "application/octet-stream"))])
    assert r.status_code == 400, r.text[:300]
    detail = r.json()["detail"]
    assert "up.safetensors" in detail and message in detail and len(detail) < 300, detail[:300]


def test_json_loader_bounds_size_and_depth():
    from adain.schema import SchemaError, load_json, short

    assert load_json('{"a": [1, {"b": "[[[["}]}', "x.json") == {"a": [1, {"b": "[[[["}]}  # brackets in strings do not count
    with pytest.raises(SchemaError, match="x.json: JSON nested more than 32 deep"):
        load_json("[" * 200_000 + "]" * 200_000, "x.json", max_bytes=1 << 20)
    with pytest.raises(SchemaError, match="x.json: 30 bytes of JSON is over the limit of 10"):
        load_json(" " * 30, "x.json", max_bytes=10)
    assert short(10**5000) == "a number of about 5000 digits" and short("z" * 100).endswith('… (100 characters)"')
    assert json.loads(short("x")) == "x"


# ---------------------------------------------------------------- pictures: records, damaged AVIF


def test_info_on_a_deeply_nested_record(tmp_path, capsys):
    from PIL import Image, PngImagePlugin

    from adain.io.provenance import PNG_KEY

    info = PngImagePlugin.PngInfo()
    info.add_itxt(PNG_KEY, '{"styles": ' + "[" * 200_000 + "]" * 200_000 + "}")
    path = tmp_path / "deep.png"
    Image.new("RGB", (20, 16), "red").save(path, pnginfo=info)
    code, out = main(["info", str(path)]), capsys.readouterr()
    assert code == 0, out.err
    assert "made_by: (no adain record)" in out.out and "Traceback" not in out.err


def test_truncated_avif_is_called_damaged(tmp_path):
    from PIL import Image

    from adain.io.images import image_size, load_image

    Image.new("RGB", (64, 48), (200, 30, 40)).save(tmp_path / "a.avif", quality=90)
    data = (tmp_path / "a.avif").read_bytes()
    for name, cut in (("half.avif", len(data) // 2), ("head.avif", 60)):
        (tmp_path / name).write_bytes(data[:cut])
        with pytest.raises(InputError, match=rf"{name}: truncated or damaged AVIF image"):
            image_size(tmp_path / name)
            load_image(tmp_path / name)
    (tmp_path / "text.avif").write_text("not a picture")
    with pytest.raises(InputError, match="text.avif: not an image file"):
        load_image(tmp_path / "text.avif")
