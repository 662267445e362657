"""The page in a real browser: headless Chromium from Debian, driven by Playwright, against a live server."""

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

from adain.apps.server import Limits, create_app  # noqa: E402
from adain.decoder import Decoder  # noqa: E402
from adain.io.images import pil_to_tensor  # noqa: E402
from adain.stylizer import Stylizer  # noqa: E402
from helpers import Recorder, live_server, write_image  # noqa: E402


@pytest.fixture(scope="module")
def server(tiny_encoder) -> Iterator[tuple[str, Recorder]]:
    """A live server with a tiny model: its URL and the request recorder."""
    torch.manual_seed(0)
    app = Recorder(create_app(Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu"), limits=Limits(style_size=32, max_size=256)))
    with live_server(app) as url:
        yield url, app


@pytest.fixture
def page(browser, server):
    server_url, page_recorder = server
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((server_url, "blob:", "data:")) else outside.append(r.url))
    page.goto(server_url)
    page.wait_for_selector("#styles .tile.selected")  # the gallery is loaded, the first style is picked
    page.recorder = page_recorder
    yield page
    assert outside == []  # the page works offline: nothing but the server is asked for
    context.close()


def stylize(page, button: str = "#go", path: str = "/api/stylize") -> dict[str, str]:
    """Click Stylize (or ``button``), wait for the answer; the form fields sent (files by their file names)."""
    before = len(page.recorder.bodies)
    with page.expect_response(f"**{path}", timeout=120_000):
        page.click(button)
    assert len(page.recorder.bodies) == before + 1
    body = page.recorder.bodies[-1].decode("latin-1")
    fields: dict[str, str] = {}
    for part in body.split("Content-Disposition: form-data; ")[1:]:
        head, _, value = part.partition("\r\n\r\n")
        name = head.split('name="')[1].split('"')[0]
        fields.setdefault(name, "")
        fields[name] += ("|" if fields[name] else "") + (head.split('filename="')[1].split('"')[0] if "filename=" in head else value.split("\r\n--")[0])
    page.wait_for_function("!document.querySelector('#go').disabled")
    return fields


def test_texture_button_makes_a_texture_of_the_first_style(page):
    page.select_option("#size", "256")
    page.select_option("#method", "efdm")
    sent = stylize(page, "#texture", "/api/texture")
    assert sent == {"style_name": "hokusai", "width": "256", "height": "256", "method": "efdm", "format": "png"}
    assert page.is_visible("#result") and page.is_hidden("#error")
    assert page.evaluate("document.querySelector('#result').naturalWidth") == 256


def test_upload_alpha_stylize_download(page, tmp_path):
    photo = write_image(tmp_path / "photo.png", (96, 64), seed=3)
    page.set_input_files("#content-file", str(photo))
    page.wait_for_function("document.querySelector('#content-img').naturalWidth === 96")
    page.focus("#alpha")
    for _ in range(8):
        page.keyboard.press("ArrowLeft")
    assert page.text_content("#alpha-value") == "0.60"
    page.select_option("#size", "256")
    page.select_option("#format", "jpeg")
    page.select_option("#method", "wct")

    sent = stylize(page)
    assert sent == {"content": "photo.png", "style_name": "hokusai", "alpha": "0.6", "preserve_color": "none", "method": "wct", "model": "full",
                    "refine": "0", "size": "256", "format": "jpeg"}
    assert page.is_visible("#result") and page.is_hidden("#error")
    assert page.evaluate("document.querySelector('#result').naturalWidth") == 384
    assert "Done in" in page.text_content("#status")

    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "adain-photo.jpeg"
    saved = Path(download.value.path())
    with Image.open(saved) as img:
        assert (img.format, img.size) == ("JPEG", (384, 256))


def test_blend_two_styles_with_colour_preservation(page):
    page.click("#contents .tile[data-name='coast']")
    page.click("#styles .tile[title='marc']")
    page.fill(".weights input[aria-label='weight of marc']", "0.25")
    page.click("label:has(#preserve)")
    page.select_option("#preserve-mode", "luminance")
    page.select_option("#size", "256")
    sent = stylize(page)
    assert sent["content_name"] == "coast" and sent["style_name"] == "hokusai|marc"
    assert sent["weight"] == "1|0.25" and sent["preserve_color"] == "luminance"
    assert page.is_visible("#result") and page.is_hidden("#error")


def test_painted_mask_places_a_second_style(page, tmp_path):
    page.click("#contents .tile[data-name='city']")
    page.wait_for_function("document.querySelector('#content-img').naturalWidth > 0")
    page.click("#styles .tile[title='seurat']")
    page.click("label:has(#paint)")
    page.locator("#mask").scroll_into_view_if_needed()
    box = page.locator("#mask").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    assert page.evaluate("state.maskPainted")
    page.select_option("#size", "256")
    sent = stylize(page)
    assert sent["mask"] == "mask.png" and "weight" not in sent
    part = page.recorder.bodies[-1].split(b'filename="mask.png"')[1]
    with Image.open(io.BytesIO(part.split(b"\r\n\r\n", 1)[1])) as png:
        mask = pil_to_tensor(png)[0]
    assert tuple(mask.shape) == (320, 640)  # the photo's own size
    painted = float(mask.mean())  # a stroke across the middle: some white, mostly black
    assert 0.02 < painted < 0.5 and float(mask[160, 250]) == 1.0 and float(mask[20, 20]) == 0.0
    assert page.is_visible("#result") and page.is_hidden("#error"), page.text_content("#error")


def test_style_file_tile(page, tmp_path, tiny_encoder):
    """A style file (adain save-style) uploaded on the "your own" tile: a tile without a picture, sent to the
    server as the style, and a file from another encoder refused with the server's one line."""
    from adain.encoder import Encoder
    from adain.io.stylefile import compute_style, save_style

    painting = pil_to_tensor(Image.open(write_image(tmp_path / "wave.png", (32, 32), seed=4)))
    ours = Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu")
    save_style(compute_style(ours, painting, {"name": "wave.png", "sha256": "0" * 64}, 32), tmp_path / "wave.safetensors")
    other = Stylizer(Decoder(width=0.0625), encoder=Encoder(weights="random"), device="cpu")  # other random weights
    save_style(compute_style(other, painting, {"name": "wave.png", "sha256": "0" * 64}, 32), tmp_path / "alien.safetensors")

    page.click("#contents .tile[data-name='coast']")
    page.click("#styles .tile[title='hokusai']")  # unpick the first style: the file alone
    page.set_input_files("#style-file", str(tmp_path / "wave.safetensors"))
    tile = page.locator("#styles .tile[title='wave']")
    assert "stats" in tile.get_attribute("class") and "selected" in tile.get_attribute("class")
    assert tile.locator("img").count() == 0  # statistics only: nothing to show
    page.select_option("#size", "256")
    sent = stylize(page)
    assert sent["style"] == "wave.safetensors" and "style_name" not in sent
    assert (tmp_path / "wave.safetensors").read_bytes() in page.recorder.bodies[-1]
    assert page.is_visible("#result") and page.is_hidden("#error"), page.text_content("#error")
    assert page.evaluate("document.querySelector('#result').naturalWidth") == 512

    page.click("#styles .tile[title='wave']")
    page.set_input_files("#style-file", str(tmp_path / "alien.safetensors"))
    stylize(page)
    page.wait_for_selector("#error:not([hidden])")
    assert "alien.safetensors': made with another encoder" in page.text_content("#error")


def test_bad_upload_shows_the_error(page):
    page.set_input_files("#content-file", files=[{"name": "broken.png", "mimeType": "image/png", "buffer": b"this is not a picture"}])
    stylize(page)
    page.wait_for_selector("#error:not([hidden])")
    assert "broken.png': not an image file" in page.text_content("#error")
    assert page.is_hidden("#result")


def test_client_side_checks(page):
    page.click("#go")  # no photo yet
    assert page.text_content("#error") == "choose a photo first"
    page.click("#contents .tile[data-name='canyon']")
    assert page.is_hidden("#error")
    for name in ("macke", "marc", "seurat"):
        page.click(f"#styles .tile[title='{name}']")
    page.set_input_files("#style-file", files=[{"name": "mine.png", "mimeType": "image/png", "buffer": _png()}])
    assert page.locator("#styles .tile.selected").count() == 4  # the upload is not auto-picked past the limit
    page.click("#styles .tile[title='mine']")
    assert "at most 4 styles" in page.text_content("#error")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (20, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.skipif(not os.environ.get("ADAIN_SCREENSHOT"), reason="set ADAIN_SCREENSHOT=docs/img/web.png to (re)take the README screenshot")
def test_screenshot_with_the_shipped_decoder(browser):
    """The page with a result of the shipped decoder, saved where ADAIN_SCREENSHOT says (a 256-colour PNG)."""
    out = Path(os.environ["ADAIN_SCREENSHOT"])
    with live_server(create_app()) as url:
        page = browser.new_page(viewport={"width": 1360, "height": 860})
        page.goto(url)
        page.wait_for_selector("#styles .tile.selected")
        page.click("#contents .tile[data-name='canyon']")
        page.fill("#alpha", "0.9")
        page.click("#go")
        page.wait_for_selector("#download:not([hidden])", timeout=300_000)
        page.evaluate("window.scrollTo(0, 0)")
        shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    out.parent.mkdir(parents=True, exist_ok=True)
    shot.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    assert out.stat().st_size < 300_000
