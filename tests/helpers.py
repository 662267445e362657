"""Helpers shared by the tests (not a test module): image and bad-file makers, the tiny-net recipe, a live server.

Test modules import from here, never from each other; fixtures built on these live in conftest.py.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from adain.cli import main
from adain.io import photo, profiles


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


def png_bytes(array: np.ndarray, *, size: tuple[int, int] | None = None) -> bytes:
    """A PNG written by hand: 8/16-bit grey or RGB from ``array`` ``(H, W[, 3])``.

    ``size`` (W, H) overrides the header's size (a decompression bomb claims a
    huge size with a tiny body). Pillow cannot write 16-bit RGB, hence this.
    """
    h, w = array.shape[:2]
    depth = 16 if array.dtype == np.uint16 else 8
    color_type = 2 if array.ndim == 3 else 0
    w, h = size or (w, h)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + row.astype(">u2" if depth == 16 else "u1").tobytes() for row in array)
    header = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def truncated_jpeg(path: Path) -> Path:
    write_image(path.with_suffix(".full.jpg"), (64, 48))
    data = path.with_suffix(".full.jpg").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def bomb_png(path: Path) -> Path:
    """A PNG whose header claims 30000x30000 pixels."""
    path.write_bytes(png_bytes(np.zeros((4, 4), np.uint8), size=(30000, 30000)))
    return path


def exif_rotated_jpeg(path: Path, size: tuple[int, int] = (48, 32)) -> tuple[Path, np.ndarray]:
    """A JPEG stored ``size`` (W, H) with EXIF orientation 6 (display rotated 90° clockwise); returns the stored pixels."""
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[:, : size[0] // 2] = (250, 10, 10)  # left half red
    arr[:, size[0] // 2 :] = (10, 10, 250)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(arr).save(path, exif=exif.tobytes(), quality=95)
    return path, arr


BAD_FILES = {
    "empty": (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
    "truncated": (truncated_jpeg, "cannot decode"),
    "text": (lambda p: (p.write_text("hello, I am not a picture\n"), p)[1], "not an image"),
    "missing": (lambda p: p, "no such file"),
}
"""Files no image reader takes, and the message that says why (those too small or too large: tests/test_limits.py)."""


def style_file_bytes(seed: int = 0, *, dtype: torch.dtype = torch.float32, **metadata: str) -> bytes:
    """A style file's bytes (random statistics of every tap, ``dtype``), its metadata overridden by ``metadata``."""
    import json

    from safetensors.torch import save

    from adain.io.stylefile import CHANNELS, FORMAT

    gen = torch.Generator().manual_seed(seed)
    tensors = {f"{tap}.{kind}": (torch.rand(c, generator=gen) + 0.1).to(dtype) for tap, c in CHANNELS.items() for kind in ("mean", "std")}
    meta = {"format": FORMAT, "encoder": "vgg19-relu4_1:random", "style_size": "0",
            "sources": json.dumps([{"name": f"painting{seed}.jpg", "sha256": "0" * 64, "weight": 1.0}]), **metadata}
    return save(tensors, metadata=meta)


RATE = Fraction(12)  # frames per second of make_video


