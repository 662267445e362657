"""Shared fixtures: tiny images and nets, the path of the shared data (tests using it skip without it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_image(path: Path, size: tuple[int, int] = (40, 32), seed: int = 0, mode: str = "RGB") -> Path:
    """A random smooth-ish test image of ``size`` (W, H)."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(base, "RGB").resize((w, h), Image.BILINEAR)
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    """A folder with 3 content and 3 style images of 48x40 px."""
    for i in range(3):
        write_image(tmp_path / "content" / f"c{i}.png", (48, 40), seed=i)
        write_image(tmp_path / "style" / f"s{i}.jpg", (40, 48), seed=10 + i)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_encoder():
    """VGG-shaped encoder with random weights (no file needed)."""
    from adain.encoder import Encoder

    torch.manual_seed(0)
    return Encoder(weights="random")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED


@pytest.fixture(scope="module")
def one_thread():
    """Tiny images gain nothing from threads, and on a busy 2-core machine two threads
    wait on each other: one thread makes these tests ~20x faster there."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def lively_nets(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A random VGG-shaped encoder and a 1/16-width decoder whose output varies with content and style.

    PyTorch's default init shrinks the signal layer by layer, so a default-initialised
    decoder gives a near-constant image whatever the input, and no test comparing outputs
    could tell two styles apart. Here every conv is He-initialised, the first one scaled
    for the Caffe (×255) input, and the last conv's bias centres the output in [0, 1].
    """
    from adain.decoder import Decoder
    from adain.encoder import Encoder

    gen = torch.Generator().manual_seed(seed)
    encoder, decoder = Encoder(weights="random"), Decoder(width=0.0625)
    with torch.no_grad():
        for net in (encoder, decoder):
            for m in net.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / (m.in_channels * 9)) ** 0.5)
                    m.bias.zero_()
        encoder.stages[0][0][1].weight /= 255.0
        decoder.net[-1].bias.fill_(0.5)
    return encoder.eval(), decoder.eval()


@pytest.fixture(scope="module")
def lively_stylizer():
    """A fp32 CPU :class:`~adain.stylizer.Stylizer` on :func:`lively_nets` (outputs vary with the inputs)."""
    from adain.stylizer import Stylizer

    encoder, decoder = lively_nets()
    return Stylizer(decoder, encoder=encoder, device="cpu", bf16=False)
