"""Decoder training with the paper's objective ``L = Lc + λ·Ls``, and the lite model's distillation.

``model="lite"`` trains :class:`adain.lite.model.LiteNet` instead of the decoder: the same loop,
data, checkpoints and resumes, with ``L = Lc + λ·Ls + β·Ld`` where ``Ld`` pulls the student's image
toward the full model's (the teacher: the shipped decoder) on the same pair.

Single process, or several under ``torchrun`` (DDP: gloo on CPU, NCCL on CUDA).
With ``ema > 0`` an exponential moving average of the weights is kept too and
exported beside the raw weights as ``decoder-ema.safetensors``.
Checkpoints are atomic and hold the decoder, the optimizer, the step, the
elapsed time, the RNG state and the configuration; the batch drawn at each step
depends only on ``(seed, rank, step)``, so ``--resume`` continues exactly where a
run stopped. A resumed run must have the settings of the checkpoint
(:data:`RUN_SETTINGS`); only its length, time budget, how often it saves, logs and
samples, the data folders' location and the device may change (:data:`RESUME_OVERRIDES`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from adain.atomic import atomic_path, check_not_an_input
from adain.decoder import (
    Decoder,
    init_like_paper,
    load_decoder,
    read_metadata,
    save_decoder,
    training_steps,
)
from adain.device import auto_bf16, autocast_for, dist_env, hardware_name, rank_device
from adain.encoder import Encoder, fingerprint
from adain.errors import InputError, UsageError
from adain.io import find_images, save_image, write_text_atomic
from adain.lite.model import LiteNet, load_lite, save_lite
from adain.lite.weights import read_lite_metadata
from adain.losses import STYLE_BALANCES, distill_terms, loss_terms
from adain.ops import adain
from adain.training.data import CropSampler

MIN_CROP = 16  # relu4_1 is 1/8 of the crop: 2x2 at least, or its std is 0
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
LOG_HEADER = ["step", "loss", "content", "style", "lr", "images_per_s", "elapsed_s", "distill"]


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


PHASE_KEYS = ("steps", "size", "min_size", "crop", "batch", "lr", "style_weight", "style_balance", "data", "hardware", "bf16", "wall_time_s", "init")


def training_history(meta: dict) -> list[dict]:
    """The training phases that made a decoder, oldest first, from its metadata.

    A run started with ``--init`` records the phases of its starting weights
    (their own ``history`` and then their last phase), so the metadata of a
    decoder trained in several phases (small crops, then larger) tells all of it.
    """
    return [*meta.get("history", []), {k: meta[k] for k in PHASE_KEYS if k in meta}]


def batch_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The generator of the batch of ``step`` on ``rank``: batches depend on nothing else, so resumes are exact."""
    return torch.Generator().manual_seed((seed * 1_000_003 + rank) * 10_000_019 + step)


def sample_grid(stylize: Callable[[Tensor, Tensor], Tensor], content: Tensor, style: Tensor) -> Tensor:
    """Rows of content | style | ``stylize(content, style)``, ``(3, N·H, 3·W)``."""
    with torch.no_grad():
        out = stylize(content, style).float().clamp(0, 1)
    rows = [torch.cat([c, s, o], dim=2) for c, s, o in zip(content, style, out)]
    return torch.cat(rows, dim=1)


CHECKPOINT_KEYS = ("decoder", "optimizer", "scheduler", "step", "elapsed", "torch_rng")


