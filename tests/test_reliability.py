"""Hostile input through the CLI and the Python API: a closed list of formats, no overwritten input,
one-line errors, file modes, quiet libraries (sizes checked before any allocation: tests/test_limits.py)."""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from adain.cli import main
from adain.decoder import Decoder, save_decoder
from adain.io.images import (
    ACCEPTED_FORMATS,
    InputError,
    image_size,
    load_image,
    load_mask,
    save_image,
)
from helpers import encoded, ico_holding, png_zeros, write_image

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def fast_models(monkeypatch, tiny_encoder, tmp_path) -> Path:
    """The CLI builds its Stylizer with the tiny random encoder; returns the path of a tiny decoder file."""
    monkeypatch.setattr("adain.networks.Encoder", lambda **settings: tiny_encoder)
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_decoder(Decoder(width=0.0625), path, {"steps": 0})
    return path


@pytest.fixture
def pair(tmp_path) -> dict[str, Path]:
    return {
        "content": write_image(tmp_path / "in" / "content.png", (45, 37), seed=1),
        "style": write_image(tmp_path / "in" / "style.jpg", (40, 30), seed=2),
        "out": tmp_path / "out" / "result.png",
    }


def stylize(args: list, capsys) -> tuple[int, str]:
    code = main(["stylize", *map(str, args), "--style-size", "0"])
    return code, capsys.readouterr().err


def one_line(code: int, err: str, *names: object, command: str = "stylize") -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"adain {command}: error: "), err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


# ---------------------------------------------------------------- formats and decoders


def test_container_bomb_is_refused_without_decoding(tmp_path, monkeypatch):
    """An .ico holding a 2000x2000 PNG is not an accepted format: refused from its first bytes, nothing decoded."""
    bomb = tmp_path / "bomb.ico"
    bomb.write_bytes(ico_holding(png_zeros((2000, 2000))))
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size))
    with pytest.raises(InputError, match="not an image file") as exc:
        load_image(bomb, max_pixels=1_000_000)
    assert str(bomb) in str(exc.value) and (2000, 2000) not in decoded


OTHER_FORMATS = ["PPM", "TGA", "PCX", "SGI", "ICO", "IM", "DDS", "QOI", "EPS"]


@pytest.mark.parametrize("fmt", OTHER_FORMATS)
def test_formats_outside_the_list_are_refused(tmp_path, fmt, pair, capsys):
    path = tmp_path / f"photo.{fmt.lower()}"
    if fmt == "EPS":
        path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 40 32\nshowpage\n")
    elif fmt == "QOI":
        path.write_bytes(b"qoif" + struct.pack(">II", 40, 32) + b"\x03\x00" + b"\x00" * 40)
    else:
        try:
            path.write_bytes(encoded(fmt))
        except (KeyError, OSError):
            pytest.skip(f"this Pillow cannot write {fmt}")
    with pytest.raises(InputError, match="not an image file") as exc:
        load_image(path)
    assert all(name in str(exc.value) for name in ("JPEG", "PNG", "WebP"))
    with pytest.raises(InputError, match="not an image file"):
        load_mask(path)
    code, err = stylize(["-c", path, "-s", pair["style"], "-o", pair["out"]], capsys)
    one_line(code, err, path, "not an image file")


def test_corrupt_dds_is_one_line(tmp_path, pair, capsys):
    """A DDS header with an unknown pixel format: NotImplementedError inside Pillow, one line here."""
    dds = tmp_path / "broken.dds"
    header = bytearray(128)
    header[:4] = b"DDS "
    struct.pack_into("<IIIII", header, 4, 124, 0x1007, 32, 40, 0)
    struct.pack_into("<II", header, 76, 32, 0x4)
    header[84:88] = b"ZZZZ"
    dds.write_bytes(bytes(header) + b"\x00" * 256)
    code, err = stylize(["-c", dds, "-s", pair["style"], "-o", pair["out"]], capsys)
    one_line(code, err, dds, "not an image file")


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_every_accepted_format_reads(tmp_path, fmt):
    path = tmp_path / f"a.{fmt.lower()}"
    try:
        path.write_bytes(encoded(fmt))
    except (KeyError, OSError):
        pytest.skip(f"this Pillow cannot write {fmt}")
    assert image_size(path) == (40, 32)
    assert load_image(path).shape == (3, 32, 40)


