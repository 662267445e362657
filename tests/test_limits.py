"""The size limits of pictures (:mod:`adain.limits`) at every entry point: the smallest side, the pixels as stored,
the pixels after resizing and the memory, each refused in one line before anything is decoded or allocated, by the
command line (``stylize``, ``texture``, ``video``, ``stylize-dataset``, ``info``), the Python API (both models) and
the HTTP API."""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import adain.limits
from adain.cli import main
from adain.errors import AdainError, InputError
from adain.io.images import EXAMPLES, image_size, load_image
from adain.limits import MAX_STORED_PIXELS, MAX_TEXTURE_PIXELS, MEMORY_SHARE, MIN_SIDE
from helpers import assert_bad_input, bomb_png, encoded, png_bytes, png_claiming, png_zeros, run, short_clip, write_image

pytestmark = pytest.mark.usefixtures("one_thread")
HOKUSAI = EXAMPLES / "style" / "hokusai.jpg"


def photo(size: tuple[int, int] = (48, 40), seed: int = 0) -> bytes:
    """A PNG of random pixels, ``size`` (W, H)."""
    return png_bytes(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@dataclass
class Call:
    """Calls an entry point as its users do and returns its refusal, checked to be one line: exit status 2 and one
    ``adain COMMAND: error: …`` line on stderr; an :class:`AdainError`'s message; an HTTP status and its JSON detail."""

    request: pytest.FixtureRequest
    tmp_path: Path
    capsys: pytest.CaptureFixture[str]
    err: str = ""

    def fixture(self, name: str):
        return self.request.getfixturevalue(name)

    def cli(self, *args: object) -> str:
        code = main([*map(str, args)])
        self.err = self.capsys.readouterr().err
        lines = [line for line in self.err.strip().splitlines() if line.strip()]
        assert code == 2, self.err
        assert len(lines) == 1 and lines[0].startswith(f"adain {args[0]}: error: ") and "Traceback" not in self.err, self.err
        return lines[0]

    def stylize(self, *args: object, names: tuple[object, ...] = ()) -> str:
        """``adain stylize`` (styles at their own size unless told) refusing to write its output ``-o``."""
        out = Path(args[list(args).index("-o") + 1])
        code, _, err = run(list(args), self.capsys)
        assert_bad_input(code, err, out, *names)
        return err.strip()

    def python(self, call: Callable[..., object], *args: object, **kwargs: object) -> str:
        with pytest.raises(AdainError) as info:
            call(*args, **kwargs)
        assert "\n" not in str(info.value)
        return str(info.value)

    def http(self, status: int, files: list, limits: dict | None = None, **data: str) -> str:
        """``POST /api/stylize`` (32 px unless told) to a server with these ``limits``; no temp file left."""
        client = self.fixture("make_client")(**(limits or {}))
        r = client.post("/api/stylize", data={"size": "32", **data}, files=files)
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/json"
        detail = r.json()["detail"]
        uploads = self.fixture("uploads")
        assert str(uploads) not in detail and list(uploads.iterdir()) == []  # messages name the upload, not the temp file
        return detail


@pytest.fixture
def call(request, tmp_path, capsys) -> Call:
    return Call(request, tmp_path, capsys)


def upload(field: str, name: str, data: bytes) -> tuple:
    return (field, (name, data, "image/png"))


# ---------------------------------------------------------------- one home, one name, one meaning


def test_every_limit_has_one_home():
    """The modules that check a limit read it from :mod:`adain.limits`; the server's defaults are its own values there."""
    import adain.apps.dataset
    import adain.apps.files
    import adain.device
    import adain.geometry
    import adain.io.images
    import adain.lite.runtime
    import adain.texture
    from adain.apps.server import Limits

    for module in (adain.geometry, adain.io.images, adain.lite.runtime, adain.apps.dataset, adain.apps.files):
        assert module.MIN_SIDE is adain.limits.MIN_SIDE, module.__name__
    assert adain.device.MEMORY_SHARE is adain.limits.MEMORY_SHARE
    assert adain.apps.files.StylizeOptions().stored_limit == adain.limits.MAX_STORED_PIXELS
    assert adain.texture.check_texture_size.__kwdefaults__ == {"min_side": MIN_SIDE, "max_pixels": MAX_TEXTURE_PIXELS}
    defaults = {f.name: f.default for f in fields(Limits)}
    assert {name: defaults[name] for name in ("max_pixels", "max_size", "max_output_pixels", "max_refine_pixels")} == {
        "max_pixels": adain.limits.SERVER_MAX_STORED_PIXELS, "max_size": adain.limits.SERVER_MAX_SIZE,
        "max_output_pixels": adain.limits.SERVER_MAX_OUTPUT_PIXELS, "max_refine_pixels": adain.limits.SERVER_MAX_REFINE_PIXELS}


def test_the_limits_need_only_the_standard_library():
    """The lite model's torch-free path reads them: ``adain.limits`` imports nothing else, and says what each bounds."""
    tree = ast.parse(Path(adain.limits.__file__).read_text())
    imported = {n.module or "" if isinstance(n, ast.ImportFrom) else a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
                for a in n.names}
    assert {name.split(".")[0] for name in imported} <= set(sys.stdlib_module_names) | {"__future__"}
    documented = {node.targets[0].id: doc.value.value for node, doc in zip(tree.body, tree.body[1:], strict=False)
                  if isinstance(node, ast.Assign) and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)}
    limits = [name for name in vars(adain.limits) if name.isupper()]
    assert limits and all(documented[name].startswith(("As stored: ", "After resizing: ", "Memory: ")) for name in limits)


