"""In-browser stylization: the page runs the exported models in onnxruntime-web (WebAssembly) in headless
Chromium, sends nothing to /api/stylize, and its result matches the server's."""

import base64
import contextlib
import functools
import http.server
import io
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from adain.apps.server import Limits, create_app, write_site
from adain.decoder import Decoder
from adain.onnx.export import export_onnx
from adain.stylizer import Stylizer
from helpers import Recorder, live_server, write_image

TOLERANCE = 1.5 / 255  # mean absolute difference, in [0, 1] units (measured: see docs/export.md)


@pytest.fixture(scope="module")
def encoder():
    """The pretrained encoder: a random one gives nearly the same statistics for every painting,
    too little for the tests to tell the controls apart (in the browser it costs what a random one does)."""
    from adain.encoder import Encoder

    return Encoder()


@pytest.fixture(scope="module")
def tiny_models(encoder, tmp_path_factory):
    """A tiny decoder (He-initialised, so its output follows its input) spanning about [0, 1], exported with the encoder."""
    torch.manual_seed(2)
    decoder = Decoder(width=0.0625)
    convs = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for conv in convs:
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            conv.bias.zero_()
        convs[-1].weight.mul_(0.3)
        convs[-1].bias.fill_(0.65)
    folder = tmp_path_factory.mktemp("models")
    export_onnx(folder, encoder=encoder, decoder=decoder)
    return decoder.eval(), folder


@pytest.fixture(scope="module")
def server(encoder, tiny_models) -> Iterator[tuple[str, Recorder]]:
    decoder, folder = tiny_models
    stylizer = Stylizer(decoder, encoder=encoder, device="cpu", bf16=False, channels_last=False)
    app = Recorder(create_app(stylizer, limits=Limits(style_size=48, max_size=256), models=folder))
    with live_server(app) as url:
        yield url, app


@pytest.fixture
def page(browser, server):
    url, recorder = server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.requests = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(url)
    page.wait_for_selector("#styles .tile.selected")
    page.recorder = recorder
    yield page
    assert all(r.startswith((url, "blob:", "data:")) for r in page.requests)
    context.close()


def result_pixels(page) -> np.ndarray:
    data = page.evaluate(
        """async () => {
            const bytes = new Uint8Array(await (await fetch(document.querySelector('#result').src)).arrayBuffer());
            let s = ''; for (const b of bytes) s += String.fromCharCode(b); return btoa(s);
        }"""
    )
    with Image.open(io.BytesIO(base64.b64decode(data))) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255


def wait_for_result(page) -> None:
    """Click Stylize and wait until a new result is shown (status "Done…", a new image, loaded)."""
    previous = page.evaluate("document.querySelector('#status').textContent = ''; document.querySelector('#result').src")
    page.click("#go")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Done')", timeout=120_000)
    page.wait_for_function(
        "([previous]) => { const img = document.querySelector('#result'); return img.src !== previous && img.complete && img.naturalWidth > 0; }",
        arg=[previous],
    )


def run(page, where: str) -> np.ndarray:
    page.check(f"#where-{where}")
    before = len(page.recorder.bodies)
    wait_for_result(page)
    assert page.is_hidden("#error"), page.text_content("#error")
    assert page.is_hidden("#where-note"), page.text_content("#where-note")
    assert len(page.recorder.bodies) == before + (where == "server")
    return result_pixels(page)


def choose(page, tmp_path, *, styles, alpha, preserve=None):
    photo = write_image(tmp_path / "photo.png", (60, 40), seed=5)
    page.set_input_files("#content-file", str(photo))
    page.wait_for_function("document.querySelector('#content-img').naturalWidth === 60")
    for name in styles:
        page.click(f"#styles .tile[title='{name}']")
    page.fill("#alpha", str(alpha))
    page.dispatch_event("#alpha", "input")
    if preserve:
        page.click("label:has(#preserve)")
        page.select_option("#preserve-mode", preserve)
    page.select_option("#size", "256")


def differ(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def check_picture(image: np.ndarray) -> None:
    assert image.std() > 0.05 and ((image > 0.02) & (image < 0.98)).mean() > 0.5  # not flat, not clipped


def test_blend_and_alpha_in_browser_match_the_server(page, tmp_path):
    choose(page, tmp_path, styles=["marc"], alpha=0.7)
    page.fill(".weights input[aria-label='weight of marc']", "0.3")
    here = run(page, "browser")
    assert "in this browser (WebAssembly)" in page.text_content("#status")
    there = run(page, "server")
    assert here.shape == there.shape == (256, 384, 3)
    check_picture(here)
    assert differ(here, there) < TOLERANCE
    page.fill(".weights input[aria-label='weight of marc']", "1")
    assert differ(here, run(page, "server")) > 3 * TOLERANCE  # the weights matter: the test can tell


def test_colour_preservation_in_browser_matches_the_server(page, tmp_path):
    choose(page, tmp_path, styles=[], alpha=1.0, preserve="color")
    here = run(page, "browser")
    there = run(page, "server")
    check_picture(here)
    assert differ(here, there) < TOLERANCE
    page.click("label:has(#preserve)")  # off
    assert differ(here, run(page, "server")) > 3 * TOLERANCE


def test_mask_and_luminance_in_browser_match_the_server(page, tmp_path):
    choose(page, tmp_path, styles=["seurat"], alpha=1.0, preserve="luminance")
    page.click("label:has(#paint)")
    box = page.locator("#mask").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.6, steps=6)
    page.mouse.up()
    here = run(page, "browser")
    there = run(page, "server")
    check_picture(here)
    assert differ(here, there) < TOLERANCE
    page.click("label:has(#paint)")  # off: the two styles blended instead of placed
    assert differ(here, run(page, "server")) > 3 * TOLERANCE


