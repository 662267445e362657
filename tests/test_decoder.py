"""Decoder: the paper's architecture, shapes, safetensors round trip with metadata, loading errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from adain.decoder import (
    DECODER_PATH,
    Decoder,
    load_decoder,
    read_metadata,
    save_decoder,
)
from adain.encoder import WeightsError


def test_architecture_mirrors_vgg_to_relu4_1():
    dec = Decoder()
    convs = [m for m in dec.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (512, 256), (256, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64), (64, 3)
    ]
    assert all(c.kernel_size == (3, 3) and c.padding == (0, 0) for c in convs)  # padding is by reflection layers
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in dec.modules()) == 9
    assert sum(isinstance(m, nn.Upsample) and m.mode == "nearest" for m in dec.modules()) == 3
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) for m in dec.modules())
    assert isinstance(dec.net[-1], nn.Conv2d)  # no ReLU after the RGB conv


@pytest.mark.parametrize("h, w", [(2, 2), (4, 6), (5, 3)])  # 2: the grid of a 16 px image, the smallest accepted
def test_output_is_eight_times_the_feature_grid(h, w):
    dec = Decoder(width=0.0625)
    assert dec(torch.randn(2, 512, h, w)).shape == (2, 3, 8 * h, 8 * w)


def test_wrong_input_shape():
    with pytest.raises(ValueError, match="relu4_1"):
        Decoder(width=0.0625)(torch.randn(1, 256, 4, 4))


def test_round_trip_with_metadata(tmp_path):
    torch.manual_seed(0)
    dec = Decoder(width=0.0625)
    meta = {"steps": 1234, "crop": 256, "batch": 8, "style_weight": 10.0, "data": "coco+wikiart", "eval": {"style_loss": 1.5}}
    path = tmp_path / "d.safetensors"
    save_decoder(dec, path, meta)
    assert [p.name for p in tmp_path.iterdir()] == ["d.safetensors"]  # no temp file left
    loaded = load_decoder(path)
    assert loaded.width == 0.0625 and not loaded.training
    assert loaded.metadata["steps"] == 1234 and loaded.metadata["eval"] == {"style_loss": 1.5}
    assert read_metadata(path)["data"] == "coco+wikiart" and read_metadata(path)["format"] == "adain-decoder"
    t = torch.randn(1, 512, 3, 4)
    torch.testing.assert_close(loaded(t), dec(t))


def test_shipped_decoder_loads_with_its_provenance():
    dec = load_decoder()
    assert dec.width == 1.0
    assert {"steps", "style_weight"} <= set(read_metadata(DECODER_PATH))


def test_missing_corrupt_or_mismatched_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_decoder(tmp_path / "none.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"this is not safetensors at all")
    with pytest.raises(WeightsError, match="not a valid safetensors") as info:
        load_decoder(bad)
    assert str(bad) in str(info.value)
    other = tmp_path / "other.safetensors"
    save_decoder(Decoder(width=0.0625), other, {"width": 0.125})  # metadata lies about the width
    with pytest.raises(WeightsError, match="cannot load decoder weights"):
        load_decoder(other)