# ---------------------------------------------------------------- the smallest side (MIN_SIDE)


def tiny_by_load_image(call: Call) -> str:
    path = write_image(call.tmp_path / "tiny.jpg", (10, 10))
    message = call.python(load_image, path)
    assert str(path) in message
    return message


def tiny_content(call: Call, role: str = "content") -> str:
    pair = call.fixture("pair")
    bad = write_image(call.tmp_path / "tiny.png", (10, 10))
    args = {"content": pair["content"], "style": pair["a"], role: bad}
    return call.stylize("-c", args["content"], "-s", args["style"], "-o", pair["out"], names=(bad,))


def tiny_lite_content(call: Call) -> str:
    from adain.apps.lite import LiteOptions, load_content

    return call.python(load_content, write_image(call.tmp_path / "tiny.png", (10, 10)), LiteOptions())


def thin_video(call: Call, size: tuple[int, int] = (2000, 2), *extra: str) -> str:
    clip, out = call.tmp_path / "thin.ts", call.tmp_path / "out.mp4"
    clip.write_bytes(short_clip(call.tmp_path, size))
    line = call.cli("video", clip, out, "-s", HOKUSAI, "--decoder", call.fixture("fast_models"), "--style-size", "32", *extra)
    assert str(clip) in line
    assert "frame/s" not in call.err and "\r" not in call.err and not out.exists()  # refused before the progress bar
    return line


def texture_of(size: str) -> Callable[[Call], str]:
    """``adain texture --size SIZE``, which must be refused in one line, nothing written."""

    def run(call: Call) -> str:
        out = call.tmp_path / "t.png"
        line = call.cli("texture", "-s", call.fixture("pair")["a"], "-o", out, "--size", size)
        assert not out.exists()
        return line

    return run


@pytest.mark.parametrize(("entry", "message"), [
    pytest.param(tiny_by_load_image, "too small", id="python-load_image"),
    pytest.param(tiny_content, "too small", id="stylize-content"),
    pytest.param(lambda call: tiny_content(call, "style"), "too small", id="stylize-style"),
    pytest.param(tiny_lite_content, "10x10 is too small (each side must be at least 16 px)", id="python-lite"),
    pytest.param(lambda call: call.http(400, [upload("content", "tiny.png", photo((8, 8)))], style_name="marc"),
                 "content 'tiny.png': 8x8 is too small", id="server-content"),
    pytest.param(lambda call: call.http(400, [upload("content", "photo.png", photo())], style_name="marc", size="8"),
                 "size must be 0 (keep) or at least 16", id="server-size"),
    pytest.param(texture_of("8x24"), "each side must be at least 16", id="texture"),
    pytest.param(thin_video, "frames of 2000x2: each side must be at least 16 px", id="video-frames"),
    pytest.param(lambda call: thin_video(call, (48, 32), "--size", "8"), "frames of 48x32 (12x8 at --size 8): each side", id="video-size"),
])
def test_a_side_under_the_smallest_is_refused(call, entry, message):
    assert message in entry(call)


