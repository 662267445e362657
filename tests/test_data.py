"""Training data: resizing, crops, the in-memory cache, unreadable files."""

from __future__ import annotations

import pytest
import torch

from adain.errors import UsageError
from adain.io.images import InputError, find_images
from adain.training.data import CropSampler, random_crop, random_scaled_crop, resize_for_crops
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


def _ramp_span(crop: torch.Tensor) -> float:
    """How much of a horizontal 0 → 1 ramp a crop covers."""
    row = crop[0].mean(dim=0)
    return float(row.max() - row.min())


def test_scale_augmentation_sees_the_image_at_smaller_sizes():
    ramp = torch.linspace(0, 255, 128).round().to(torch.uint8)
    image = ramp.expand(3, 64, 128).contiguous()  # shorter side 64; a 16 px crop covers 1/8 of the ramp
    plain = CropSampler([], size=64, crop=16)
    scaled = CropSampler([], size=64, crop=16, min_size=16)  # down to a quarter: up to half the ramp
    gens = [torch.Generator().manual_seed(i) for i in range(40)]
    plain_spans = [_ramp_span(plain._crop(image, g)) for g in gens]
    spans = [_ramp_span(scaled._crop(image, torch.Generator().manual_seed(i))) for i in range(40)]
    assert max(plain_spans) < 0.13
    assert max(spans) > 0.35 and min(spans) < 0.2 and max(spans) < 0.52


def test_scaled_crops_are_reproducible_and_in_range():
    image = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    a = random_scaled_crop(image, crop=16, min_size=20, gen=torch.Generator().manual_seed(3))
    b = random_scaled_crop(image, crop=16, min_size=20, gen=torch.Generator().manual_seed(3))
    assert a.shape == (3, 16, 16) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1


def test_a_smallest_size_outside_crop_and_size_is_refused():
    with pytest.raises(UsageError, match="between the crop"):
        CropSampler([], size=64, crop=16, min_size=8)


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
