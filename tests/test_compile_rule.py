"""Compiling where it pays: the rule, the shapes compiled, the eager fallback, and each long-running job
(video, folders, data sets, the server) deciding by it (no real compilation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import adain.apps.compiling as compiling
import adain.apps.video as video
from adain.apps.compiling import CompileRule, compile_pays
from adain.apps.dataset import DatasetOptions, stylize_dataset
from adain.apps.files import StylizeOptions, stylize_folders
from adain.apps.video import VideoOptions, stylize_video
from adain.cli import main
from adain.stylizer import ShapeCompiled, Stylizer
from helpers import lively_nets, make_video, write_image

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


def test_shapes_added_later_and_warmed_shapes_run_eagerly_until_warm():
    fake = FakeCompiler()
    f = ShapeCompiled(lambda x: x * 2, warn=print, compiler=fake)
    f(torch.ones(2, 3))
    f.add((2, 3))
    f(torch.ones(2, 3)), f(torch.ones(1, 3))
    assert fake.shapes == [(2, 3)], "an inline shape compiles at its call; a warmed one waits for warm()"
    assert torch.equal(f.warm(torch.ones(1, 3)), torch.full((1, 3), 2.0))
    f(torch.ones(1, 3))
    assert fake.shapes == [(2, 3), (1, 3), (1, 3)] and f.shapes == {(2, 3), (1, 3)}


def test_compile_for_pads_the_frame_shape_and_keeps_outputs():
    stylizer, fake = fresh_stylizer(), FakeCompiler()
    frames = torch.rand(2, 3, 20, 27)
    stats = stylizer.style_stats(STYLE)
    expected = stylizer.stylize_batch(frames, stats)
    stylizer.compile_for((2, 3, 20, 27), compiler=fake)
    assert torch.allclose(stylizer.stylize_batch(frames, stats), expected)
    stylizer.style_stats(STYLE)  # another shape: eager
    assert fake.shapes == [(2, 3, 24, 32), (2, 512, 3, 4)]


def test_compile_for_warm_compiles_now_and_refuses_a_wholly_compiled_stylizer():
    stylizer, fake = fresh_stylizer(), FakeCompiler()
    stylizer.compile_for((1, 3, 20, 27), compiler=fake, warm=True)
    assert fake.shapes == [(1, 3, 24, 32), (1, 512, 3, 4)] and stylizer.compiled_shapes == [(1, 3, 24, 32)]
    stylizer.stylize_batch(torch.rand(1, 3, 20, 27), stylizer.style_stats(STYLE))
    assert len(fake.shapes) == 4, "later calls of the shape run compiled"
    with pytest.raises(Exception, match="compiled for every input shape"):
        Stylizer(lively_nets()[1], encoder=lively_nets()[0], device="cpu", bf16=False, compile=True).compile_for((1, 3, 8, 8))


@pytest.fixture()
def compiles(monkeypatch):
    """Records the shapes stylize_video compiles for, without compiling."""
    shapes = []
    monkeypatch.setattr(Stylizer, "compile_for", lambda self, shape, **kw: shapes.append(shape))
    return shapes


def test_video_compiles_when_the_rule_says_so(tmp_path: Path, compiles, monkeypatch):
    src = make_video(tmp_path / "in.mp4", size=(32, 24), frames=6, audio=False)
    seen = []
    monkeypatch.setattr(compiling, "compile_pays", lambda left, seconds: seen.append(left) or True)
    result = stylize_video(src, tmp_path / "a.mp4", STYLE, VideoOptions(batch=2), stylizer=fresh_stylizer(), progress=False, log=lambda m: None)
    assert seen == [2] and compiles == [(2, 3, 24, 32)] and result.compiled, "decided at the second batch: 2 frames left"
    monkeypatch.setattr(compiling, "compile_pays", lambda left, seconds: False)
    assert not stylize_video(src, tmp_path / "b.mp4", STYLE, VideoOptions(batch=2), stylizer=fresh_stylizer(), progress=False).compiled
    assert compiles == [(2, 3, 24, 32)]


def test_video_compile_forced_either_way(tmp_path: Path, compiles, monkeypatch):
    src = make_video(tmp_path / "in.mp4", size=(32, 24), frames=6, audio=False)
    monkeypatch.setattr(compiling, "compile_pays", lambda left, seconds: True)
    assert not stylize_video(src, tmp_path / "a.mp4", STYLE, VideoOptions(batch=4), stylizer=fresh_stylizer(), compile=False, progress=False).compiled
    assert compiles == []
    logged = []
    assert stylize_video(src, tmp_path / "b.mp4", STYLE, VideoOptions(batch=4), stylizer=fresh_stylizer(), compile=True, progress=False,
                         log=logged.append).compiled
    assert compiles == [(4, 3, 24, 32)] and "32x24 images, 4 at a time" in logged[0]


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


def test_rule_estimates_the_items_left_of_each_shape(compiles):
    seen = []
    rule = CompileRule(fresh_stylizer(), None, 10, log=lambda m: None, pays=lambda left, seconds: seen.append(left) or False)
    for shape in [(1, 3, 20, 27), (1, 3, 21, 30), (1, 3, 40, 40), (1, 3, 40, 40)]:
        with rule.timed(shape):
            pass
    # (20, 27) and (21, 30) pad to one shape: 8 of 10 left at the second, all of its kind; (40, 40): 6 left, half of them
    assert seen == [8.0, 3.0] and compiles == [] and not rule.compiled
    server = CompileRule(fresh_stylizer(), None, log=lambda m: None, pays=lambda left, seconds: seen.append(left) or False)
    for _ in range(3):
        with server.timed((1, 3, 8, 8)):
            pass
    assert seen[2:] == [2, 3], "no total: as many again as so far"


def test_rule_compiles_a_few_shapes_where_it_pays_or_always_or_never(compiles):
    logged: list[str] = []
    rule = CompileRule(fresh_stylizer(), None, 100, log=logged.append, max_shapes=2, pays=lambda left, seconds: True)
    for side in (8, 8, 8, 16, 16, 24, 24):
        with rule.timed((1, 3, side, side)):
            pass
    assert compiles == [(1, 3, 8, 8), (1, 3, 16, 16)] and rule.compiled, "once per shape, no more than max_shapes"
    assert len(logged) == 2 and "8x8 images" in logged[0]
    always = CompileRule(fresh_stylizer(), True, log=logged.append)
    with always.timed((1, 3, 32, 32)):
        assert compiles[-1] == (1, 3, 32, 32), "compiled before its first item"
    never = CompileRule(fresh_stylizer(), False, 100, pays=lambda left, seconds: True)
    for _ in range(3):
        with never.timed((1, 3, 40, 40)):
            pass
    assert compiles[-1] == (1, 3, 32, 32) and not never.compiled


def test_rule_in_the_background_serves_eagerly_until_compiled():
    stylizer, fake, logged = fresh_stylizer(), FakeCompiler(), []
    stylizer.compile_for = lambda shape, **kw: Stylizer.compile_for(stylizer, shape, **{**kw, "compiler": fake})
    rule = CompileRule(stylizer, True, log=logged.append, background=True)
    stats = stylizer.style_stats(STYLE)
    with rule.timed((1, 3, 16, 16)):
        stylizer.stylize_batch(torch.rand(1, 3, 16, 16), stats)
    for thread in rule.threads:
        thread.join(timeout=30)
    assert stylizer.compiled_shapes == [(1, 3, 16, 16)] and "in the background" in logged[0]
    assert (1, 3, 16, 16) in fake.shapes and (1, 512, 2, 2) in fake.shapes


def test_rule_stays_off_for_a_stylizer_it_cannot_compile(compiles):
    encoder, decoder = lively_nets()
    other = Stylizer(decoder, encoder=encoder, device="cpu", bf16=False)
    other.compilable = False  # as the ONNX Runtime stylizer's networks
    rule = CompileRule(other, True, 10)
    with rule.timed((1, 3, 8, 8)):
        pass
    assert not rule.compiled and compiles == []


def test_folder_run_compiles_by_the_rule(tmp_path: Path, compiles, monkeypatch):
    contents = [write_image(tmp_path / "in" / f"{i}.png", (27, 20), seed=i) for i in range(3)]
    style = write_image(tmp_path / "style.png", (32, 32), seed=9)
    opts = StylizeOptions(style_size=32)
    seen = []
    monkeypatch.setattr(compiling, "compile_pays", lambda left, seconds: seen.append(left) or True)
    stylize_folders(contents, [style], tmp_path / "a", opts, fresh_stylizer(), progress=False, log=lambda m: None)
    assert seen == [1.0] and compiles == [(1, 3, 24, 32)], "decided at the second content: one left (the padded shape)"
    stylize_folders(contents, [style], tmp_path / "b", opts, fresh_stylizer(), progress=False, compile=False)
    assert seen == [1.0] and len(list((tmp_path / "b").iterdir())) == 3


def test_dataset_run_compiles_by_the_rule(tmp_path: Path, compiles):
    for i in range(2):
        write_image(tmp_path / "src" / f"{i}.png", (40, 32), seed=i)
    write_image(tmp_path / "styles" / "s.png", (32, 32), seed=5)
    opts = DatasetOptions(copies=1, size=32, style_size=32, losses=False)
    stylize_dataset(tmp_path / "src", tmp_path / "styles", tmp_path / "out", opts, stylizer=fresh_stylizer(), progress=False,
                    compile=True, log=lambda m: None)
    assert compiles == [(1, 3, 32, 40)]


def test_cli_compile_flags_of_the_other_jobs(tmp_path: Path, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr("adain.apps.files.stylize_folders", lambda *a, **k: seen.append(k["compile"]) or video.VideoResult)
    for command in (["stylize", "-c", str(tmp_path), "-s", HOKUSAI, "-o", str(tmp_path / "o")],
                    ["stylize-dataset", str(tmp_path), str(tmp_path), str(tmp_path / "o")], ["serve"]):
        capsys.readouterr()
        assert main([*command, "--compile", "--backend", "onnxruntime", "--models", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--compile needs the torch backend" in err[0], command


def test_server_compiles_request_shapes_in_the_background(compiles, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from adain.apps.server import Limits, create_app

    seen = []
    monkeypatch.setattr(compiling, "compile_pays", lambda left, seconds: seen.append(left) or left >= 3)
    app = create_app(fresh_stylizer(), limits=Limits(style_size=32, max_size=64))
    photo = open(HOKUSAI, "rb").read()
    with TestClient(app) as client:
        for _ in range(3):
            r = client.post("/api/stylize", data={"size": "32", "style_name": "hokusai"}, files=[("content", ("p.jpg", photo, "image/jpeg"))])
            assert r.status_code == 200
        for thread in app.state.service.rule.threads:
            thread.join(timeout=30)
    assert seen == [2, 3] and len(compiles) == 1, "requests so far taken as as many again: compiled after the third"
