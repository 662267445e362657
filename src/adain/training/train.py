"""Decoder training with the paper's objective ``L = Lc + λ·Ls``.

Single process, or several under ``torchrun`` (DDP: gloo on CPU, NCCL on CUDA).
With ``ema > 0`` an exponential moving average of the weights is kept too and
exported beside the raw weights as ``decoder-ema.safetensors``.
Checkpoints are atomic and hold the decoder, the optimizer, the step, the
elapsed time and the RNG state; the batch drawn at each step depends only on
``(seed, rank, step)``, so ``--resume`` continues exactly where a run stopped.
"""

from __future__ import annotations

import csv
import json
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from adain.atomic import atomic_path
from adain.decoder import (
    Decoder,
    init_like_paper,
    load_decoder,
    read_metadata,
    save_decoder,
)
from adain.device import auto_bf16, autocast_for, dist_env, hardware_name, rank_device
from adain.encoder import Encoder
from adain.io import find_images, save_image
from adain.losses import loss_terms
from adain.ops import adain
from adain.training.data import CropSampler


@dataclass
class TrainConfig:
    """Training options; defaults are the paper's (Adam 1e-4, batch 8, 512 → 256 crops, 160k steps)."""

    content: Path
    style: Path
    out: Path = Path("runs/adain")
    steps: int = 160_000
    batch: int = 8
    size: int = 512
    crop: int = 256
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
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
    extra_meta: dict = field(default_factory=dict)


PHASE_KEYS = ("steps", "size", "crop", "batch", "lr", "style_weight", "data", "hardware", "bf16", "wall_time_s", "init")


def training_history(meta: dict) -> list[dict]:
    """The training phases that made a decoder, oldest first, from its metadata.

    A run started with ``--init`` records the phases of its starting weights
    (their own ``history`` and then their last phase), so the metadata of a
    decoder trained in several phases (small crops, then larger) tells all of it.
    """
    return [*meta.get("history", []), {k: meta[k] for k in PHASE_KEYS if k in meta}]


