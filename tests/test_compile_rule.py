"""Compiling for a video's frames: the decision rule, one compiled shape, the eager fallback (no real compilation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import adain.apps.video as video
from adain.apps.video import compile_pays, stylize_video
from adain.cli import main
from adain.stylizer import ShapeCompiled, Stylizer
from helpers import lively_nets, make_video

HOKUSAI = str(Path(__file__).resolve().parents[1] / "src" / "adain" / "examples" / "style" / "hokusai.jpg")
STYLE = [torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(7))]


def fresh_stylizer() -> Stylizer:
    encoder, decoder = lively_nets()
    return Stylizer(decoder, encoder=encoder, device="cpu", bf16=False)


def test_compile_pays_when_the_saving_exceeds_the_cost():
    # 1 s per frame eager, 2x faster compiled: 0.5 s saved per frame; 100 s to compile
    assert not compile_pays(200, 1.0, compile_seconds=100, speedup=2.0)
    assert compile_pays(201, 1.0, compile_seconds=100, speedup=2.0)
    assert not compile_pays(10_000, 1.0, compile_seconds=100, speedup=1.0), "no speed-up, never pays"
    # the defaults: a short clip of small frames does not pay, a long one does
    assert not compile_pays(100, 0.3) and compile_pays(5_000, 0.3)


class FakeCompiler:
    """Stands for torch.compile: records the shapes its compiled function ran, or fails like a missing compiler."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.shapes = fail, []

    def __call__(self, fn):
        def compiled(x):
            if self.fail:
                raise RuntimeError("InductorError: no C++ compiler found\nmore lines")
            self.shapes.append(tuple(x.shape))
            return fn(x)

        return compiled


def test_shape_compiled_runs_only_its_shape_compiled():
    fake, warnings = FakeCompiler(), []
    f = ShapeCompiled(lambda x: x * 2, (2, 3), warn=warnings.append, compiler=fake)
    assert torch.equal(f(torch.ones(2, 3)), torch.full((2, 3), 2.0))
    f(torch.ones(1, 3))
    f(torch.ones(2, 3))
    assert fake.shapes == [(2, 3), (2, 3)] and warnings == []


def test_failed_compilation_warns_once_and_runs_eagerly():
    fake, warnings = FakeCompiler(fail=True), []
    f = ShapeCompiled(lambda x: x + 1, (2, 3), warn=warnings.append, compiler=fake)
    for _ in range(3):
        assert torch.equal(f(torch.zeros(2, 3)), torch.ones(2, 3))
    assert len(warnings) == 1 and "no C++ compiler found" in warnings[0] and "\n" not in warnings[0]


def test_compile_for_pads_the_frame_shape_and_keeps_outputs():
    stylizer, fake = fresh_stylizer(), FakeCompiler()
    frames = torch.rand(2, 3, 20, 27)
    stats = stylizer.style_stats(STYLE)
    expected = stylizer.stylize_batch(frames, stats)
    stylizer.compile_for((2, 3, 20, 27), compiler=fake)
    assert torch.allclose(stylizer.stylize_batch(frames, stats), expected)
    stylizer.style_stats(STYLE)  # another shape: eager
    assert fake.shapes == [(2, 3, 24, 32), (2, 512, 3, 4)]


@pytest.fixture()
def compiles(monkeypatch):
    """Records the shapes stylize_video compiles for, without compiling."""
    shapes = []
    monkeypatch.setattr(Stylizer, "compile_for", lambda self, shape, **kw: shapes.append(shape))
    return shapes


def test_video_compiles_when_the_rule_says_so(tmp_path: Path, compiles, monkeypatch):
    src = make_video(tmp_path / "in.mp4", size=(32, 24), frames=6, audio=False)
    seen = []
    monkeypatch.setattr(video, "compile_pays", lambda left, seconds: seen.append(left) or True)
    result = stylize_video(src, tmp_path / "a.mp4", STYLE, stylizer=fresh_stylizer(), batch=2, progress=False, log=lambda m: None)
    assert seen == [2] and compiles == [(2, 3, 24, 32)] and result.compiled, "decided at the second batch: 2 frames left"
    monkeypatch.setattr(video, "compile_pays", lambda left, seconds: False)
    assert not stylize_video(src, tmp_path / "b.mp4", STYLE, stylizer=fresh_stylizer(), batch=2, progress=False).compiled
    assert compiles == [(2, 3, 24, 32)]


def test_video_compile_forced_either_way(tmp_path: Path, compiles, monkeypatch):
    src = make_video(tmp_path / "in.mp4", size=(32, 24), frames=6, audio=False)
    monkeypatch.setattr(video, "compile_pays", lambda left, seconds: True)
    assert not stylize_video(src, tmp_path / "a.mp4", STYLE, stylizer=fresh_stylizer(), batch=4, compile=False, progress=False).compiled
    assert compiles == []
    logged = []
    assert stylize_video(src, tmp_path / "b.mp4", STYLE, stylizer=fresh_stylizer(), batch=4, compile=True, progress=False, log=logged.append).compiled
    assert compiles == [(4, 3, 24, 32)] and "32x24 frames" in logged[0]


def test_cli_compile_flags(tmp_path: Path, capsys, monkeypatch):
    src = make_video(tmp_path / "in.mp4", frames=3, size=(32, 24), audio=False)
    seen = []
    done = video.VideoResult(Path("o.mp4"), 3, 1.0, 0.1, 0.1, 1.0, 0)
    monkeypatch.setattr("adain.apps.video.stylize_video", lambda *a, **k: seen.append(k["compile"]) or done)
    monkeypatch.setattr("adain.cli.video.stylizer_from_args", lambda args: None)
    for flag in ([], ["--compile"], ["--no-compile"]):
        assert main(["video", str(src), str(tmp_path / "o.mp4"), "--style", HOKUSAI, *flag]) == 0
    assert seen == [None, True, False]
    capsys.readouterr()
    assert main(["video", str(src), str(tmp_path / "o.mp4"), "--style", HOKUSAI, "--compile", "--backend", "onnxruntime", "--models", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--compile needs the torch backend" in err[0]