def test_texture_sizes_get_one_line_errors():
    from adain.texture import check_texture_size

    check_texture_size(24, 40, tileable=True)
    check_texture_size(25, 41, tileable=False)
    check_texture_size(4000, 4000, tileable=True)
    with pytest.raises(ValueError, match=r"multiples of 8, got 41x25 \(try 48x32\)"):
        check_texture_size(25, 41, tileable=True)
    with pytest.raises(ValueError, match="at least 16"):
        check_texture_size(8, 40, tileable=False)
    with pytest.raises(ValueError, match=f"4008x4000 = 16032000 pixels is over the limit of {MAX_TEXTURE_PIXELS}"):
        check_texture_size(4000, 4008, tileable=True)


# ---------------------------------------------------------------- pixels as stored


def bomb_by_load_image(call: Call) -> str:
    path = bomb_png(call.tmp_path / "bomb.png")
    message = call.python(load_image, path)
    assert str(path) in message
    return message


def bomb_content(call: Call, role: str = "content") -> str:
    pair = call.fixture("pair")
    bad = bomb_png(call.tmp_path / "bomb.png")
    args = {"content": pair["content"], "style": pair["a"], role: bad}
    return call.stylize("-c", args["content"], "-s", args["style"], "-o", pair["out"], names=(bad,))


def bomb_lite_content(call: Call) -> str:
    from adain.apps.lite import LiteOptions, load_content

    return call.python(load_content, bomb_png(call.tmp_path / "bomb.png"), LiteOptions())


@pytest.mark.parametrize(("entry", "message"), [
    pytest.param(bomb_by_load_image, "over the limit", id="python-load_image"),
    pytest.param(bomb_content, "over the limit", id="stylize-content"),
    pytest.param(lambda call: bomb_content(call, "style"), "over the limit", id="stylize-style"),
    pytest.param(bomb_lite_content, f"over the limit of {MAX_STORED_PIXELS} pixels (--max-pixels)", id="python-lite"),
    pytest.param(lambda call: call.http(400, [upload("content", "photo.png", photo())], {"max_pixels": 1000}, style_name="marc"),
                 "photo.png': 48x40 = 1920 pixels is over the limit of 1000", id="server"),
])
def test_over_the_limit_as_stored_is_refused_from_the_header(call, entry, message):
    assert message in entry(call)


def test_max_pixels_is_enforced(tmp_path):
    path = write_image(tmp_path / "a.png", (100, 50))
    assert load_image(path, max_pixels=5000).shape == (3, 50, 100)
    with pytest.raises(InputError, match=r"100x50 = 5000 pixels is over the limit of 4999"):
        load_image(path, max_pixels=4999)
    with pytest.raises(InputError, match="over the limit"):  # Pillow's own bomb check (over twice the limit)
        load_image(path, max_pixels=1000)


def test_over_max_pixels(pair, capsys):
    """``--max-pixels`` bounds the pictures as stored and, when given, after resizing too."""
    code, _, err = run(["-c", pair["content"], "-s", pair["a"], "-o", pair["out"], "--max-pixels", "1000"], capsys)
    assert_bad_input(code, err, pair["out"], pair["content"], "45x37", "--max-pixels")
    code, _, err = run(["-c", pair["content"], "-s", pair["a"], "-o", pair["out"], "--max-pixels", "5000", "--content-size", "400"], capsys)
    assert_bad_input(code, err, pair["out"], pair["content"], "after resizing")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_image_size_decodes_nothing(tmp_path, monkeypatch, fmt):
    """The size check reads the header only (Pillow decodes a whole PNG to look for its EXIF)."""
    path = tmp_path / f"a.{fmt.lower()}"
    path.write_bytes(png_zeros((2000, 1500)) if fmt == "PNG" else encoded(fmt, (2000, 1500)))
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size))
    assert image_size(path) == (2000, 1500) and not decoded


def test_pillow_bomb_guard_stays_on_while_opening(tmp_path, monkeypatch):
    seen = []
    real_open = Image.open

    def spy(*args, **kwargs):
        seen.append(Image.MAX_IMAGE_PIXELS)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Image, "open", spy)
    load_image(write_image(tmp_path / "a.png"))
    assert seen and all(limit is not None for limit in seen)


def test_info_on_a_heic_claiming_a_huge_size_is_one_line(tmp_path, call):
    pytest.importorskip("pillow_heif")
    import io
    import struct

    from adain.io.photo import register_heif

    register_heif()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format="HEIF", quality=90)
    data = bytearray(buffer.getvalue())
    at = data.find(b"ispe")
    while at >= 0:  # the image's spatial extent: claim 60000x60000
        data[at + 8 : at + 16] = struct.pack(">II", 60000, 60000)
        at = data.find(b"ispe", at + 4)
    path = tmp_path / "big.heic"
    path.write_bytes(data)
    line = call.cli("info", path)
    assert str(path) in line and "decompression bomb" in line
    line = call.cli("stylize", "-c", path, "-s", path, "-o", tmp_path / "o.png")
    assert str(path) in line and "decompression bomb" in line