def _atomic_save(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _batch_generator(cfg: TrainConfig, rank: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((cfg.seed * 1_000_003 + rank) * 10_000_019 + step)


def _sample_grid(encoder: Encoder, decoder: nn.Module, content: Tensor, style: Tensor) -> Tensor:
    """Rows of content | style | output, ``(3, N·H, 3·W)``."""
    with torch.no_grad():
        out = decoder(adain(encoder.encode(content), encoder.encode(style))).float().clamp(0, 1)
    rows = [torch.cat([c, s, o], dim=2) for c, s, o in zip(content, style, out)]
    return torch.cat(rows, dim=1)


def train(cfg: TrainConfig) -> Path:
    """Train (or resume); returns the path of the exported decoder weights."""
    env = dist_env()
    world, rank = env.world_size, env.rank
    device = rank_device(cfg.device, env)
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main = rank == 0
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    if main:
        out.mkdir(parents=True, exist_ok=True)

    content_files, style_files = find_images(cfg.content), find_images(cfg.style)
    torch.manual_seed(cfg.seed)
    encoder = Encoder().to(device)
    decoder = Decoder(width=cfg.width)
    init_like_paper(decoder, cfg.seed)
    if cfg.init is not None:
        decoder.load_state_dict(load_decoder(cfg.init).state_dict())
    decoder = decoder.to(device).train().requires_grad_(True)
    if cfg.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
        decoder = decoder.to(memory_format=torch.channels_last)
    ema = AveragedModel(decoder, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema > 0 else None
    optimizer = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1.0 + cfg.lr_decay * s))

    step, elapsed = 0, 0.0
    if cfg.resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        decoder.load_state_dict(state["decoder"])
        optimizer.load_state_dict(state["optimizer"])
        for param, param_state in optimizer.state.items():  # moments in the parameters' memory format
            for key, value in param_state.items():
                if torch.is_tensor(value) and value.shape == param.shape:
                    param_state[key] = torch.empty_like(param).copy_(value)
        scheduler.load_state_dict(state["scheduler"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        torch.set_rng_state(state["torch_rng"])
        if ema is not None and "ema" in state:  # else the average starts from the resumed weights
            ema.load_state_dict(state["ema"])
        if main:
            print(f"resumed from {ckpt_path} at step {step}", file=sys.stderr)
    elif cfg.resume and main:
        print(f"no checkpoint at {ckpt_path}: starting from scratch", file=sys.stderr)

    model: nn.Module = decoder
    if world > 1:
        model = nn.parallel.DistributedDataParallel(decoder, device_ids=[device.index] if device.type == "cuda" else None)
    forward_model = torch.compile(model) if cfg.compile else model

    history = training_history(read_metadata(cfg.init)) if cfg.init is not None else []

    def checkpoint() -> None:
        _atomic_save(
            {
                "decoder": decoder.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step": step,
                "elapsed": elapsed,
                "torch_rng": torch.get_rng_state(),
                **({"ema": ema.state_dict()} if ema is not None else {}),
                "config": json.loads(json.dumps(asdict(cfg), default=str)),
            },
            ckpt_path,
        )
        meta = {
            "steps": step,
            "crop": cfg.crop,
            "size": cfg.size,
            "batch": cfg.batch * world,
            "style_weight": cfg.style_weight,
            "loss": "Lc + style_weight*Ls, mse of relu4_1 / of channel mean and std at relu1_1..relu4_1",
            "lr": cfg.lr,
            "lr_decay": cfg.lr_decay,
            "data": {"content": f"{Path(cfg.content).name} ({len(content_files)} images)", "style": f"{Path(cfg.style).name} ({len(style_files)} images)"},
            "hardware": f"{world} x {hardware_name(device)}",
            "bf16": auto_bf16(device) if cfg.bf16 is None else cfg.bf16,
            "wall_time_s": round(elapsed),
            "init": str(cfg.init) if cfg.init else "scratch",
            "torch": torch.__version__,
            "history": history,
            "total_steps": step + sum(int(h.get("steps", 0)) for h in history),
            "total_wall_time_s": round(elapsed) + sum(int(h.get("wall_time_s", 0)) for h in history),
            **cfg.extra_meta,
        }
        save_decoder(decoder, out / "decoder.safetensors", meta)
        if ema is not None:
            save_decoder(ema.module, out / "decoder-ema.safetensors", {**meta, "ema": cfg.ema, "ema_steps": int(ema.n_averaged)})

    def write_sample() -> None:
        decoder.eval()
        with ctx:
            grid = _sample_grid(encoder, decoder, sample_c, sample_s)
        decoder.train()
        save_image(grid, out / "samples" / f"step_{step:07d}.jpg", quality=90)

    stop = {"flag": False}

    def request_stop(_signum: int, _frame: object) -> None:
        stop["flag"] = True

    old_handlers = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)} if main and world == 1 else {}

    contents = CropSampler(content_files, size=cfg.size, crop=cfg.crop, cache=cfg.cache_images)
    styles = CropSampler(style_files, size=cfg.size, crop=cfg.crop, cache=cfg.cache_images)
    sample_gen = torch.Generator().manual_seed(12345)
    sample_c, sample_s = contents.batch(4, sample_gen).to(device), styles.batch(4, sample_gen).to(device)
    log_path = out / "log.csv"
    new_log = main and not log_path.exists()
    log_file = open(log_path, "a", newline="") if main else None
    writer = csv.writer(log_file) if log_file else None
    if new_log:
        writer.writerow(["step", "loss", "content", "style", "lr", "images_per_s", "elapsed_s"])
    bar = tqdm(total=cfg.steps, initial=step, desc="train", disable=not main, dynamic_ncols=True, mininterval=1 if sys.stderr.isatty() else 30)
    budget_end = time.time() + cfg.max_minutes * 60 if cfg.max_minutes > 0 else float("inf")
    ctx = autocast_for(device, cfg.bf16)
    try:
        while step < cfg.steps and not stop["flag"] and time.time() < budget_end:
            t0 = time.time()
            gen = _batch_generator(cfg, rank, step)
            content = contents.batch(cfg.batch, gen).to(device, non_blocking=True)
            style = styles.batch(cfg.batch, gen).to(device, non_blocking=True)
            if cfg.channels_last:
                content = content.contiguous(memory_format=torch.channels_last)
                style = style.contiguous(memory_format=torch.channels_last)
            with ctx:
                lc, ls, _ = loss_terms(encoder, forward_model, content, style)
                loss = lc + cfg.style_weight * ls
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(decoder)
            step += 1
            dt = time.time() - t0
            elapsed += dt
            if not torch.isfinite(loss):
                raise RuntimeError(f"loss became {loss.item()} at step {step}; lower --lr")
            if main:
                ips = cfg.batch * world / dt
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", lc=f"{lc.item():.3f}", ls=f"{ls.item():.3f}", img_s=f"{ips:.1f}")
                if step % cfg.log_every == 0 or step == 1:
                    lr = scheduler.get_last_lr()[0]
                    writer.writerow([step, f"{loss.item():.5f}", f"{lc.item():.5f}", f"{ls.item():.5f}", f"{lr:.3e}", f"{ips:.2f}", f"{elapsed:.1f}"])
                    log_file.flush()
                if step % cfg.save_every == 0:
                    checkpoint()
                if step % cfg.sample_every == 0:
                    write_sample()
        if main:
            checkpoint()
            if step % cfg.sample_every:  # the last weights' sample too
                write_sample()
    finally:
        bar.close()
        if log_file:
            log_file.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        if world > 1:
            dist.destroy_process_group()
    return out / "decoder.safetensors"
