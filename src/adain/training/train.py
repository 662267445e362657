"""Decoder training with the paper's objective ``L = Lc + λ·Ls``, and the lite model's distillation.

``model="lite"`` trains :class:`adain.lite.model.LiteNet` instead of the decoder: the same loop,
data, checkpoints and resumes, with ``L = Lc + λ·Ls + β·Ld`` where ``Ld`` pulls the student's image
toward the full model's (the teacher: the shipped decoder) on the same pair.

Single process, or several under ``torchrun`` (DDP: gloo on CPU, NCCL on CUDA).
With ``ema > 0`` an exponential moving average of the weights is kept too and
exported beside the raw weights as ``decoder-ema.safetensors``.
The settings are a :class:`~adain.training.config.TrainConfig`; checkpoints and resumes are
:mod:`adain.training.checkpoint`'s: ``--resume`` continues exactly where a run stopped, with the
settings of its checkpoint (:data:`~adain.training.config.RUN_SETTINGS`).
"""

from __future__ import annotations

import csv
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm import tqdm

from adain.decoder import Decoder, init_like_paper, load_decoder, read_metadata, save_decoder, training_steps
from adain.device import auto_bf16, autocast_for, dist_env, hardware_name, rank_device
from adain.encoder import Encoder, fingerprint
from adain.errors import InputError, UsageError
from adain.io.atomic import check_not_an_input
from adain.io.images import find_images, save_image
from adain.lite.model import LiteNet, load_lite, save_lite
from adain.lite.weights import read_lite_metadata
from adain.losses import distill_terms, loss_terms
from adain.ops import adain
from adain.training.checkpoint import LOG_HEADER, TrainState, resume, save_checkpoint
from adain.training.config import TrainConfig
from adain.training.data import CropSampler

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
    """Create the run folder ``out``; a file in its place, or a folder that cannot be made, is one :class:`InputError`."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder (--out is the run's folder)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the run folder ({exc.strerror or exc})") from None


def _build_state(cfg: TrainConfig, device: torch.device) -> TrainState:
    """The network to train on ``device`` (from the ``--init`` weights, else initialised from the seed), with its optimizer."""
    torch.manual_seed(cfg.seed)
    lite = cfg.model == "lite"
    decoder: nn.Module = LiteNet() if lite else init_like_paper(Decoder(width=cfg.width), cfg.seed)  # LiteNet: torch's default init
    if cfg.init is not None:
        decoder.load_state_dict((load_lite if lite else load_decoder)(cfg.init).state_dict())
    decoder = decoder.to(device).train().requires_grad_(True)
    if cfg.channels_last:
        decoder = decoder.to(memory_format=torch.channels_last)
    return TrainState(decoder, cfg)


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
    resume(state, cfg, out / "checkpoint.pt", log_path, main)
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