# ---------------------------------------------------------------- pixels after resizing


def wide(call: Call) -> Path:
    """A corrupt PNG whose header claims 3000x16: 96000x512 at a shorter side of 512."""
    path = call.tmp_path / "wide.png"
    path.write_bytes(png_claiming((3000, 16)))
    return path


def upscaled_content(call: Call) -> str:
    """``--content-size 100000`` on a 45x37 photo plans 121622x100000: refused from the planned size."""
    pair = call.fixture("pair")
    return call.stylize("-c", pair["content"], "-s", pair["a"], "-o", pair["out"], "--content-size", "100000", "--max-pixels", "10000000",
                        names=(pair["content"],))


def wide_content(call: Call) -> str:
    """The resize a corrupt PNG asks for is refused before a byte of it is decoded (styles are only ever shrunk)."""
    pair = call.fixture("pair")
    path = wide(call)
    line = call.stylize("-c", path, "-s", pair["a"], "-o", pair["out"], "--content-size", "512", "--style-size", "512", "--max-pixels", "1000000",
                        names=(path,))
    assert "cannot decode" not in line  # the planned size, not a decoder error
    return line


def wide_by_python(call: Call) -> str:
    from adain.apps.files import StylizeOptions, load_content

    return call.python(load_content, wide(call), StylizeOptions(content_size=512, max_pixels=1_000_000))


def wide_by_python_lite(call: Call) -> str:
    from adain.apps.lite import LiteOptions, load_content

    return call.python(load_content, wide(call), LiteOptions(content_size=512, max_pixels=1_000_000))


def wide_in_a_dataset(call: Call) -> str:
    """A data set skips the file with a warning, and ends with exit status 2."""
    call.fixture("monkeypatch").setattr("adain.device.available_memory", lambda: 4 * 2**30)
    (call.tmp_path / "src").mkdir()
    wide(call).rename(call.tmp_path / "src" / "wide.png")
    write_image(call.tmp_path / "styles" / "s.png", (32, 32))
    code = main(["stylize-dataset", str(call.tmp_path / "src"), str(call.tmp_path / "styles"), str(call.tmp_path / "out"), "--size", "512",
                 "--style-size", "32", "--decoder", str(call.fixture("fast_models"))])
    err = call.capsys.readouterr().err
    assert code == 2, err
    return err




def pair_upload(content: bytes, style: bytes) -> list:
    return [upload("content", "c.png", content), upload("style", "s.png", style)]


def tall_upload(call: Call) -> str:
    """16x4000 at size 64 would be 64x16000: a 400 from the header's size, before decoding (the body is corrupt)."""
    detail = call.http(400, pair_upload(png_claiming((16, 4000)), photo()), {"max_output_pixels": 100_000}, size="64")
    assert "not an image" not in detail
    return detail


def refined_upload(call: Call) -> str:
    files = pair_upload(photo(), photo((40, 48), seed=1))
    detail = call.http(400, files, {"max_refine_pixels": 500}, refine="2")
    assert call.fixture("make_client")(max_refine_pixels=500).post("/api/stylize", data={"size": "32"}, files=files).status_code == 200
    return detail


@pytest.mark.parametrize(("entry", "message"), [
    pytest.param(upscaled_content, "--max-pixels", id="stylize-content-size"),
    pytest.param(wide_content, "96000x512", id="stylize-header"),
    pytest.param(wide_by_python, "96000x512", id="python"),
    pytest.param(wide_by_python_lite, "96000x512 after resizing = 49152000 pixels is over the limit of 1000000", id="python-lite"),
    pytest.param(wide_in_a_dataset, "96000x512", id="stylize-dataset"),
    pytest.param(texture_of("40000x40000"), "over the limit", id="texture"),
    pytest.param(tall_upload, "64x16000", id="server-content"),
    pytest.param(lambda call: call.http(400, pair_upload(photo(), png_zeros((4000, 16))), {"max_output_pixels": 100_000}, size="64"),
                 "style 1 's.png': resized to 32 px would be 8000x32", id="server-style"),
    pytest.param(lambda call: call.http(400, pair_upload(photo(), png_claiming((42544, 32))), {"max_output_pixels": 100_000}, size="64"),
                 "42544x32", id="server-style-header"),
    pytest.param(lambda call: call.http(400, [upload("content", "photo.png", photo())], {"max_output_pixels": 500}, style_name="marc"),
                 "the output would be 38x32 = 1216 pixels", id="server-output"),
    pytest.param(lambda call: call.http(422, [upload("content", "photo.png", photo())], style_name="marc", size="300"),
                 "size: Input should be less than or equal to 256", id="server-size"),
    pytest.param(refined_upload, "over this server's limit of 500 pixels", id="server-refine"),
])
def test_over_the_limit_after_resizing_is_refused_before_anything_is_decoded(call, entry, message):
    assert message in entry(call)


