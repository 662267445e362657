"""Checkpoints: what they hold (:class:`TrainState`), reading and writing them, and resuming a run from one.

A checkpoint (``checkpoint.pt``, written atomically) holds the network, its optimizer and lr schedule, the
EMA of its weights (with ``ema > 0``), the step, the elapsed time, the torch RNG state and the configuration;
the batch drawn at each step depends only on ``(seed, rank, step)`` (:func:`adain.training.train.batch_generator`), so a
resume continues exactly where a run stopped. Rows of ``log.csv`` written after the last checkpoint are dropped on resume.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from adain.errors import InputError
from adain.io.atomic import atomic_path
from adain.io.images import write_text_atomic
from adain.training.config import TrainConfig, check_same_run

LOG_HEADER = ["step", "loss", "content", "style", "lr", "images_per_s", "elapsed_s", "distill"]
"""The columns of a run's ``log.csv``."""
CHECKPOINT_KEYS = ("decoder", "optimizer", "scheduler", "step", "elapsed", "torch_rng")
"""The keys a checkpoint must have; ``config`` and, with an EMA, ``ema`` come beside them."""


class TrainState:
    """What a checkpoint holds: the decoder, its optimizer and lr schedule, the EMA, the step, the elapsed time.

    :meth:`state_dict` / :meth:`load_state_dict` read and write the checkpoint's dictionary (the torch RNG
    state and the configuration too); the format is that of every earlier version.
    """

    def __init__(self, decoder: nn.Module, cfg: TrainConfig) -> None:
        self.decoder = decoder
        self.optimizer = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
        decay = cfg.lr_decay
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: 1.0 / (1.0 + decay * s))
        self.ema = AveragedModel(decoder, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema > 0 else None
        self.step = 0
        self.elapsed = 0.0

    def state_dict(self, settings: dict) -> dict:
        """The checkpoint's dictionary, ``settings`` (:meth:`TrainConfig.settings`) as its ``config``."""
        return {
            "decoder": self.decoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "torch_rng": torch.get_rng_state(),
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
            "config": settings,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a checkpoint's dictionary (:func:`read_checkpoint`); sets the torch RNG state too."""
        self.decoder.load_state_dict(state["decoder"])
        self.optimizer.load_state_dict(state["optimizer"])
        for param, param_state in self.optimizer.state.items():  # moments in the parameters' memory format
            for key, value in param_state.items():
                if torch.is_tensor(value) and value.shape == param.shape:
                    param_state[key] = torch.empty_like(param).copy_(value)
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        torch.set_rng_state(state["torch_rng"])
        if self.ema is not None and "ema" in state:  # else the average starts from the resumed weights
            self.ema.load_state_dict(state["ema"])


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's dictionary; a truncated, garbage or foreign file is one :class:`InputError`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and torch errors alike mean a damaged file
        detail = (str(exc).splitlines() or [""])[0][:80] or type(exc).__name__
        raise InputError(f"{path}: not a readable checkpoint ({detail}); remove it to start over") from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise InputError(f"{path}: not an adain checkpoint (no {', '.join(missing)}); remove it to start over")
    return state


def save_checkpoint(state: TrainState, settings: dict, path: Path) -> None:
    """Write ``state`` (with ``settings``) to ``path`` atomically: a killed run leaves the previous checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state.state_dict(settings), tmp)


def trim_log(path: Path, step: int) -> None:
    """Drop the rows of ``log.csv`` after ``step`` (written after the last checkpoint by a killed run)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    keep = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
    if len(keep) != len(rows) - 1:
        buffer = io.StringIO()
        csv.writer(buffer).writerows([rows[0] if rows else LOG_HEADER, *keep])
        write_text_atomic(path, buffer.getvalue())


def resume(state: TrainState, cfg: TrainConfig, ckpt: Path, log_path: Path, main: bool) -> None:
    """Load ``ckpt`` into ``state`` if asked and present; refuse other settings; cut the log back to its step."""
    if not cfg.resume:
        return
    if not ckpt.is_file():
        if main:
            print(f"no checkpoint at {ckpt}: starting from scratch", file=sys.stderr)
        return
    stored = read_checkpoint(ckpt)
    check_same_run(stored.get("config", {}), cfg, ckpt)
    state.load_state_dict(stored)
    if main:
        trim_log(log_path, state.step)
        print(f"resumed from {ckpt} at step {state.step}", file=sys.stderr)