def test_style_file_in_browser_matches_the_server(page, encoder, tiny_models, tmp_path):
    """A style file (adain save-style) on the "your own" tile: the page uses its relu4_1 statistics, checked
    against the export's encoder, as the server does; a file from another encoder is refused in the page."""
    from adain.encoder import Encoder
    from adain.io.images import load_image
    from adain.io.stylefile import compute_style, save_style

    painting = load_image(write_image(tmp_path / "wave.png", (48, 40), seed=8))
    ours = Stylizer(tiny_models[0], encoder=encoder, device="cpu", bf16=False, channels_last=False)
    save_style(compute_style(ours, painting, {"name": "wave.png", "sha256": "0" * 64}, 48), tmp_path / "wave.safetensors")
    choose(page, tmp_path, styles=["hokusai"], alpha=0.9)  # the first style, picked on loading, unpicked: the file alone
    page.set_input_files("#style-file", str(tmp_path / "wave.safetensors"))
    here = run(page, "browser")
    there = run(page, "server")
    check_picture(here)
    assert differ(here, there) < TOLERANCE
    page.click("#styles .tile[title='wave']")
    page.click("#styles .tile[title='hokusai']")
    assert differ(here, run(page, "server")) > 3 * TOLERANCE  # the style file's statistics matter: the test can tell

    alien = Stylizer(tiny_models[0], encoder=Encoder(weights="random"), device="cpu", bf16=False)
    save_style(compute_style(alien, painting, {"name": "wave.png", "sha256": "0" * 64}, 48), tmp_path / "alien.safetensors")
    page.click("#styles .tile[title='hokusai']")
    page.set_input_files("#style-file", str(tmp_path / "alien.safetensors"))
    page.check("#where-browser")
    page.click("#go")
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error").startswith("alien.safetensors: made with another encoder (vgg19-relu4_1:")


def test_models_fetched_once_and_cached(page):
    load = "async () => (await import('./static/local.js')).loadModels('models/manifest.json', 'static/', () => {}).then((m) => m.backend)"
    assert page.evaluate(load) == "wasm"
    assert page.evaluate(load) == "wasm"  # kept in the page
    page.reload()
    assert page.evaluate(load) == "wasm"  # a new page: from Cache Storage
    assert sum(r.endswith("/models/encoder.onnx") for r in page.requests) == 1
    assert sum(r.endswith("/models/decoder.onnx") for r in page.requests) == 1
    assert sum(r.endswith("/models/manifest.json") for r in page.requests) == 3  # always asked: a new export is noticed


def test_without_webassembly_the_page_uses_the_server(browser, server):
    url, _ = server
    context = browser.new_context()
    context.add_init_script("delete globalThis.WebAssembly")
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#where-note:not([hidden])")
    assert "lacks WebAssembly" in page.text_content("#where-note")
    assert page.is_disabled("#where-browser") and page.is_checked("#where-server")
    context.close()


@contextlib.contextmanager
def static_host(folder: Path) -> Iterator[str]:
    """A plain static file server (Python's http.server) over ``folder``: no API at all."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/site/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_static_site_computes_in_the_browser(browser, tiny_models, tmp_path):
    site = tmp_path / "site"
    write_site(site, Limits(style_size=48, max_size=256))
    shutil.copytree(tiny_models[1], site / "models")
    with static_host(tmp_path) as url:  # served from a sub-folder, as on many static hosts
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#styles .tile.selected")
        # the page settles where it computes once it has loaded its in-browser code (asynchronously: slower on a busy machine)
        page.wait_for_function("document.querySelector('#where-note').textContent.includes('no server')")
        assert page.is_checked("#where-browser") and page.is_disabled("#where-server")
        page.set_input_files("#content-file", str(write_image(tmp_path / "photo.png", (40, 40), seed=1)))
        page.select_option("#size", "256")
        assert page.is_hidden("#texture")  # no server to make textures
        page.select_option("#method", "wct")
        page.click("#go")
        page.wait_for_selector("#error:not([hidden])")
        assert "the wct method runs on the server only" in page.text_content("#error")
        page.select_option("#method", "adain")
        wait_for_result(page)
        assert page.is_hidden("#error") and page.evaluate("document.querySelector('#result').naturalWidth") == 256
        context.close()


@pytest.mark.skipif(not (Path(__file__).parents[1] / "src" / "adain" / "weights" / "lite-encoder.onnx").is_file(), reason="no shipped lite model")
def test_lite_model_in_browser_matches_the_server(page, tmp_path):
    choose(page, tmp_path, styles=["marc"], alpha=0.8)
    page.select_option("#model", "lite")
    here = run(page, "browser")
    assert "in this browser (WebAssembly)" in page.text_content("#status")
    there = run(page, "server")
    assert here.shape == there.shape == (256, 384, 3)
    check_picture(here)
    assert differ(here, there) < TOLERANCE
    page.select_option("#model", "full")
    assert differ(here, run(page, "server")) > 3 * TOLERANCE  # the model switch matters: the test can tell
