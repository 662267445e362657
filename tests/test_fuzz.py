"""Seeded, bounded fuzzing of the image readers and the HTTP API: small images of every accepted format,
mutated (bytes flipped, cut, repeated, size fields enlarged); the only allowed failure is adain's InputError."""

from __future__ import annotations

import io
import random
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adain.io import ACCEPTED_FORMATS, InputError, load_image, load_mask

MAX_PIXELS = 1_000_000
CASES = 300


def seeds(fmt: str) -> list[bytes]:
    """Small valid files of ``fmt``: RGB, grey, with alpha or a palette where the format has them."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8), "RGB")
    out = []
    for img in (rgb, rgb.convert("L"), rgb.convert("RGBA"), rgb.convert("P")):
        buffer = io.BytesIO()
        try:
            img.save(buffer, fmt)
        except (OSError, ValueError, KeyError):
            continue
        out.append(buffer.getvalue())
    return out


def enlarge_a_size(data: bytearray, rng: random.Random) -> None:
    """Overwrite a 16- or 32-bit field that holds a small number (likely a width or height) with a large one."""
    positions = [i for i in range(min(len(data) - 4, 200)) if 0 < data[i] < 64 and data[i + 1] == 0]
    if positions:
        i = rng.choice(positions)
        data[i : i + 2] = struct.pack("<H", rng.choice([0xFFFF, 0x7FFF, 5000, 1]))
    else:
        i = rng.randrange(len(data) - 4)
        data[i : i + 4] = struct.pack(">I", rng.choice([0xFFFFFFFF, 65535, 40000]))


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        if kind == 0:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:
            data = data[: rng.randrange(1, len(data))]
        elif kind == 2:
            i = rng.randrange(len(data))
            data[i:i] = data[i : i + rng.randint(1, 64)] * rng.randint(1, 4)
        elif kind == 3:
            enlarge_a_size(data, rng)
        else:
            i = rng.randrange(len(data))
            del data[i : i + rng.randint(1, 16)]
        if len(data) < 8:
            data = bytearray(data) + bytes(8)
    return bytes(data)


def corpus() -> list[tuple[str, bytes]]:
    rng = random.Random(1234)
    bases = [(fmt, b) for fmt in ACCEPTED_FORMATS for b in seeds(fmt)]
    return [(fmt, mutate(base, rng)) for fmt, base in (rng.choice(bases) for _ in range(CASES))]


def test_every_accepted_format_has_seeds():
    assert all(seeds(fmt) for fmt in ACCEPTED_FORMATS if fmt in Image.SAVE)


def test_readers_raise_only_input_error(tmp_path: Path):
    path = tmp_path / "fuzz"
    outcomes = {"read": 0, "refused": 0}
    for i, (fmt, data) in enumerate(corpus()):
        path.write_bytes(data)
        for reader in (load_image, load_mask):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a library warning on the way out is a failure too
                try:
                    image = reader(path, MAX_PIXELS)
                except InputError as exc:
                    assert str(path) in str(exc) and "\n" not in str(exc), (i, fmt, str(exc))
                    outcomes["refused"] += 1
                    continue
            assert image.shape[-1] * image.shape[-2] <= MAX_PIXELS
            assert bool(image.isfinite().all()) and 0 <= float(image.min()) and float(image.max()) <= 1
            outcomes["read"] += 1
    assert outcomes["read"] > 50 and outcomes["refused"] > 50, outcomes  # the corpus exercises both ways


def test_api_answers_400_or_200(tiny_encoder, tmp_path: Path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    import torch
    from fastapi.testclient import TestClient

    from adain.apps.server import Limits, create_app
    from adain.decoder import Decoder
    from adain.stylizer import Stylizer

    torch.manual_seed(0)
    stylizer = Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu")
    limits = Limits(style_size=32, max_size=64, max_pixels=MAX_PIXELS, max_output_pixels=20_000)
    style = io.BytesIO()
    Image.new("RGB", (32, 32), "blue").save(style, "PNG")
    codes = []
    with TestClient(create_app(stylizer, limits=limits, temp_dir=tmp_path)) as client:
        for i, (fmt, data) in enumerate(corpus()[:80]):
            files = [("content", ("c", data, "application/octet-stream")), ("style", ("s.png", style.getvalue(), "image/png"))]
            if i % 2:  # also as the style and as a mask
                files = [("content", ("c.png", style.getvalue(), "image/png")), ("style", ("s", data, "application/octet-stream"))]
            r = client.post("/api/stylize", data={"size": "32"}, files=files)
            assert r.status_code in (200, 400), (i, fmt, r.status_code, r.text)
            codes.append(r.status_code)
    assert codes.count(200) and codes.count(400)