def make_video(path: Path, *, frames: int = 6, size: tuple[int, int] = (48, 32), audio: bool = True, rotation: int = 0,
               codec: str = "libx264") -> Path:
    """A moving gradient ``size`` (W, H) at 12 fps, optionally with a 440 Hz tone (AAC) and a display rotation."""
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=RATE)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=8000) if audio else None
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(frames):
            rgb = np.stack([(xx * 5 + i * 20) % 256, (yy * 7) % 256, np.full_like(xx, 40 * i % 256)], -1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            t = np.arange(8000 * frames // 12) / 8000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, len(samples) - 1023, 1024):
                af = av.AudioFrame.from_ndarray(samples[None, k : k + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 8000, k
                for packet in sound.encode(af):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path


class Recorder:
    """ASGI wrapper that keeps the body of each ``POST /api/stylize`` and ``/api/texture`` (the browser does not expose multipart bodies)."""

    def __init__(self, app) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in ("/api/stylize", "/api/texture"):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        self.bodies.append(b"".join(chunks))
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": self.bodies[-1], "more_body": False}

        await self.app(scope, replay, send)


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free localhost port in a thread; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# ---------------------------------------------------------------- the command line (adain stylize)


def run(args: list, capsys) -> tuple[int, str, str]:
    """``adain stylize ARGS`` (styles at their own size unless told: the default 512 px is slow on CPU)."""
    args = [*map(str, args)]
    code = main(["stylize", *args, *([] if "--style-size" in args else ["--style-size", "0"])])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_bad_input(code: int, err: str, output: Path, *names: object) -> None:
    """Exit 2, one line on stderr naming ``names``, no output and no temp file."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("adain stylize: error: "), err
    assert "Traceback" not in err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    assert not output.exists()
    assert not output.parent.exists() or not any(output.parent.iterdir())


# ---------------------------------------------------------------- photos: profiles, HEIC, EXIF

P3 = profiles.rgb_profile("Display P3", profiles.P3_PRIMARIES)
GRAY = profiles.gray_profile("Gray Gamma 2.2", 2.2)


def heic_bytes(img: Image.Image, **kwargs) -> bytes:
    pytest.importorskip("pillow_heif")
    photo.register_heif()
    buf = io.BytesIO()
    img.save(buf, format="HEIF", quality=95, **kwargs)
    return buf.getvalue()


def camera_photo(maker_note: int = 0) -> Image.Image:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[photo.ORIENTATION] = "Canon", "EOS R5", 6
    exif.get_ifd(photo.EXIF_IFD)[0x9003] = "2024:05:06 07:08:09"
    exif.get_ifd(photo.EXIF_IFD)[0xA002] = 6000
    if maker_note:
        exif.get_ifd(photo.EXIF_IFD)[photo.MAKER_NOTE] = b"m" * maker_note
    exif.get_ifd(photo.GPS_IFD)[2] = (48.0, 51.0, 24.0)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", exif=exif.tobytes())
    return Image.open(io.BytesIO(buf.getvalue()))


# ---------------------------------------------------------------- hostile files


def encoded(fmt: str, size: tuple[int, int] = (40, 32), mode: str = "RGB") -> bytes:
    """A one-colour image of ``size`` (W, H) in Pillow's format ``fmt``."""
    buffer = io.BytesIO()
    Image.new(mode, size, "red" if mode == "RGB" else 200).save(buffer, fmt)
    return buffer.getvalue()


def png_claiming(size: tuple[int, int], body: bytes = b"\x00" * 64) -> bytes:
    """A PNG whose header claims ``size`` (W, H) over a body far too short for it (a corrupt file or a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", *size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


def png_zeros(size: tuple[int, int]) -> bytes:
    """A valid all-black RGB PNG of ``size`` (W, H), a few KB however large (rows compress to almost nothing)."""
    w, h = size
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * w)
    data = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def ico_holding(png: bytes) -> bytes:
    """An .ico file whose one entry is ``png`` (Pillow's ICO plugin decodes it when the file is opened)."""
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22) + png


def segment(path: Path, size: tuple[int, int], frames: int, start: int = 0) -> bytes:
    """An MPEG-TS segment of ``frames`` grey frames of ``size`` (W, H); TS segments concatenate into one stream."""
    import av

    w, h = size
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("mpeg2video", rate=12)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 20 * i % 256, np.uint8), format="rgb24")
            frame.pts = start + i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


def short_clip(folder: Path, size: tuple[int, int] = (48, 32)) -> bytes:
    """8 frames of ``size`` (W, H) in two segments (FFmpeg needs a little data to find the stream)."""
    return segment(folder / "a.ts", size, 4) + segment(folder / "b.ts", size, 4, start=4)


def read_frames(path: Path) -> tuple[list, int]:
    """The decoded video frames of ``path`` and how many audio streams it has."""
    import av

    with av.open(str(path)) as c:
        frames = list(c.decode(c.streams.video[0]))
        return frames, len(c.streams.audio)
