"""Training under bad options, changed options on resume, broken checkpoints, a diverging loss and kills."""

from __future__ import annotations

import csv
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from adain.cli import main
from adain.decoder import read_metadata
from adain.training.train import TrainConfig, train

TINY = dict(size=32, crop=32, batch=2, width=0.125, bf16=False, save_every=1, sample_every=100, log_every=1)


def cfg(image_dir: Path, out: Path, steps: int, **kw) -> TrainConfig:
    return TrainConfig(content=image_dir / "content", style=image_dir / "style", out=out, steps=steps, **{**TINY, **kw})


def cli(image_dir: Path, out: Path, *extra: str, capsys) -> tuple[int, str]:
    code = main(["train", "--content", str(image_dir / "content"), "--style", str(image_dir / "style"), "--out", str(out), *extra])
    return code, capsys.readouterr().err


def one_line(code: int, err: str, *names: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("adain train: error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.mark.parametrize(
    "extra, names",
    [
        (["--save-every", "0"], ["--save-every"]),
        (["--log-every", "0"], ["--log-every"]),
        (["--sample-every", "0"], ["--sample-every"]),
        (["--crop", "0"], ["--crop"]),
        (["--crop", "8"], ["--crop"]),
        (["--crop", "30", "--size", "32"], ["--crop", "multiple of 8"]),
        (["--size", "0"], ["--size"]),
        (["--min-size", "16", "--crop", "24"], ["--min-size", "between --crop"]),
        (["--style-balance", "layers"], ["--style-balance"]),
        (["--lr-decay", "-1"], ["--lr-decay"]),
        (["--lr", "nan"], ["--lr"]),
        (["--style-weight", "-1"], ["--style-weight"]),
        (["--max-minutes", "-1"], ["--max-minutes"]),
        (["--batch", "0"], ["--batch"]),
    ],
)
def test_bad_options_are_one_line_before_anything_loads(image_dir, tmp_path, capsys, extra, names):
    code, err = cli(image_dir, tmp_path / "run", *extra, capsys=capsys)
    one_line(code, err, *names)
    assert not (tmp_path / "run").exists()


def test_config_is_validated_in_the_api_too(image_dir, tmp_path):
    with pytest.raises(ValueError, match="--save-every"):
        cfg(image_dir, tmp_path, 1, save_every=0)
    with pytest.raises(ValueError, match="--style-balance must be one of uniform, channels"):
        cfg(image_dir, tmp_path, 1, style_balance="layers")


def test_out_naming_a_file_is_one_line(image_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, err = cli(image_dir, tmp_path / "file", "--size", "32", "--crop", "32", "--steps", "1", capsys=capsys)
    one_line(code, err, str(tmp_path / "file"), "not a folder")


def test_resume_refuses_a_different_configuration(image_dir, tmp_path, capsys):
    out = tmp_path / "run"
    train(cfg(image_dir, out, 1))
    with pytest.raises(ValueError, match=r"--batch \(2 in the checkpoint, 1 now\).*--lr \(0.0001 in the checkpoint, 0.001 now\)"):
        train(cfg(image_dir, out, 2, resume=True, batch=1, lr=1e-3))
    with pytest.raises(ValueError, match=r"--style-balance \(uniform in the checkpoint, channels now\)"):
        train(cfg(image_dir, out, 2, resume=True, style_balance="channels"))
    # what may change on resume: the length, the budget and how often to save, log and sample
    path = train(cfg(image_dir, out, 2, resume=True, save_every=5, log_every=2, max_minutes=10))
    assert read_metadata(path)["steps"] == 2 and read_metadata(path)["lr"] == 1e-4


def test_broken_checkpoints_are_one_line(image_dir, tmp_path):
    out = tmp_path / "run"
    train(cfg(image_dir, out, 1))
    ckpt = out / "checkpoint.pt"
    data = ckpt.read_bytes()
    for broken in (data[: len(data) // 2], b"garbage", b""):
        ckpt.write_bytes(broken)
        with pytest.raises(ValueError, match="checkpoint.pt") as exc:
            train(cfg(image_dir, out, 2, resume=True))
        assert len(str(exc.value).splitlines()) == 1


def test_a_diverging_loss_is_one_line(image_dir, tmp_path, monkeypatch, capsys):
    import adain.training.train as module

    real = module.loss_terms

    def nan_loss(*args, **kwargs):
        lc, ls, out = real(*args, **kwargs)
        return lc * float("nan"), ls, out

    monkeypatch.setattr(module, "loss_terms", nan_loss)
    with pytest.raises(ValueError, match=r"loss became nan at step 1.*--lr"):
        train(cfg(image_dir, tmp_path / "run", 2))


def test_log_is_cut_back_to_the_checkpoint_on_resume(image_dir, tmp_path):
    """A kill after the log got ahead of the last checkpoint: the resumed run writes each step once."""
    out = tmp_path / "run"
    train(cfg(image_dir, out, 2))
    saved = tmp_path / "at2.pt"
    shutil.copy(out / "checkpoint.pt", saved)
    train(cfg(image_dir, out, 4, resume=True))
    shutil.copy(saved, out / "checkpoint.pt")  # as if killed at step 4 before its checkpoint
    train(cfg(image_dir, out, 4, resume=True))
    steps = [int(r["step"]) for r in csv.DictReader(open(out / "log.csv"))]
    assert steps == [1, 2, 3, 4]


def test_checkpoint_of_the_earlier_format_resumes(image_dir, tmp_path):
    """A checkpoint with exactly the keys the earlier code wrote (no new ones) resumes, and a fresh run
    with the same settings then reaches the same weights."""
    out = tmp_path / "run"
    train(cfg(image_dir, out, 1))
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    old_keys = {"decoder", "optimizer", "scheduler", "step", "elapsed", "torch_rng", "config"}
    earlier = {k: state[k] for k in old_keys}
    config = asdict(cfg(image_dir, out, 1))
    earlier["config"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in config.items()}
    torch.save(earlier, out / "checkpoint.pt")
    resumed = train(cfg(image_dir, out, 2, resume=True))
    straight = train(cfg(image_dir, tmp_path / "straight", 2))
    from safetensors.torch import load_file

    a, b = load_file(str(resumed)), load_file(str(straight))
    assert all(torch.equal(a[k], b[k]) for k in a)
