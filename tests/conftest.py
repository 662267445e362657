"""Shared fixtures: tiny images and nets, the path of the shared data (tests using it skip without it), and
the CPU's features: ``native_bf16`` runs a test on both sides of the bf16 branch, and
``pytest --native-bf16 off`` (or ``on``) runs the whole suite as on a CPU without (with) native bf16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain.decoder import save_decoder
from helpers import lively_nets, write_image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--native-bf16", choices=("auto", "on", "off"), default="auto",
                     help="run as on a CPU with (on) or without (off) native bf16, whatever this one has (default: this CPU's)")


@pytest.fixture(scope="session", autouse=True)
def simulated_cpu(request: pytest.FixtureRequest):
    """``--native-bf16 on|off``: :func:`adain.device.cpu_has_bf16` answers that for the whole run."""
    mode = request.config.getoption("--native-bf16")
    if mode == "auto":
        yield
        return
    patch = pytest.MonkeyPatch()
    simulate_cpu(patch, mode == "on")
    yield
    patch.undo()


CPU_FLAGS = {True: "flags : fpu sse4_2 avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8",  # an AMX Xeon
             False: "flags : fpu sse4_2 avx2 avx512f avx512_vnni"}  # a Xeon with AVX-512 and VNNI, no bf16


def simulate_cpu(patch: pytest.MonkeyPatch, native: bool) -> None:
    """Make :mod:`adain.device` see a CPU with or without native bf16: its flags, and oneDNN's answer."""
    patch.setattr("adain.device.cpu_flags", lambda: CPU_FLAGS[native])
    patch.setattr("adain.device.mkldnn_bf16", lambda: native)


@pytest.fixture(params=[True, False], ids=["native-bf16", "no-native-bf16"])
def native_bf16(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """The test runs twice: as on a CPU with native bf16 (AVX-512 BF16 or AMX) and as on one without."""
    simulate_cpu(monkeypatch, request.param)
    return request.param


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


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """The folder the server's app puts its per-request temp folders in."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture
def make_client(lively_stylizer, uploads):
    """``make_client(**limits)`` → a TestClient over a fresh app on :func:`lively_stylizer` (temp folders under
    ``uploads``), its limits small styles (fast with the random VGG) and a 256 px largest size, and ``limits``."""
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from adain.apps.server import Limits, create_app

    clients = []

    def make(**overrides) -> TestClient:
        client = TestClient(create_app(lively_stylizer, limits=Limits(**{"style_size": 32, "max_size": 256, **overrides}), temp_dir=uploads))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def fast_models(monkeypatch, tiny_encoder, tmp_path) -> Path:
    """The CLI builds its Stylizer with the tiny random encoder; returns the path of a tiny decoder file."""
    monkeypatch.setattr("adain.networks.Encoder", lambda **settings: tiny_encoder)
    path = tmp_path / "tiny.safetensors"
    save_decoder(lively_nets()[1], path, {"steps": 0})
    return path


@pytest.fixture
def pair(tmp_path) -> dict[str, Path]:
    """A 45x37 content, two styles, their left/right masks and an index map, and an output path."""
    files = {
        "content": write_image(tmp_path / "in" / "content.png", (45, 37), seed=1),
        "a": write_image(tmp_path / "in" / "a.jpg", (40, 30), seed=2),
        "b": write_image(tmp_path / "in" / "b.png", (30, 50), seed=3),
        "out": tmp_path / "out" / "result.jpg",
    }
    left = np.zeros((37, 45), np.uint8)
    left[:, :20] = 255
    for name, arr in (("left", left), ("right", 255 - left), ("black", left * 0), ("index", (left == 0).astype(np.uint8))):
        files[name] = tmp_path / "in" / f"{name}.png"
        Image.fromarray(arr, "L").save(files[name])
    return files
