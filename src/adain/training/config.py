"""The settings of a training run (:class:`TrainConfig`), and which of them a resumed run must keep.

A resumed run must have the settings of its checkpoint (:data:`RUN_SETTINGS`, checked by
:func:`check_same_run`); only its length, time budget, how often it saves, logs and samples, the
data folders' location and the device may change (:data:`RESUME_OVERRIDES`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from adain.errors import InputError, UsageError
from adain.limits import MIN_SIDE
from adain.losses import STYLE_BALANCES

MIN_CROP = MIN_SIDE  # a crop is an image the networks take: relu4_1 is 1/8 of it, 2x2 at least, or its std is 0
MODELS = ("full", "lite")
"""What a run trains: the full model's decoder, or the lite network (distilled from the full model)."""
RUN_SETTINGS = (
    "batch", "size", "min_size", "crop", "lr", "lr_decay", "style_weight", "style_balance", "seed", "ema", "width", "init", "model", "distill_weight",
)
"""Settings that define a run: a resumed run must use the checkpoint's."""
RESUME_OVERRIDES = (
    "steps", "max_minutes", "save_every", "sample_every", "log_every", "content", "style", "device", "bf16", "channels_last", "compile", "cache_images",
)
"""Settings a resumed run may change (the metadata records the values in use)."""


@dataclass
class TrainConfig:
    """Training options; defaults are the paper's (Adam 1e-4, batch 8, 512 → 256 crops, 160k steps).

    Raises:
        UsageError: an option out of range (the message names the command-line option).
    """

    content: Path
    style: Path
    out: Path = Path("runs/adain")
    steps: int = 160_000
    batch: int = 8
    size: int = 512
    min_size: int = 0
    crop: int = 256
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    style_balance: str = "uniform"
    seed: int = 0
    device: str = "auto"
    bf16: bool | None = None
    channels_last: bool = True
    cache_images: bool = False
    compile: bool = False
    ema: float = 0.0
    init: Path | None = None
    resume: bool = False
    max_minutes: float = 0.0
    save_every: int = 200
    sample_every: int = 500
    log_every: int = 10
    width: float = 1.0
    model: str = "full"
    distill_weight: float = 10.0
    extra_meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        def bad(option: str, rule: str, value: object) -> UsageError:
            return UsageError(f"--{option} must be {rule}, got {value}")

        if self.model not in MODELS:
            raise bad("model", f"one of {', '.join(MODELS)}", self.model)
        for name in ("steps", "max_minutes", "lr_decay", "style_weight", "distill_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise bad(name.replace("_", "-"), "≥ 0", value)
        for name in ("batch", "save_every", "sample_every", "log_every"):
            if getattr(self, name) < 1:
                raise bad(name.replace("_", "-"), "at least 1", getattr(self, name))
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise bad("lr", "> 0", self.lr)
        if self.crop < MIN_CROP or self.crop % 8:
            raise bad("crop", f"a multiple of 8, at least {MIN_CROP}", self.crop)
        if self.size < self.crop:
            raise UsageError(f"--size must be at least --crop ({self.crop}), got {self.size}")
        if self.min_size and not self.crop <= self.min_size <= self.size:
            raise UsageError(f"--min-size must be 0 (off) or between --crop ({self.crop}) and --size ({self.size}), got {self.min_size}")
        if self.style_balance not in STYLE_BALANCES:
            raise bad("style-balance", f"one of {', '.join(STYLE_BALANCES)}", self.style_balance)
        if not 0 <= self.ema < 1:
            raise bad("ema", "in [0, 1)", self.ema)
        if not self.width > 0:
            raise UsageError(f"width must be > 0, got {self.width}")

    def settings(self) -> dict:
        """The configuration as JSON values (paths as strings), as stored in the checkpoint."""
        return json.loads(json.dumps(asdict(self), default=str))


def check_same_run(stored: dict, cfg: TrainConfig, path: Path) -> None:
    """Raise naming every option of :data:`RUN_SETTINGS` whose value differs from the checkpoint's ``stored`` config.

    Keys an older checkpoint lacks are not compared.
    """
    now = cfg.settings()
    differing = []
    for key in RUN_SETTINGS:
        if key not in stored:
            continue
        old, new = stored[key], now[key]
        same = math.isclose(old, new, rel_tol=1e-9) if isinstance(old, float) and isinstance(new, (int, float)) else old == new
        if not same:
            differing.append(f"--{key.replace('_', '-')} ({old} in the checkpoint, {new} now)")
    if differing:
        raise InputError(f"{path}: made with other settings: {', '.join(differing)}; resume with the checkpoint's values, or use another --out for a new run")
