"""Smoke test: the real VGG-19 and the shipped decoder through the CLI on a ≤128 px pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import adain
from adain.cli import main

EXAMPLES = Path(adain.__file__).parent / "examples"


def test_stylize_shipped_examples_with_the_shipped_decoder(tmp_path, capsys):
    content, style = EXAMPLES / "content" / "city.jpg", EXAMPLES / "style" / "hokusai.jpg"
    out = tmp_path / "out.png"
    base = ["stylize", "-c", str(content), "-s", str(style), "--content-size", "64", "--style-size", "128", "--device", "cpu"]
    assert main([*base, "-o", str(out)]) == 0, capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "a0.png"), "--alpha", "0"]) == 0, capsys.readouterr().err
    result = np.asarray(Image.open(out), dtype=np.float32) / 255
    assert result.shape == (64, 128, 3)  # 640x320 with the shorter side at 64
    assert result.std() > 0.02  # a picture, not a flat colour
    # full style and no style differ
    assert np.abs(result - np.asarray(Image.open(tmp_path / "a0.png"), dtype=np.float32) / 255).mean() > 0.01
