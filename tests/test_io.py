"""Image reading and writing: every mode and every bad file, atomic saves, grids (sizes: tests/test_limits.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from adain.io.images import (
    InputError,
    fit_height,
    image_format,
    list_images,
    load_image,
    load_index_map,
    load_mask,
    make_grid,
    save_image,
)
from helpers import BAD_FILES, exif_rotated_jpeg, png_bytes, write_image


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_raise_input_error_naming_the_file(tmp_path, kind):
    make, message = BAD_FILES[kind]
    path = make(tmp_path / f"{kind}.jpg")
    with pytest.raises(InputError, match=message) as info:
        load_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)


# ---------------------------------------------------------------- modes


def _rgb(size, seed) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def test_grayscale_becomes_equal_channels(tmp_path):
    grey = _rgb((40, 32), 1).convert("L")
    grey.save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    expected = torch.from_numpy(np.asarray(grey).astype(np.float32) / 255)
    for channel in out:
        torch.testing.assert_close(channel, expected)


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((32, 40, 4), np.uint8)
    arr[..., :3] = (200, 0, 0)
    arr[:, 20:, 3] = 255  # right half opaque red, left half transparent
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    torch.testing.assert_close(out[:, :, :20], torch.ones(3, 32, 20))
    torch.testing.assert_close(out[:, :, 20:], torch.tensor([200 / 255, 0, 0]).view(3, 1, 1).expand(3, 32, 20))


def test_palette_gives_its_colours(tmp_path):
    img = _rgb((40, 32), 2).quantize(16)
    img.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    expected = torch.from_numpy(np.asarray(img.convert("RGB")).copy()).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(load_image(tmp_path / "p.png"), expected)


def test_cmyk_jpeg_is_converted(tmp_path):
    rgb = Image.new("RGB", (40, 32), (30, 120, 220))
    rgb.convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    out = load_image(tmp_path / "c.jpg")
    assert out.shape == (3, 32, 40)
    torch.testing.assert_close(out.mean(dim=(1, 2)), torch.tensor([30, 120, 220]) / 255, atol=0.03, rtol=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_png_uses_the_full_range(tmp_path, channels):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 65536, (32, 40) if channels == 1 else (32, 40, 3), dtype=np.uint16)
    (tmp_path / "d.png").write_bytes(png_bytes(arr))
    out = load_image(tmp_path / "d.png")
    expected = torch.from_numpy(arr.astype(np.float32) / 65535)
    expected = expected.expand(3, -1, -1) if channels == 1 else expected.permute(2, 0, 1)
    torch.testing.assert_close(out, expected, atol=1 / 255 + 1e-6, rtol=0)


def test_dark_16_bit_grey_is_not_stretched(tmp_path):
    arr = np.full((32, 40), 200, np.uint16)  # 200/65535: nearly black
    (tmp_path / "d.png").write_bytes(png_bytes(arr))
    assert float(load_image(tmp_path / "d.png").max()) < 0.01


def test_exif_rotation_is_honoured(tmp_path):
    path, stored = exif_rotated_jpeg(tmp_path / "r.jpg")
    out = load_image(path)
    assert out.shape == (3, 48, 32)  # displayed upright: 32 wide, 48 high
    # rotated 90° clockwise: the stored left half (red) is now the top
    assert float(out[0, :20].mean()) > 0.8 and float(out[2, :20].mean()) < 0.2
    assert float(out[2, 28:].mean()) > 0.8 and float(out[0, 28:].mean()) < 0.2
    assert stored.shape == (32, 48, 3)


# ---------------------------------------------------------------- masks and index maps


def test_mask_reads_luminance_and_alpha(tmp_path):
    arr = np.zeros((32, 40), np.uint8)
    arr[:, 10:] = 255
    Image.fromarray(arr, "L").save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png")
    assert mask.shape == (32, 40) and float(mask[:, :10].max()) == 0 and float(mask[:, 10:].min()) == 1
    rgba = np.zeros((32, 40, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:16, :, 3] = 255  # white everywhere, opaque on top only
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    mask = load_mask(tmp_path / "a.png")
    assert float(mask[:16].min()) == pytest.approx(1.0) and float(mask[16:].max()) == 0


def test_index_map_reads_palette_indices_and_grey_levels(tmp_path):
    idx = np.zeros((32, 40), np.uint8)
    idx[:, 20:] = 1
    idx[20:, :] = 2
    pal = Image.fromarray(idx, "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    pal.save(tmp_path / "p.png")
    Image.fromarray(idx, "L").save(tmp_path / "g.png")
    for name in ("p.png", "g.png"):
        out = load_index_map(tmp_path / name)
        assert out.dtype == torch.int64
        torch.testing.assert_close(out, torch.from_numpy(idx.astype(np.int64)))


def test_colour_index_map_is_refused(tmp_path):
    path = write_image(tmp_path / "c.png")
    with pytest.raises(InputError, match="palette or greyscale") as info:
        load_index_map(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- writing


def test_save_image_round_trip_and_no_temp_files(tmp_path):
    image = torch.rand(3, 20, 30)
    save_image(image, tmp_path / "sub" / "x.png")
    torch.testing.assert_close(load_image(tmp_path / "sub" / "x.png"), (image * 255).round() / 255)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.png"]


def test_save_image_errors(tmp_path):
    with pytest.raises(InputError, match="unknown image format"):
        save_image(torch.rand(3, 20, 30), tmp_path / "x.txt")
    with pytest.raises(InputError, match="unknown image format"):
        image_format(tmp_path / "noext")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot write") as info:
        save_image(torch.rand(3, 20, 30), tmp_path / "file" / "x.png")  # a file where a folder should be
    assert str(tmp_path / "file" / "x.png") in str(info.value)


def test_make_grid_layout():
    wide, square = Image.new("RGB", (80, 40), "red"), Image.new("RGB", (30, 30), "blue")
    grid = make_grid([[None, square], [wide, wide]], height=20, gap=2)
    # columns: max(40, ...) wide for the first (wide image 40x20), 40 for the second (wide beats square 20x20)
    assert grid.size == (2 + 40 + 2 + 40 + 2, 2 + 20 + 2 + 20 + 2)
    px = grid.load()
    assert px[3, 3] == (255, 255, 255)  # empty corner
    assert px[2 + 40 + 2 + 20, 12][2] > 200  # the square, centred in its cell
    assert px[2 + 40 + 2 + 2, 12] == (255, 255, 255)  # padding beside the centred square
    assert px[10, 30][0] > 200  # wide image, second row
    assert fit_height(wide, 20).size == (40, 20)


def test_list_images_sorted_and_filtered(tmp_path):
    for name in ("b.png", "a.JPG", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    with pytest.raises(InputError, match="not a folder"):
        list_images(tmp_path / "b.png")