# ---------------------------------------------------------------- memory


def big_content(call: Call) -> str:
    """With 4 GB free, a 3000x3000 photo (about 7 GB to stylize untiled) is refused with one line, before decoding;
    tiled, the same photo fits the same memory: it gets past the limit to the decoder."""
    call.fixture("monkeypatch").setattr("adain.device.available_memory", lambda: 4 * 2**30)
    pair, big = call.fixture("pair"), call.tmp_path / "big.png"
    big.write_bytes(png_claiming((3000, 3000)))
    line = call.stylize("-c", big, "-s", pair["a"], "-o", pair["out"], "--tile", "0", names=(big,))
    assert "cannot decode" not in line
    assert "not an image file" in call.stylize("-c", big, "-s", pair["a"], "-o", pair["out"], "--tile", "auto", names=(big,))
    return line


def big_lite_content(call: Call) -> str:
    from adain.apps.lite import LiteOptions, load_content

    call.fixture("monkeypatch").setattr("adain.apps.lite.available_memory", lambda: 4 * 2**30)
    big = call.tmp_path / "big.png"
    big.write_bytes(png_claiming((3000, 3000)))
    message = call.python(load_content, big, LiteOptions())
    assert "with the lite model" in message
    assert "not an image file" in call.python(load_content, big, LiteOptions(max_pixels=10_000_000))  # a pixel limit instead
    return message


def big_frames(call: Call) -> str:
    call.fixture("monkeypatch").setattr("adain.device.available_memory", lambda: 2**20)
    clip = call.tmp_path / "clip.ts"
    clip.write_bytes(short_clip(call.tmp_path))
    line = call.cli("video", clip, call.tmp_path / "out.mp4", "-s", HOKUSAI, "--decoder", call.fixture("fast_models"), "--style-size", "32")
    assert str(clip) in line
    return line


@pytest.mark.parametrize(("entry", "message"), [
    pytest.param(big_content, f"3000x3000 needs about 7.1 GB of memory to stylize in one piece, more than the {4 * MEMORY_SHARE:.1f} GB available",
                 id="stylize"),
    pytest.param(big_lite_content, f"3000x3000 needs about 5.0 GB of memory to stylize with the lite model, more than the {4 * MEMORY_SHARE:.1f} GB",
                 id="python-lite"),
    pytest.param(big_frames, "memory", id="video"),
])
def test_over_the_memory_budget_is_refused_before_anything_is_decoded(call, entry, message):
    assert message in entry(call)


def test_memory_check_counts_the_refinement(monkeypatch):
    from adain.apps import plan
    from adain.refine import refine_memory
    from adain.tiling import stylize_memory

    need = stylize_memory(400, 600)
    monkeypatch.setattr(plan, "memory_budget", lambda: need + refine_memory(400, 600) // 2)
    plan.check_memory("c.png", 400, 600)
    with pytest.raises(InputError, match="to stylize and refine") as err:
        plan.check_memory("c.png", 400, 600, refine=5)
    assert str(err.value).startswith("c.png: 600x400 needs about") and "\n" not in str(err.value)


def test_memory_check_counts_the_frames_the_flow_strategy_keeps(monkeypatch):
    import adain.apps.video as video
    from adain.apps.video_io import VideoInfo
    from adain.tiling import stylize_memory

    info = VideoInfo(1280, 720, Fraction(24), 10, 0, "h264", None)
    monkeypatch.setattr(video, "memory_budget", lambda: stylize_memory(720, 1280) + 3 * 720 * 1280)
    video.check_frames(Path("in.mp4"), info, size=0, batch=1, temporal="blend")
    with pytest.raises(InputError, match="in.mp4: 1280x720 frames"):
        video.check_frames(Path("in.mp4"), info, size=0, batch=1, temporal="flow")
