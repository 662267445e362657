"""Training data: resizing, crops, the in-memory cache, unreadable files."""

from __future__ import annotations

import pytest
import torch

from adain.io import InputError, find_images
from adain.training.data import CropSampler, random_crop, resize_for_crops
from helpers import write_image


def test_resize_keeps_the_aspect_and_reaches_the_crop(tmp_path):
    from PIL import Image

    img = Image.open(write_image(tmp_path / "a.png", size=(60, 30)))
    out = resize_for_crops(img, size=40, crop=32)
    assert out.dtype == torch.uint8 and tuple(out.shape) == (3, 40, 80)


def test_random_crop_is_a_window_of_the_image():
    image = torch.arange(3 * 10 * 12, dtype=torch.int64).reshape(3, 10, 12).remainder(256).to(torch.uint8)
    crop = random_crop(image, crop=4, gen=torch.Generator().manual_seed(1))
    assert crop.shape == (3, 4, 4) and crop.dtype == torch.float32
    windows = image.unfold(1, 4, 1).unfold(2, 4, 1)  # (3, 7, 9, 4, 4)
    assert any(torch.equal(windows[:, y, x].float() / 255, crop) for y in range(7) for x in range(9))


def test_the_cache_gives_the_same_batches(image_dir):
    files = find_images(image_dir)
    plain = CropSampler(files, size=32, crop=24)
    cached = CropSampler(files, size=32, crop=24, cache=True)
    for step in range(3):  # the second and third draws come from memory
        a = plain.batch(4, torch.Generator().manual_seed(step))
        b = cached.batch(4, torch.Generator().manual_seed(step))
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert cached.cache and plain.cache is None


def test_unreadable_files_are_skipped_once_and_all_unreadable_is_an_error(tmp_path, capsys):
    good = write_image(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    sampler = CropSampler([good, bad], size=32, crop=24)
    for step in range(4):
        assert sampler.batch(3, torch.Generator().manual_seed(step)).shape == (3, 3, 24, 24)
    assert capsys.readouterr().err.count("bad.png") == 1
    with pytest.raises(InputError, match="none of the 1 training images"):
        CropSampler([bad], size=32, crop=24).batch(1, torch.Generator())
