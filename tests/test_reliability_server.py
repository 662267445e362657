"""The HTTP API under hostile uploads and connections: a closed list of formats, bounded connections and
time, a bounded log (sizes refused from the headers before any decoding: tests/test_limits.py)."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from PIL import Image

from helpers import ico_holding, png_zeros

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from adain.apps.server import Limits, create_app  # noqa: E402
from adain.decoder import Decoder  # noqa: E402
from adain.stylizer import Stylizer  # noqa: E402

TINY = Limits(style_size=32, max_size=256, max_output_pixels=100_000)


@pytest.fixture(scope="module")
def client(tiny_encoder, tmp_path_factory):
    torch.manual_seed(0)
    stylizer = Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu")
    with TestClient(create_app(stylizer, limits=TINY, temp_dir=tmp_path_factory.mktemp("uploads"))) as c:
        yield c


def photo(size: tuple[int, int] = (48, 40), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, fmt)
    return buffer.getvalue()


def post(client, content: bytes, style: bytes, **data):
    files = [("content", ("c.png", content, "image/png")), ("style", ("s.png", style, "image/png"))]
    return client.post("/api/stylize", data={"size": "64", **data}, files=files)


@pytest.mark.parametrize("make", [
    lambda: ico_holding(png_zeros((2000, 2000))),
    lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 40 32\nshowpage\n",
    lambda: photo(fmt="PPM"),
    lambda: b"DDS " + bytes(124) + b"\x00" * 64,
])
def test_other_formats_are_refused(client, make):
    for content, style in ((make(), photo()), (photo(), make())):
        r = post(client, content, style)
        assert r.status_code == 400, r.text
        assert "not an image file" in r.json()["detail"]


# ---------------------------------------------------------------- connections (a real server in a subprocess)

SERVER = textwrap.dedent(
    """
    import resource, sys, torch
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
    from adain.apps.server import Limits, create_app, run_server
    from adain.decoder import Decoder
    from adain.encoder import Encoder
    from adain.stylizer import Stylizer
    stylizer = Stylizer(Decoder(width=0.0625), encoder=Encoder(weights="random"), device="cpu")
    limits = Limits(style_size=32, request_timeout=1.0)
    run_server(create_app(stylizer, limits=limits), "127.0.0.1", int(sys.argv[1]), limits)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(100)
    return int(data.split()[1]) if data.startswith(b"HTTP/") else 0


@pytest.fixture
def server(tmp_path):
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if health(port) == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail((tmp_path / "server.log").read_text())
    yield port, tmp_path / "server.log"
    proc.terminate()
    proc.wait(10)
    log.close()


def test_idle_and_slow_connections_are_bounded(server):
    """200 idle sockets against a server with 128 file handles, and a client trickling its headers:
    the server stays up and answers during the attack, drops them within its request timeout, and logs little."""
    port, log = server
    idle = []
    for _ in range(200):
        try:
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    slow = socket.create_connection(("127.0.0.1", port), timeout=5)
    slow.sendall(b"GET /api/health HTTP/1.1\r\n")
    assert health(port) == 200  # answered during the attack: a waiting connection made room
    time.sleep(2.5)
    try:
        slow.sendall(b"X-Slow: 1\r\n")
        assert slow.recv(100) == b""  # closed by the server
    except OSError:
        pass
    closed = 0
    for s in idle:
        s.settimeout(0.5)
        try:
            closed += s.recv(10) == b""
        except OSError:
            closed += 1
        s.close()
    assert closed == len(idle)
    assert health(port) == 200
    assert log.stat().st_size < 20_000, log.read_text()[-2000:]
