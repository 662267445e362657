"""HTTP API of ``adain serve``: results, limits and bad input, the style cache, the queue, temp files, fuzzing (size limits: tests/test_limits.py)."""

import io
import re
import threading

import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from adain.apps.server import EXAMPLES, STATIC, Limits  # noqa: E402
from adain.cli import main  # noqa: E402
from adain.geometry import prepare, resize_shorter  # noqa: E402
from adain.io.images import pil_to_tensor  # noqa: E402
from adain.stylizer import Stylizer  # noqa: E402

TINY = Limits(style_size=32, max_size=256)  # small styles keep the random VGG fast (make_client's, in conftest.py)


@pytest.fixture(scope="module")
def stylizer(lively_stylizer) -> Stylizer:
    """Nets whose output varies with the inputs, so a swapped style or a lost weight shows."""
    return lively_stylizer


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


def png(size: tuple[int, int] = (48, 40), seed: int = 0, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """Encoded random smooth image of ``size`` (W, H)."""
    g = torch.Generator().manual_seed(seed)
    small = (torch.rand(3, size[1] // 4 + 1, size[0] // 4 + 1, generator=g) * 255).byte().permute(1, 2, 0).numpy()
    img = Image.fromarray(small, "RGB").resize(size, Image.BILINEAR).convert(mode)
    buffer = io.BytesIO()
    img.save(buffer, fmt)
    return buffer.getvalue()


def to_tensor(data: bytes) -> torch.Tensor:
    """Encoded image → ``(3, H, W)`` in [0, 1]."""
    return pil_to_tensor(Image.open(io.BytesIO(data)))


def post(client: TestClient, files: list | None = None, **data):
    """POST /api/stylize; ``files`` as ``[(field, (name, bytes))]``; list values repeat a form field."""
    return client.post("/api/stylize", data={"size": "32", **data}, files=files or [])


def content_file(data: bytes | None = None, name: str = "photo.png") -> tuple:
    return ("content", (name, png() if data is None else data, "image/png"))


def style_file(seed: int = 1, name: str = "style.png", size: tuple[int, int] = (40, 48)) -> tuple:
    return ("style", (name, png(size, seed=seed), "image/png"))


def mask_file(mask: torch.Tensor, name: str = "mask.png") -> tuple:
    buffer = io.BytesIO()
    Image.fromarray((mask * 255).byte().numpy(), "L").save(buffer, "PNG")
    return ("mask", (name, buffer.getvalue(), "image/png"))


def expected(stylizer: Stylizer, content: bytes, styles: list[bytes], size: int = 32, **kwargs) -> torch.Tensor:
    """What the Python API gives for the same inputs (styles resized as the server does)."""
    c = prepare(to_tensor(content), size)
    s = [resize_shorter(to_tensor(b), TINY.style_size) for b in styles]
    return stylizer.stylize(c, s, **kwargs)


def assert_close_to_api(response, want: torch.Tensor, unlike: torch.Tensor | None = None) -> None:
    """The response is the API's result ``want`` (within 1.5/255), and far from ``unlike`` (what a mix-up would give)."""
    assert response.status_code == 200, response.text
    got = to_tensor(response.content)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= 1.5 / 255
    if unlike is not None:
        assert float((got - unlike).abs().max()) > 10 / 255, "the result would not tell the inputs apart"


# ---------------------------------------------------------------- results


def test_upload_gives_the_python_api_result(client, stylizer):
    r = post(client, [content_file(), style_file()], alpha="0.6")
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"] == 'inline; filename="adain-photo.png"'
    assert_close_to_api(r, expected(stylizer, png(), [png((40, 48), seed=1)], alpha=0.6),
                        unlike=expected(stylizer, png(), [png((40, 48), seed=2)], alpha=0.6))


def test_names_come_before_files_and_weights_follow_that_order(client, stylizer):
    hokusai = (EXAMPLES / "style" / "hokusai.jpg").read_bytes()
    r = post(client, [content_file(), style_file()], style_name=["hokusai"], weight=["3", "1"])
    want = expected(stylizer, png(), [hokusai, png((40, 48), seed=1)], weights=[3, 1])
    assert_close_to_api(r, want, unlike=expected(stylizer, png(), [png((40, 48), seed=1), hokusai], weights=[3, 1]))
    assert_close_to_api(r, want, unlike=expected(stylizer, png(), [hokusai, png((40, 48), seed=1)]))  # the weights count


@pytest.mark.parametrize("mode", ["color", "luminance"])
def test_preserve_color(client, stylizer, mode):
    r = post(client, [content_file(), style_file()], preserve_color=mode)
    assert_close_to_api(r, expected(stylizer, png(), [png((40, 48), seed=1)], preserve_color=mode),
                        unlike=expected(stylizer, png(), [png((40, 48), seed=1)]))


def test_one_mask_per_style_and_one_fewer(client, stylizer):
    left = torch.zeros(40, 48)
    left[:, :24] = 1
    styles = [png((40, 48), seed=1), png((40, 48), seed=2)]
    files = [content_file(), style_file(1), style_file(2)]
    both = post(client, files + [mask_file(1 - left), mask_file(left)], size="0")
    swapped = expected(stylizer, png(), styles, size=0, masks=torch.stack([left, 1 - left]))
    assert_close_to_api(both, expected(stylizer, png(), styles, size=0, masks=torch.stack([1 - left, left])), unlike=swapped)
    one = post(client, files + [mask_file(left)], size="0")  # style 1 takes the rest
    assert_close_to_api(one, both_want := expected(stylizer, png(), styles, size=0, masks=torch.stack([1 - left, left])))
    assert both_want.shape == (3, 40, 48)


def test_mask_is_resized_to_the_output(client):
    mask = torch.zeros(80, 96)
    mask[20:60, 20:70] = 1
    r = post(client, [content_file(), style_file(), mask_file(mask)], size="64")
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (77, 64)


@pytest.mark.parametrize(("fmt", "mime", "pil"), [("png", "image/png", "PNG"), ("jpeg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP")])
def test_formats_and_size(client, fmt, mime, pil):
    r = post(client, [content_file(), style_file()], format=fmt, size="64")
    assert r.status_code == 200 and r.headers["content-type"] == mime
    img = Image.open(io.BytesIO(r.content))
    assert img.format == pil and img.size == (77, 64)


def test_size_zero_keeps_the_photo_size_and_bundled_content(client):
    r = post(client, [style_file()], content_name="city", style_name=["seurat"], size="0")
    assert r.status_code == 200, r.text
    with Image.open(EXAMPLES / "content" / "city.jpg") as original:
        assert Image.open(io.BytesIO(r.content)).size == original.size
    assert r.headers["content-disposition"] == 'inline; filename="adain-city.png"'


def test_download_name_is_sanitised(client):
    r = post(client, [content_file(name="my photo (1).png"), style_file()])
    assert r.headers["content-disposition"] == 'inline; filename="adain-my_photo_1_.png"'


# ---------------------------------------------------------------- cache


def test_repeated_style_is_a_cache_hit(client):
    hokusai = (EXAMPLES / "style" / "hokusai.jpg").read_bytes()
    first = post(client, [content_file()], style_name=["hokusai"])
    again = post(client, [content_file(png(seed=5))], style_name=["hokusai"])
    as_upload = post(client, [content_file(), ("style", ("wave.jpg", hokusai, "image/jpeg"))])  # same bytes, same entry
    assert [first.headers["x-style-cache"], again.headers["x-style-cache"], as_upload.headers["x-style-cache"]] == ["miss", "hit", "hit"]
    health = client.get("/api/health").json()
    assert (health["cache_hits"], health["cache_misses"], health["cache_size"]) == (2, 1, 1)


def test_recoloured_styles_are_cached_per_photo(client):
    args = dict(style_name=["marc"], preserve_color="color")
    hits = [post(client, [content_file(png(seed=s))], **args).headers["x-style-cache"] for s in (0, 0, 1)]
    assert hits == ["miss", "hit", "miss"]


def test_cache_evicts_the_least_recently_used(make_client):
    client = make_client(cache=1)
    hits = [post(client, [content_file()], style_name=[n]).headers["x-style-cache"] for n in ("marc", "macke", "marc")]
    assert hits == ["miss", "miss", "miss"]


# ---------------------------------------------------------------- limits and bad input


def test_upload_over_the_limit_is_413(make_client):
    client = make_client(max_upload_bytes=4000)
    r = post(client, [content_file(png((200, 200)))], style_name=["marc"])
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]


def test_streamed_upload_over_the_limit_is_413(make_client):
    client = make_client(max_upload_bytes=4000)

    def body():
        yield b"--x\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a.png\"\r\n\r\n"
        for _ in range(10):
            yield b"\0" * 1000

    r = client.post("/api/stylize", content=body(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and "MiB" in r.json()["detail"]


@pytest.mark.parametrize(
    ("overrides", "data", "files", "status", "message"),
    [
        ({"max_styles": 2}, {"style_name": ["marc", "macke", "seurat"]}, [content_file()], 400, "3 styles given, the limit is 2"),
    ],
)
def test_limits(make_client, overrides, data, files, status, message):
    r = post(make_client(**overrides), files, **data)
    assert r.status_code == status
    assert message in r.json()["detail"]


@pytest.mark.parametrize(
    ("data", "files", "status", "message"),
    [
        ({"style_name": ["marc"]}, [content_file(b"not an image", "bad.png")], 400, "content 'bad.png': not an image file"),
        ({"style_name": ["marc"]}, [content_file(b"", "empty.png")], 400, "content 'empty.png': empty file"),
        ({"style_name": ["marc"]}, [content_file(png()[:60], "cut.png")], 400, "content 'cut.png': not an image file (cannot decode it"),
        ({}, [content_file(), ("style", ("s.gif", b"GIF89a...", "image/gif"))], 400, "style 1 's.gif': not an image file"),
        ({"style_name": ["marc"]}, [content_file(), mask_file(torch.ones(8, 40))], 400, "mask 1 'mask.png': 40x8 does not have the content's aspect ratio"),
        ({"style_name": ["marc"]}, [content_file(), ("mask", ("m.png", b"xx", "image/png"))], 400, "mask 1 'm.png': not an image file"),
        ({"style_name": ["marc", "macke"]}, [content_file(), mask_file(torch.ones(40, 48))], 400, "nothing is left for style 1"),
        ({"style_name": ["marc"]}, [content_file(), mask_file(torch.zeros(40, 48))], 400, "mask 1 'mask.png': the mask covers nothing"),
        ({"style_name": ["marc", "macke", "seurat"]}, [content_file(), mask_file(torch.ones(40, 48))], 400, "1 masks given for 3 styles"),
        ({"style_name": ["marc", "macke"], "weight": ["1", "1"]}, [content_file(), mask_file(torch.ones(40, 48))], 400, "weights or masks, not both"),
        ({"style_name": ["marc", "macke"], "weight": ["1"]}, [content_file()], 400, "1 weights given for 2 styles"),
        ({"style_name": ["marc", "macke"], "weight": ["1", "-1"]}, [content_file()], 400, "must be finite and ≥ 0"),
        ({"style_name": ["marc", "macke"], "weight": ["nan", "1"]}, [content_file()], 400, "must be finite and ≥ 0"),
        ({"style_name": ["marc", "macke"], "weight": ["0", "0"]}, [content_file()], 400, "all zero"),
        ({"style_name": ["marc"], "weight": ["x"]}, [content_file()], 422, "weight.0: Input should be a valid number"),
        ({"style_name": ["rembrandt"]}, [content_file()], 400, "unknown bundled style 'rembrandt' (bundled: hokusai, macke, marc, seurat)"),
        ({"style_name": ["marc"], "content_name": "moon"}, [], 400, "unknown bundled content 'moon'"),
        ({"style_name": ["marc"]}, [], 400, "give exactly one content image"),
        ({"style_name": ["marc"], "content_name": "city"}, [content_file()], 400, "give exactly one content image"),
        ({}, [content_file()], 400, "give at least one style"),
        ({"style_name": ["marc"], "alpha": "1.5"}, [content_file()], 422, "alpha: Input should be less than or equal to 1"),
        ({"style_name": ["marc"], "alpha": "much"}, [content_file()], 422, "alpha: Input should be a valid number"),
        ({"style_name": ["marc"], "size": "-1"}, [content_file()], 422, "size: Input should be greater than or equal to 0"),
        ({"style_name": ["marc"], "format": "gif"}, [content_file()], 422, "format: Input should be 'png', 'jpeg' or 'webp'"),
        ({"style_name": ["marc"], "preserve_color": "yes"}, [content_file()], 422, "preserve_color: Input should be"),
        ({"content": "text, not a file", "style_name": ["marc"]}, [], 422, "content:"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, uploads, data, files, status, message):
    r = post(client, files, **data)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert message in r.json()["detail"]
    assert str(uploads) not in r.json()["detail"]  # messages name the upload, not the temp file
    assert list(uploads.iterdir()) == []


def test_json_errors_elsewhere(client):
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert client.get("/api/stylize").status_code == 405


# ---------------------------------------------------------------- queue and temp files


def test_full_queue_is_503_and_temp_files_go_away(make_client, stylizer, uploads, monkeypatch):
    client = make_client(queue=1)
    started, release = threading.Event(), threading.Event()
    seen: list[list[str]] = []
    original = stylizer.stylize_batch

    def blocked(*args, **kwargs):
        seen.append(sorted(p.name for p in uploads.rglob("*") if p.is_file()))
        started.set()
        assert release.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(stylizer, "stylize_batch", blocked)
    first: list = []
    worker = threading.Thread(target=lambda: first.append(post(client, [content_file(), style_file()])))
    worker.start()
    try:
        assert started.wait(30)
        busy = post(client, [content_file()], style_name=["marc"])
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        assert "busy" in busy.json()["detail"]
        assert client.get("/api/health").json()["pending"] == 1
    finally:
        release.set()
        worker.join(30)
    assert first[0].status_code == 200
    assert seen == [["content", "style0"]]  # uploads lived in the temp folder while the job ran ...
    assert list(uploads.iterdir()) == []  # ... and nothing is left after the response
    assert client.get("/api/health").json()["pending"] == 0


# ---------------------------------------------------------------- page, info, schema, CLI


def test_page_and_static_files_are_served_without_external_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and "Stylize" in page.text
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC / name).read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//|url\((https?:)?//|@import|fetch\(\"http", text), name
        if name != "index.html":
            assert client.get(f"/static/{name}").status_code == 200


def test_info_lists_the_bundled_examples(client):
    info = client.get("/api/info").json()
    assert [s["name"] for s in info["styles"]] == ["hokusai", "macke", "marc", "seurat"]
    assert info["limits"]["max_size"] == 256
    for item in info["styles"] + info["contents"]:
        r = client.get(item["url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


def test_openapi_schema_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    op = schema["paths"]["/api/stylize"]["post"]
    form = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    props = schema["components"]["schemas"][form["$ref"].split("/")[-1]]["properties"]
    assert {"content", "content_name", "style", "style_name", "weight", "mask", "alpha", "preserve_color", "size", "format"} <= set(props)
    assert set(op["responses"]) >= {"200", "400", "413", "422", "503"}
    assert "image/png" in op["responses"]["200"]["content"]
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN


def test_cli_serve_help_and_bad_limits(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "curl -F content=@photo.jpg" in capsys.readouterr().out
    assert main(["serve", "--queue", "0"]) == 2
    assert "adain serve: error: queue must be at least 1, got 0" in capsys.readouterr().err


# ---------------------------------------------------------------- fuzzing


def test_fuzz_the_api_from_its_schema(make_client, uploads):
    """Schema-driven requests, valid and invalid by the schema: never a 5xx, always a documented answer."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import positive_data_acceptance

    schema = schemathesis.openapi.from_asgi("/openapi.json", make_client().app)
    operations = [result.ok() for result in schema.get_all_operations()]
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    statuses: set[int] = set()

    @given(case=st.one_of([op.as_strategy(generation_mode=mode) for op in operations for mode in modes]))
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def fuzz(case) -> None:
        # schema-valid requests may still be refused: the schema cannot say "one content" or "a decodable image"
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        statuses.add(response.status_code)

    fuzz()
    assert {200, 400, 422} <= statuses
    assert list(uploads.iterdir()) == []


@pytest.mark.parametrize("method", ["wct", "efdm"])
def test_method_gives_the_python_api_result_and_is_cached_per_method(client, stylizer, method):
    assert post(client, [content_file(), style_file()]).headers["x-style-cache"] == "miss"  # encoded for adain
    r = post(client, [content_file(), style_file()], method=method, alpha="0.8")
    assert_close_to_api(r, expected(stylizer, png(), [png((40, 48), seed=1)], method=method, alpha=0.8))
    assert r.headers["x-style-cache"] == "miss"  # statistics of another method are not reused
    assert post(client, [content_file(), style_file()], method=method).headers["x-style-cache"] == "hit"


def test_bad_method_and_flat_style_are_clear_4xx(client):
    r = post(client, [content_file()], style_name=["marc"], method="gatys")
    assert r.status_code == 422 and "method: Input should be 'adain', 'wct' or 'efdm'" in r.json()["detail"]
    flat_png = io.BytesIO()
    Image.new("RGB", (40, 48), (200, 30, 30)).save(flat_png, "PNG")
    r = post(client, [content_file(), ("style", ("red.png", flat_png.getvalue(), "image/png"))], method="wct")
    assert r.status_code == 400 and "style 1 'red.png': the style is a flat image" in r.json()["detail"], r.text


def test_texture_gives_the_python_api_result(client, stylizer):
    from adain.texture import synthesize_texture

    hokusai = resize_shorter(to_tensor((EXAMPLES / "style" / "hokusai.jpg").read_bytes()), TINY.style_size)
    r = client.post("/api/texture", data={"style_name": "hokusai", "width": "40", "height": "24", "seed": "3", "method": "efdm"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'inline; filename="adain-texture-3.png"'
    assert_close_to_api(r, synthesize_texture(stylizer, hokusai, 24, 40, method="efdm", seed=3))
    up = client.post("/api/texture", data={"width": "32", "height": "32", "tileable": "true", "refine": "1", "format": "jpeg"},
                     files=[style_file()])
    assert up.status_code == 200 and up.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(up.content)).size == (32, 32)


@pytest.mark.parametrize(
    ("data", "files", "status", "message"),
    [
        ({}, [], 400, "give exactly one style image"),
        ({"style_name": "marc", "width": "41", "tileable": "true"}, [], 400, "multiples of 8, got 41x32 (try 48x32)"),
        ({"style_name": "marc", "width": "300"}, [], 422, "width: Input should be less than or equal to 256"),
        ({"style_name": "marc", "refine": "21"}, [], 422, "refine: Input should be less than or equal to 20"),
        ({"style_name": "marc", "seed": str(2**64)}, [], 422, "seed: Input should be less than or equal to 18446744073709551615"),
        ({"style_name": "marc", "method": "gatys"}, [], 422, "method: Input should be"),
        ({"style_name": "rembrandt"}, [], 400, "unknown bundled style 'rembrandt'"),
        ({}, [("style", ("s.gif", b"GIF89a...", "image/gif"))], 400, "style 1 's.gif': not an image file"),
    ],
)
def test_texture_bad_input_is_a_clear_4xx(client, uploads, data, files, status, message):
    r = client.post("/api/texture", data={"width": "32", "height": "32", **data}, files=files)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert list(uploads.iterdir()) == []


@pytest.mark.parametrize("method", ["adain", "wct", "efdm"])
def test_the_record_names_the_method_that_ran(client, method):
    from adain.io.provenance import read_record

    r = post(client, [content_file(), style_file()], method=method)
    assert r.status_code == 200, r.text
    assert read_record(Image.open(io.BytesIO(r.content)))["method"] == method