def test_library_warnings_do_not_leak(tmp_path):
    """A TIFF with an unknown tag and a truncated image: libtiff and Pillow warnings stay out of the way."""
    path = tmp_path / "a.tif"
    img = Image.new("RGB", (40, 32), "red")
    info = {65000: "unknown"}
    img.save(path, tiffinfo=info)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(path)


# ---------------------------------------------------------------- outputs


@pytest.mark.parametrize("role", ["content", "style"])
def test_output_equal_to_an_input_is_refused(pair, capsys, role, tmp_path):
    target = pair[role]
    before = target.read_bytes()
    alias = tmp_path / "in" / ".." / "in" / target.name  # another spelling of the same file
    code, err = stylize(["-c", pair["content"], "-s", pair["style"], "-o", alias], capsys)
    one_line(code, err, "input")
    assert target.read_bytes() == before


def test_output_format_that_cannot_be_written_is_refused_first(pair, capsys, fast_models):
    out = pair["out"].with_suffix(".psd")
    code, err = stylize(["-c", pair["content"], "-s", pair["style"], "-o", out, "--decoder", fast_models], capsys)
    one_line(code, err, out, "cannot write")
    assert not out.exists()


def test_outputs_follow_the_umask(pair, capsys, fast_models, tmp_path):
    old = os.umask(0o022)
    try:
        code, _ = stylize(["-c", pair["content"], "-s", pair["style"], "-o", pair["out"], "--decoder", fast_models], capsys)
        save_decoder(Decoder(width=0.0625), tmp_path / "w.safetensors", {})
        os.umask(0o077)
        save_image(torch.rand(3, 16, 16), tmp_path / "private.png")
    finally:
        os.umask(old)
    assert code == 0
    assert pair["out"].stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.png").stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------- Python API


@pytest.fixture(scope="module")
def stylizer(tiny_encoder):
    from adain.stylizer import Stylizer

    torch.manual_seed(0)
    return Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu")


GOOD = torch.rand(3, 24, 24)


@pytest.mark.parametrize(
    "content, message",
    [
        (torch.rand(24, 24), "(3, H, W)"),
        (torch.rand(1, 1, 3, 24, 24), "(3, H, W)"),
        (torch.rand(4, 24, 24), "(3, H, W)"),
        ((torch.rand(3, 24, 24) * 255).byte(), "float"),
        (torch.rand(3, 24, 24) * 255, "[0, 1]"),
        (torch.full((3, 24, 24), float("nan")), "NaN"),
        (np.random.rand(3, 24, 24).astype(np.float32), "torch.Tensor"),
        (Image.new("RGB", (24, 24)), "pil_to_tensor"),
        (torch.rand(3, 4, 4), "16"),
    ],
)
def test_api_refuses_bad_images_with_what_it_expects(stylizer, content, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        stylizer.stylize(content, GOOD)
    with pytest.raises((ValueError, TypeError), match="style"):
        stylizer.stylize(GOOD, [content])


def test_api_accepts_float64_as_float32(stylizer):
    a = stylizer.stylize(GOOD.double(), GOOD.double())
    b = stylizer.stylize(GOOD, GOOD)
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b)


def test_api_batch_and_masks_are_checked(stylizer):
    stats = stylizer.style_stats([GOOD])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        stylizer.stylize_batch(GOOD, stats)
    with pytest.raises(ValueError, match="NaN"):
        stylizer.stylize(GOOD, GOOD, masks=torch.full((1, 24, 24), float("nan")))