class TrainState:
    """What a checkpoint holds: the decoder, its optimizer and lr schedule, the EMA, the step, the elapsed time.

    :meth:`state_dict` / :meth:`load_state_dict` read and write the checkpoint's dictionary (the torch RNG
    state and the configuration too); the format is that of every earlier version.
    """

    def __init__(self, decoder: nn.Module, cfg: TrainConfig) -> None:
        self.decoder = decoder
        self.optimizer = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
        decay = cfg.lr_decay
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s, decay=decay: 1.0 / (1.0 + decay * s))
        self.ema = AveragedModel(decoder, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema > 0 else None
        self.step = 0
        self.elapsed = 0.0

    def state_dict(self, settings: dict) -> dict:
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


def run_metadata(cfg: TrainConfig, *, world: int, device: torch.device, data: dict, history: list[dict]) -> dict:
    """What the exported weights record about the run: its settings, data, hardware and earlier phases."""
    return {
        "crop": cfg.crop,
        "size": cfg.size,
        "min_size": cfg.min_size or cfg.size,
        "batch": cfg.batch * world,
        "style_weight": cfg.style_weight,
        "style_balance": cfg.style_balance,
        "loss": "Lc + style_weight*Ls, mse of relu4_1 / of channel mean and std at relu1_1..relu4_1"
                + (", taps weighted by channel count" if cfg.style_balance == "channels" else "")
                + (" + distill_weight*Ld, mean absolute pixel difference to the teacher's image" if cfg.model == "lite" else ""),
        **({"distill_weight": cfg.distill_weight} if cfg.model == "lite" else {}),
        "lr": cfg.lr,
        "lr_decay": cfg.lr_decay,
        "data": data,
        "hardware": f"{world} x {hardware_name(device)}",
        "bf16": auto_bf16(device) if cfg.bf16 is None else cfg.bf16,
        "init": str(cfg.init) if cfg.init else "scratch",
        "torch": torch.__version__,
        "history": history,
    }


def progress_metadata(state: TrainState, history: list[dict]) -> dict:
    """What the exported weights record about the progress: steps and wall time, this phase's and in all."""
    return {
        "steps": state.step,
        "wall_time_s": round(state.elapsed),
        "total_steps": state.step + sum(int(h.get("steps", 0)) for h in history),
        "total_wall_time_s": round(state.elapsed) + sum(int(h.get("wall_time_s", 0)) for h in history),
    }


def weights_name(model: str) -> str:
    """The stem of a run's exported weights: ``decoder`` or ``lite`` (``.safetensors``, ``-ema.safetensors``)."""
    return "lite" if model == "lite" else "decoder"


def export(state: TrainState, out: Path, meta: dict, ema_decay: float, model: str = "full") -> None:
    """Write ``decoder.safetensors`` (``lite.safetensors``), and its ``-ema`` twin with an EMA, into ``out``."""
    save = save_lite if model == "lite" else save_decoder
    name = weights_name(model)
    save(state.decoder, out / f"{name}.safetensors", meta)
    if state.ema is not None:
        save(state.ema.module, out / f"{name}-ema.safetensors", {**meta, "ema": ema_decay, "ema_steps": int(state.ema.n_averaged)})


def train_step(
    state: TrainState, encoder: Encoder, model: nn.Module, content: Tensor, style: Tensor, cfg: TrainConfig, ctx, teacher: nn.Module | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One optimisation step on a batch; returns ``(loss, Lc, Ls, Ld)`` (``Ld`` 0 without a ``teacher``).

    Raises:
        UsageError: the loss is not finite (the weights are left as they were).
    """
    with ctx:
        if teacher is None:
            lc, ls, _ = loss_terms(encoder, model, content, style, cfg.style_balance)
            ld = torch.zeros(())
        else:
            lc, ls, ld, _ = distill_terms(encoder, teacher, model, content, style, cfg.style_balance)
        loss = lc + cfg.style_weight * ls + cfg.distill_weight * ld
    if not torch.isfinite(loss):
        raise UsageError(f"loss became {loss.item()} at step {state.step + 1}; lower --lr (the last checkpoint is kept)")
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    state.scheduler.step()
    if state.ema is not None:
        state.ema.update_parameters(state.decoder)
    state.step += 1
    return loss.detach(), lc.detach(), ls.detach(), ld.detach()


def _setup_distributed(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    """``(world, rank, device)``; under torchrun the process group is started (NCCL on CUDA, gloo on CPU)."""
    env = dist_env()
    world, rank = env.world_size, env.rank
    device = rank_device(cfg.device, env)
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, rank, device


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder (--out is the run's folder)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the run folder ({exc.strerror or exc})") from None


def _build_state(cfg: TrainConfig, device: torch.device) -> TrainState:
    torch.manual_seed(cfg.seed)
    decoder: nn.Module
    if cfg.model == "lite":
        decoder = LiteNet()  # torch's default init, from the seed above
        if cfg.init is not None:
            decoder.load_state_dict(load_lite(cfg.init).state_dict())
    else:
        decoder = init_like_paper(Decoder(width=cfg.width), cfg.seed)
        if cfg.init is not None:
            decoder.load_state_dict(load_decoder(cfg.init).state_dict())
    decoder = decoder.to(device).train().requires_grad_(True)
    if cfg.channels_last:
        decoder = decoder.to(memory_format=torch.channels_last)
    return TrainState(decoder, cfg)


def _resume(state: TrainState, cfg: TrainConfig, ckpt: Path, log_path: Path, main: bool) -> None:
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


class _StopFlag:
    """Set by SIGTERM/SIGINT: the loop stops after the step in progress and saves."""

    def __init__(self) -> None:
        self.set = False

    def __call__(self, _signum: int, _frame: object) -> None:
        self.set = True


@dataclass
class Run:
    """One training run's fixed parts around its :class:`TrainState`: where it writes, what it records,
    the encoder, the autocast context, the sample pairs and, for the lite model, its teacher."""

    cfg: TrainConfig
    state: TrainState
    out: Path
    encoder: Encoder
    ctx: object
    meta: dict
    sample_content: Tensor
    sample_style: Tensor
    teacher: nn.Module | None = None

    def save(self) -> None:
        """Checkpoint, then export the weights (and the EMA's) with their metadata."""
        save_checkpoint(self.state, self.cfg.settings(), self.out / "checkpoint.pt")
        meta = {**self.meta, **progress_metadata(self.state, self.meta["history"]), **self.cfg.extra_meta}
        export(self.state, self.out, meta, self.cfg.ema, self.cfg.model)

    def sample(self) -> None:
        """``samples/step_NNNNNNN.jpg``: content | style | output for the fixed sample pairs."""
        decoder = self.state.decoder
        decoder.eval()
        if self.cfg.model == "lite":
            stylize = decoder
        else:
            def stylize(content: Tensor, style: Tensor) -> Tensor:
                return decoder(adain(self.encoder.encode(content), self.encoder.encode(style)))
        with self.ctx:
            grid = sample_grid(stylize, self.sample_content, self.sample_style)
        decoder.train()
        save_image(grid, self.out / "samples" / f"step_{self.state.step:07d}.jpg", quality=90)


def train(cfg: TrainConfig) -> Path:
    """Train (or resume); returns the path of the exported weights (the decoder's, or the lite network's).

    Raises:
        InputError: bad folders or files, an unreadable checkpoint, a checkpoint of other settings.
        UsageError: the loss stopped being finite.
    """
    out = Path(cfg.out)
    world, rank, device = _setup_distributed(cfg)
    main = rank == 0
    if cfg.init is not None:  # the run writes its weights into --out: never over the weights it starts from
        name = weights_name(cfg.model)
        for written in (out / f"{name}.safetensors", out / f"{name}-ema.safetensors"):
            check_not_an_input(written, {"--init": cfg.init})
    if main:
        _prepare_out(out)
    log_path = out / "log.csv"
    content_files, style_files = find_images(cfg.content), find_images(cfg.style)
    state = _build_state(cfg, device)
    _resume(state, cfg, out / "checkpoint.pt", log_path, main)
    encoder = Encoder().to(device)
    if cfg.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
    model: nn.Module = state.decoder
    if world > 1:
        model = nn.parallel.DistributedDataParallel(state.decoder, device_ids=[device.index] if device.type == "cuda" else None)
    forward_model = torch.compile(model) if cfg.compile else model
    data = {"content": f"{Path(cfg.content).name} ({len(content_files)} images)", "style": f"{Path(cfg.style).name} ({len(style_files)} images)"}
    history = training_history((read_lite_metadata if cfg.model == "lite" else read_metadata)(cfg.init)) if cfg.init is not None else []
    teacher = _teacher(cfg, device)
    meta = run_metadata(cfg, world=world, device=device, data=data, history=history)
    if teacher is not None:
        meta["teacher"] = f"decoder {fingerprint(teacher)} ({training_steps(teacher.metadata)} steps)"
    contents = CropSampler(content_files, size=cfg.size, crop=cfg.crop, cache=cfg.cache_images, min_size=cfg.min_size or None)
    styles = CropSampler(style_files, size=cfg.size, crop=cfg.crop, cache=cfg.cache_images, min_size=cfg.min_size or None)
    sample_gen = torch.Generator().manual_seed(12345)
    run = Run(cfg, state, out, encoder, autocast_for(device, cfg.bf16), meta, contents.batch(4, sample_gen).to(device), styles.batch(4, sample_gen).to(device),
              teacher)
    stop = _StopFlag()
    old_handlers = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)} if main and world == 1 else {}
    log_file = _open_log(log_path) if main else None
    bar = tqdm(total=cfg.steps, initial=state.step, desc="train", disable=not main, dynamic_ncols=True, mininterval=1 if sys.stderr.isatty() else 30)
    budget_end = time.time() + cfg.max_minutes * 60 if cfg.max_minutes > 0 else float("inf")
    try:
        while state.step < cfg.steps and not stop.set and time.time() < budget_end:
            t0 = time.time()
            gen = batch_generator(cfg.seed, rank, state.step)
            content = contents.batch(cfg.batch, gen).to(device, non_blocking=True)
            style = styles.batch(cfg.batch, gen).to(device, non_blocking=True)
            if cfg.channels_last:
                content = content.contiguous(memory_format=torch.channels_last)
                style = style.contiguous(memory_format=torch.channels_last)
            loss, lc, ls, ld = train_step(state, encoder, forward_model, content, style, cfg, run.ctx, teacher)
            dt = time.time() - t0
            state.elapsed += dt
            if main:
                ips = cfg.batch * world / dt
                bar.update(1)
                terms = {"lc": lc, "ls": ls, **({"ld": ld} if teacher is not None else {})}
                bar.set_postfix(loss=f"{loss.item():.3f}", **{k: f"{v.item():.3f}" for k, v in terms.items()}, img_s=f"{ips:.1f}")
                _after_step(run, log_file, (loss, lc, ls, ld), ips)
        if main:
            run.save()
            if state.step % cfg.sample_every:  # the last weights' sample too
                run.sample()
    finally:
        bar.close()
        if log_file:
            log_file.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        if world > 1:
            dist.destroy_process_group()
    return out / f"{weights_name(cfg.model)}.safetensors"


def _teacher(cfg: TrainConfig, device: torch.device) -> nn.Module | None:
    """The lite model's teacher: the shipped decoder, frozen (``None`` for the full model's run)."""
    if cfg.model != "lite":
        return None
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    return load_decoder(memory_format=memory_format).to(device)


def _open_log(path: Path):
    """``log.csv`` for appending (with its header if new)."""
    new = not path.exists()
    f = open(path, "a", newline="")  # noqa: SIM115 - kept open for the whole run, closed by train()
    if new:
        csv.writer(f).writerow(LOG_HEADER)
    return f


def _after_step(run: Run, log_file, losses: tuple[Tensor, Tensor, Tensor, Tensor], images_per_s: float) -> None:
    """Log, checkpoint and sample on their schedules (main process)."""
    state, cfg = run.state, run.cfg
    if state.step % cfg.log_every == 0 or state.step == 1:
        loss, lc, ls, ld = (x.item() for x in losses)
        lr = state.scheduler.get_last_lr()[0]
        row = [state.step, f"{loss:.5f}", f"{lc:.5f}", f"{ls:.5f}", f"{lr:.3e}", f"{images_per_s:.2f}", f"{state.elapsed:.1f}", f"{ld:.5f}"]
        csv.writer(log_file).writerow(row)
        log_file.flush()
    if state.step % cfg.save_every == 0:
        run.save()
    if state.step % cfg.sample_every == 0:
        run.sample()
