"""Shared fixtures: tiny images and nets, the path of the shared data (tests using it skip without it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import lively_nets, write_image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


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
        pytest.skip("the data folder (training and evaluation images) is not available")
    return SHARED


@pytest.fixture(scope="module")
def one_thread():
    """Tiny images gain nothing from threads, and on a busy 2-core machine two threads
    wait on each other: one thread makes these tests ~20x faster there."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from Debian (``/usr/bin/chromium``) driven by Playwright; skips without either."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def lively_stylizer():
    """A fp32 CPU :class:`~adain.stylizer.Stylizer` on :func:`lively_nets` (outputs vary with the inputs)."""
    from adain.stylizer import Stylizer

    encoder, decoder = lively_nets()
    return Stylizer(decoder, encoder=encoder, device="cpu", bf16=False)
