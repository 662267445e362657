"""Training: steps run, checkpoints resume with identical state, DDP with gloo on CPU."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from adain.cli import main
from adain.decoder import read_metadata
from adain.training.train import TrainConfig, train

TINY = dict(size=32, crop=32, batch=2, width=0.125, bf16=False, save_every=1, sample_every=2, log_every=1)


def _cfg(image_dir: Path, out: Path, steps: int, **kw) -> TrainConfig:
    return TrainConfig(content=image_dir / "content", style=image_dir / "style", out=out, steps=steps, **{**TINY, **kw})


@pytest.mark.parametrize("scales", [{}, {"size": 48, "min_size": 32}], ids=["one-scale", "scale-augmentation"])
def test_two_steps_then_resume_matches_uninterrupted(image_dir: Path, tmp_path: Path, scales: dict):
    straight = train(_cfg(image_dir, tmp_path / "a", steps=2, **scales))
    train(_cfg(image_dir, tmp_path / "b", steps=1, **scales))
    resumed = train(_cfg(image_dir, tmp_path / "b", steps=2, resume=True, **scales))
    assert read_metadata(resumed)["min_size"] == scales.get("min_size", 32)
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{k} differs after resume")
    state_a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    state_b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert state_a["step"] == state_b["step"] == 2
    for (_, va), (_, vb) in zip(state_a["optimizer"]["state"].items(), state_b["optimizer"]["state"].items()):
        torch.testing.assert_close(va["exp_avg"], vb["exp_avg"], rtol=0, atol=0)
    # the step changed the weights at all
    init = train(_cfg(image_dir, tmp_path / "c", steps=0))
    assert any(not torch.equal(a[k], v) for k, v in load_file(str(init)).items())


def test_outputs_log_samples_and_metadata(image_dir: Path, tmp_path: Path):
    path = train(_cfg(image_dir, tmp_path / "run", steps=3, sample_every=2, log_every=2, cache_images=True))
    meta = read_metadata(path)
    assert meta["steps"] == 3 and meta["crop"] == 32 and meta["style_weight"] == 10.0
    assert "content" in meta["data"] and meta["wall_time_s"] >= 0 and meta["hardware"]
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert all(float(r["loss"]) > 0 for r in rows)
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["step_0000002.jpg", "step_0000003.jpg"]  # every 2, and the last
    assert not list((tmp_path / "run").glob(".*tmp"))


def test_loss_decreases_on_a_fixed_pair(image_dir: Path, tmp_path: Path):
    """Overfitting a tiny decoder to one image pair must lower the objective."""
    from adain.decoder import Decoder
    from adain.encoder import Encoder
    from adain.io.images import load_image
    from adain.losses import loss_terms

    torch.manual_seed(0)
    enc, dec = Encoder(), Decoder(width=0.25)
    c = load_image(image_dir / "content" / "c0.png")[None]
    s = load_image(image_dir / "style" / "s0.jpg")[None]
    opt = torch.optim.Adam(dec.parameters(), lr=3e-4)  # 1e-3 overshoots from some initialisations
    losses = []
    for _ in range(15):
        lc, ls, _ = loss_terms(enc, dec, c[..., :32, :32], s[..., :32, :32])
        loss = lc + 10 * ls
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.85 * losses[0], losses


def test_cli_train_and_errors(image_dir: Path, tmp_path: Path, capsys):
    args = ["train", "--content", str(image_dir / "content"), "--style", str(image_dir / "style"), "--out", str(tmp_path / "cli"),
            "--steps", "1", "--size", "32", "--crop", "32", "--batch", "1", "--no-bf16"]
    assert main(args) == 0
    assert (tmp_path / "cli" / "decoder.safetensors").is_file()
    assert main(args[:-7] + ["--steps", "1", "--size", "32", "--crop", "64"]) == 2
    assert "--crop" in capsys.readouterr().err
    assert main(args + ["--ema", "1.5"]) == 2
    assert "--ema" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--content", str(empty), "--style", str(image_dir / "style"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no images" in err[0] and str(empty) in err[0]


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun with gloo is tested on Linux")
def test_ddp_two_processes_gloo(image_dir: Path, tmp_path: Path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "adain.cli",
           "train", "--content", str(image_dir / "content"), "--style", str(image_dir / "style"), "--out", str(out),
           "--steps", "2", "--size", "32", "--crop", "32", "--batch", "1", "--no-bf16", "--device", "cpu", "--save-every", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = read_metadata(out / "decoder.safetensors")
    assert meta["steps"] == 2 and meta["batch"] == 2 and meta["hardware"].startswith("2 x")


def test_a_run_from_init_records_the_phases_before_it(image_dir: Path, tmp_path: Path):
    first = train(_cfg(image_dir, tmp_path / "small", steps=2, crop=24))
    second = train(_cfg(image_dir, tmp_path / "large", steps=1, init=first))
    third = read_metadata(train(_cfg(image_dir, tmp_path / "again", steps=3, init=second)))
    assert [(h["steps"], h["crop"]) for h in third["history"]] == [(2, 24), (1, 32)]
    assert third["history"][0]["init"] == "scratch" and third["history"][1]["init"] == str(first)
    assert third["total_steps"] == 6 and third["steps"] == 3
    assert third["total_wall_time_s"] >= third["wall_time_s"]


def test_ema_weights_average_the_steps_and_resume_exactly(image_dir: Path, tmp_path: Path):
    """With --ema 0.5 the exported average after 2 steps is (w1 + w2) / 2, also across a resume."""
    train(_cfg(image_dir, tmp_path / "a", steps=2, ema=0.5))
    train(_cfg(image_dir, tmp_path / "b", steps=1, ema=0.5))
    w1 = load_file(str(tmp_path / "b" / "decoder.safetensors"))
    resumed = train(_cfg(image_dir, tmp_path / "b", steps=2, ema=0.5, resume=True))
    w2 = load_file(str(resumed))
    ema_a = load_file(str(tmp_path / "a" / "decoder-ema.safetensors"))
    ema_b = load_file(str(tmp_path / "b" / "decoder-ema.safetensors"))
    assert ema_a.keys() == w2.keys()
    for k in w2:
        torch.testing.assert_close(ema_a[k], ema_b[k], rtol=0, atol=0, msg=f"{k}: EMA differs after resume")
        torch.testing.assert_close(ema_b[k], (w1[k] + w2[k]) / 2, msg=f"{k}: not the average of the two steps")
    assert any(not torch.equal(ema_b[k], w2[k]) for k in w2)
    meta = read_metadata(tmp_path / "b" / "decoder-ema.safetensors")
    assert meta["ema"] == 0.5 and meta["ema_steps"] == 2
    assert not (tmp_path / "c").exists() and not train(_cfg(image_dir, tmp_path / "c", steps=1)).with_name("decoder-ema.safetensors").exists()


def test_init_inside_the_run_folder_is_never_overwritten(image_dir: Path, tmp_path: Path):
    from adain.errors import InputError

    first = train(_cfg(image_dir, tmp_path / "run", steps=1))
    before = first.read_bytes()
    with pytest.raises(InputError, match="is also the --init input"):
        train(_cfg(image_dir, tmp_path / "run", steps=1, init=first))
    assert first.read_bytes() == before
    copy = tmp_path / "start.safetensors"
    copy.write_bytes(before)
    assert train(_cfg(image_dir, tmp_path / "run2", steps=1, init=copy)).is_file()  # elsewhere it starts from them
