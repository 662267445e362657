"""Seeded, bounded fuzzing of the image readers and the HTTP API: small images of every accepted format,
mutated (bytes flipped, cut, repeated, size fields enlarged); the only allowed failure is adain's InputError.
Style files and ONNX manifests likewise: their bytes mutated, and their JSON (values of every type and
size, deep nesting, dropped keys); the only allowed failures are StyleFileError and ExportError."""

from __future__ import annotations

import io
import json
import random
import struct
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adain.io.images import ACCEPTED_FORMATS, InputError, load_image, load_mask
from adain.io.photo import register_heif

MAX_PIXELS = 1_000_000
CASES = 300
FUZZED = tuple(f for f in ACCEPTED_FORMATS if f != "HEIF" or register_heif())  # HEIF needs the heif extra


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
    bases = [(fmt, b) for fmt in FUZZED for b in seeds(fmt)]
    return [(fmt, mutate(base, rng)) for fmt, base in (rng.choice(bases) for _ in range(CASES))]


def test_every_accepted_format_has_seeds():
    assert all(seeds(fmt) for fmt in FUZZED)


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


# ---------------------------------------------------------------- style files and ONNX manifests


def random_value(rng: random.Random, depth: int = 0):
    """A JSON value of a random type: numbers huge or odd, long strings, nested lists and objects, null."""
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice([0, -1, 1, 2**64, -(2**70), 10**300, 3.5, float("1e308")])
    if kind == 1:
        return "x" * rng.choice([0, 1, 64, 300, 100_000])
    if kind == 2:
        return None
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4 and depth < 3:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == 5 and depth < 3:
        return {rng.choice(["name", "path", "bytes", "sha256", "weight", "k"]): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if kind == 6:
        n = rng.choice([40, 5000])
        return json.loads("[" * n + "]" * n) if n < 900 else "[" * n  # deep, or a string that looks deep
    return rng.choice(["../x", "/etc/passwd", "encoder.onnx", "fp32", "adain-onnx", "adain-style/1", "-1", "9" * 5000])


def mutate_json(obj, rng: random.Random):
    """Replace one node of a JSON document (nested dicts and lists) by :func:`random_value`, or drop a key."""
    obj = json.loads(json.dumps(obj))
    node, path = obj, []
    while isinstance(node, (dict, list)) and node and rng.random() < 0.7:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        path.append((node, key))
        node = node[key]
    if not path:
        return random_value(rng)
    parent, key = path[-1]
    if isinstance(parent, dict) and rng.random() < 0.2:
        del parent[key]
    else:
        parent[key] = random_value(rng)
    return obj


def dumps(obj) -> str:
    """JSON text even of integers longer than Python's default conversion limit."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.dumps(obj)
    finally:
        sys.set_int_max_str_digits(limit)


def test_style_file_parser_raises_only_style_file_error():
    import torch

    from adain.io.stylefile import CHANNELS, StyleFileError, parse_style
    from helpers import style_file_bytes

    rng = random.Random(29)
    good = style_file_bytes()
    header_len = int.from_bytes(good[:8], "little")
    header = json.loads(good[8 : 8 + header_len])
    outcomes = {"read": 0, "refused": 0}
    for i in range(CASES):
        if i % 3 == 0:
            data = mutate(good, rng)
        else:
            meta = dict(header["__metadata__"])
            if i % 3 == 1:  # the sources' JSON
                meta["sources"] = dumps(mutate_json(json.loads(meta["sources"]), rng))
            else:  # a metadata string (safetensors keeps only strings there), or the header's JSON itself
                key = rng.choice([*meta, "extra"])
                value = random_value(rng)
                meta[key] = value if rng.random() < 0.2 else value if isinstance(value, str) else dumps(value)
            text = dumps({**header, "__metadata__": meta}).encode()
            data = len(text).to_bytes(8, "little") + text + good[8 + header_len :]
        try:
            style = parse_style(data, "fuzz.safetensors")
        except StyleFileError as exc:
            assert str(exc).startswith("fuzz.safetensors: ") and "\n" not in str(exc) and len(str(exc)) < 400, (i, str(exc)[:500])
            outcomes["refused"] += 1
            continue
        for tap, c in CHANNELS.items():
            assert style.means[tap].shape == (c,) and style.stds[tap].dtype == torch.float32 and bool((style.stds[tap] > 0).all())
        assert isinstance(style.sources, list) and all(isinstance(s, dict) for s in style.sources) and isinstance(style.encoder, str)
        outcomes["read"] += 1
    assert outcomes["read"] > 10 and outcomes["refused"] > 100, outcomes


def test_manifest_reader_raises_only_export_error(tmp_path: Path):
    import hashlib

    from adain.onnx.export import FILES, MANIFEST
    from adain.onnx.runtime import ExportError, read_manifest

    models = {role: bytes([i]) * 100 for i, role in enumerate(FILES)}
    for role, name in FILES.items():
        (tmp_path / name).write_bytes(models[role])
    good = {"format": "adain-onnx", "format_version": 1, "adain_version": "0.1", "precision": "fp32", "encoder_identity": "vgg19-relu4_1:x",
            "input": {"layout": "NCHW", "range": [0.0, 1.0]}, "features": {"channels": 512},
            "files": {role: {"path": name, "bytes": 100, "sha256": hashlib.sha256(models[role]).hexdigest(), "input": "i", "output": "o"}
                      for role, name in FILES.items()}}
    rng = random.Random(30)
    path = tmp_path / MANIFEST
    outcomes = {"read": 0, "refused": 0}
    for i in range(CASES):
        text = dumps(mutate_json(good, rng))
        path.write_bytes(mutate(text.encode(), rng) if i % 4 == 0 and len(text) > 16 else text.encode())
        try:
            manifest = read_manifest(tmp_path)
        except ExportError as exc:
            assert str(exc).startswith(str(tmp_path)) and "\n" not in str(exc) and len(str(exc)) < 400 + len(str(tmp_path)), (i, str(exc)[:500])
            outcomes["refused"] += 1
            continue
        assert all((tmp_path / manifest["files"][role]["path"]).resolve().parent == tmp_path.resolve() for role in FILES)
        outcomes["read"] += 1
    assert outcomes["read"] > 10 and outcomes["refused"] > 100, outcomes
