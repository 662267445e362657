"""Data-set stylization: tree and names kept, determinism, resume, sharding (2 processes), bad files."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from adain.apps.dataset import (
    DatasetOptions,
    draw_styles,
    output_relpath,
    parse_shard,
    stylize_dataset,
)
from adain.decoder import Decoder, init_like_paper, save_decoder
from adain.stylizer import Stylizer
from helpers import write_image

OPTS = DatasetOptions(copies=2, style_size=32, quality=95, seed=3)


@pytest.fixture(scope="module")
def stylizer(tiny_encoder) -> Stylizer:
    return Stylizer(init_like_paper(Decoder(width=0.0625)), encoder=tiny_encoder, device="cpu", bf16=False)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """src/ with a sub-folder tree (5 images), styles/ with 3 styles."""
    for i, rel in enumerate(["a.png", "b.jpg", "cls1/c.png", "cls1/d.jpg", "cls2/deep/e.png"]):
        write_image(tmp_path / "src" / rel, (40, 32), seed=i)
    for i in range(3):
        write_image(tmp_path / "styles" / f"s{i}.jpg", (32, 32), seed=20 + i)
    return tmp_path


def _read(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def test_pure_helpers():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "x", "1/2/3"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    assert output_relpath(Path("n01/x.JPEG"), 1, 3, "png") == Path("n01/x_1.png")
    assert output_relpath(Path("n01/x.JPEG"), 0, 1, None) == Path("n01/x.JPEG")
    picks = draw_styles("n01/x.JPEG", 3, 5, seed=0)
    assert picks == draw_styles("n01/x.JPEG", 3, 5, seed=0) and len(set(picks)) == 3
    assert len(draw_styles("a", 4, 2, seed=0)) == 4
    draws = {tuple(draw_styles(f"img{i}", 1, 5, seed=0)) for i in range(40)}
    assert len(draws) == 5, "the draw should use every style over many images"
    assert [draw_styles(f"img{i}", 1, 50, seed=0) for i in range(5)] != [draw_styles(f"img{i}", 1, 50, seed=1) for i in range(5)]


def test_tree_names_manifest_and_determinism(tree: Path, stylizer: Stylizer):
    report = stylize_dataset(tree / "src", tree / "styles", tree / "out", OPTS, stylizer=stylizer, shard=(0, 1), progress=False)
    assert report.written == 10 and report.existing == 0 and not report.failed
    files = _files(tree / "out")
    assert set(files) == {
        "a_0.png", "a_1.png", "b_0.jpg", "b_1.jpg", "cls1/c_0.png", "cls1/c_1.png", "cls1/d_0.jpg", "cls1/d_1.jpg",
        "cls2/deep/e_0.png", "cls2/deep/e_1.png", "manifest.csv",
    }
    with Image.open(tree / "out" / "cls1" / "c_0.png") as im:
        assert im.size == (40, 32)
    rows = _read(tree / "out" / "manifest.csv")
    assert len(rows) == 10 and all(r["status"] == "done" for r in rows)
    for r in rows:  # the two copies of an image have different styles
        other = next(o for o in rows if o["content"] == r["content"] and o["copy"] != r["copy"])
        assert r["style"] != other["style"]
    # same seed → identical bytes in another folder; another seed → another draw
    stylize_dataset(tree / "src", tree / "styles", tree / "again", OPTS, stylizer=stylizer, shard=(0, 1), progress=False)
    assert _files(tree / "again") == files
    other = dataclasses.replace(OPTS, seed=4)
    stylize_dataset(tree / "src", tree / "styles", tree / "seed4", other, stylizer=stylizer, shard=(0, 1), progress=False)
    assert [r["style"] for r in _read(tree / "seed4" / "manifest.csv")] != [r["style"] for r in rows]


def test_resume_skips_done_and_refuses_other_settings(tree: Path, stylizer: Stylizer):
    out = tree / "out"
    opts = DatasetOptions(copies=1, style_size=32, format="png", size=24, seed=0)
    stylize_dataset(tree / "src", tree / "styles", out, opts, stylizer=stylizer, shard=(0, 1), progress=False)
    full = _files(out)
    # simulate an interrupted run: two outputs missing, a stale temp file of a killed writer
    (out / "b.png").unlink()
    (out / "cls1" / "c.png").unlink()
    (out / "cls1" / f".c.{2**22 + 7}-abcd1234.tmp.png").write_bytes(b"half")  # left by a killed run
    before = (out / "a.png").stat().st_mtime_ns
    report = stylize_dataset(tree / "src", tree / "styles", out, opts, stylizer=stylizer, shard=(0, 1), progress=False)
    assert (report.written, report.existing) == (2, 3)
    assert (out / "a.png").stat().st_mtime_ns == before, "a finished output was rewritten"
    assert _files(out) == full
    assert not list(out.rglob("*.tmp*"))
    with Image.open(out / "a.png") as im:
        assert min(im.size) == 24
    with pytest.raises(ValueError, match="other settings"):
        stylize_dataset(tree / "src", tree / "styles", out, DatasetOptions(copies=1, style_size=32, format="png", size=24, seed=1),
                        stylizer=stylizer, progress=False)


def test_unreadable_files_are_listed_and_skipped(tree: Path, stylizer: Stylizer):
    (tree / "src" / "cls1" / "broken.jpg").write_bytes(b"not a jpeg")
    (tree / "styles" / "empty.png").write_bytes(b"")
    warnings: list[str] = []
    report = stylize_dataset(tree / "src", tree / "styles", tree / "out", DatasetOptions(style_size=32), stylizer=stylizer,
                             shard=(0, 1), progress=False, warn=warnings.append)
    assert report.written == 5
    failed = {Path(p).name for p, _ in report.failed}
    assert failed == {"broken.jpg", "empty.png"} and len(warnings) == 2
    rows = {r["content"]: r for r in _read(report.manifest)}
    assert rows["cls1/broken.jpg"]["status"].startswith("error:") and "broken.jpg" in rows["cls1/broken.jpg"]["status"]
    assert not any(r["style"] == "empty.png" for r in rows.values())
    assert not (tree / "out" / "cls1" / "broken.jpg").exists()


def test_name_clash_and_output_inside_input_are_refused(tree: Path, stylizer: Stylizer):
    write_image(tree / "src" / "a.jpg", (40, 32), seed=9)  # a.png and a.jpg both become a.webp
    with pytest.raises(ValueError, match="a.webp"):
        stylize_dataset(tree / "src", tree / "styles", tree / "out", DatasetOptions(format="webp"), stylizer=stylizer, progress=False)
    assert not (tree / "out").exists()
    with pytest.raises(ValueError, match="must not be inside"):
        stylize_dataset(tree / "src", tree / "styles", tree / "src" / "out", stylizer=stylizer, progress=False)


def test_two_shard_processes_split_the_work(tree: Path, tmp_path: Path, stylizer: Stylizer):
    """Two CLI processes (--shard 0/2 and 1/2) at once produce exactly what one process does."""
    weights = tmp_path / "tiny.safetensors"
    torch.manual_seed(0)
    save_decoder(init_like_paper(Decoder(width=0.0625)), weights)
    args = [str(tree / "src"), str(tree / "styles"), str(tree / "sharded"), "--copies", "2", "--style-size", "32",
            "--seed", "3", "--decoder", str(weights), "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "adain.cli", "stylize-dataset", *args, "--shard", f"{i}/2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=240) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr
        assert "images/s" in stdout
    m0, m1 = _read(tree / "sharded" / "manifest-0-of-2.csv"), _read(tree / "sharded" / "manifest-1-of-2.csv")
    assert {r["content"] for r in m0}.isdisjoint({r["content"] for r in m1})
    assert len(m0) + len(m1) == 10
    single = subprocess.run([sys.executable, "-m", "adain.cli", "stylize-dataset", *args[:2], str(tree / "single"), *args[3:]],
                            env=env, capture_output=True, text=True, timeout=240)
    assert single.returncode == 0, single.stderr
    sharded = {k: v for k, v in _files(tree / "sharded").items() if not k.startswith("manifest")}
    alone = {k: v for k, v in _files(tree / "single").items() if not k.startswith("manifest")}
    assert sharded == alone and len(alone) == 10
    rows = sorted(m0 + m1, key=lambda r: (r["content"], r["copy"]))
    assert rows == sorted(_read(tree / "single" / "manifest.csv"), key=lambda r: (r["content"], r["copy"]))
    assert json.loads((tree / "sharded" / ".adain-dataset.json").read_text())["copies"] == 2


def test_torchrun_ranks_take_their_shares(tree: Path, tmp_path: Path):
    """Under torchrun (2 CPU processes) each rank writes its share and its manifest."""
    weights = tmp_path / "tiny.safetensors"
    save_decoder(init_like_paper(Decoder(width=0.0625)), weights)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "adain.cli",
           "stylize-dataset", str(tree / "src"), str(tree / "styles"), str(tree / "out"), "--style-size", "32",
           "--decoder", str(weights), "--device", "cpu"]
    proc = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shares = [{r["content"] for r in _read(tree / "out" / f"manifest-{i}-of-2.csv")} for i in range(2)]
    assert shares[0].isdisjoint(shares[1]) and len(shares[0] | shares[1]) == 5 and all(shares)
    assert len([p for p in (tree / "out").rglob("*.png")] + [p for p in (tree / "out").rglob("*.jpg")]) == 5


def test_method_is_a_setting_of_the_run(tree: Path, stylizer: Stylizer, monkeypatch):
    methods: list[str] = []
    encode = stylizer.style_stats
    monkeypatch.setattr(stylizer, "style_stats", lambda styles, method="adain": methods.append(method) or encode(styles, method))
    opts = DatasetOptions(copies=1, style_size=32, format="png", size=24, method="efdm")
    report = stylize_dataset(tree / "src", tree / "styles", tree / "out", opts, stylizer=stylizer, shard=(0, 1), progress=False)
    assert report.written == 5 and methods and set(methods) == {"efdm"}
    adain = DatasetOptions(copies=1, style_size=32, format="png", size=24)
    with pytest.raises(ValueError, match="method: 'efdm' → 'adain'"):
        stylize_dataset(tree / "src", tree / "styles", tree / "out", adain, stylizer=stylizer, shard=(0, 1), progress=False)
    with pytest.raises(ValueError, match="unknown method"):
        DatasetOptions(method="gatys")
