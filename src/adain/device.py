"""Devices: choosing one, bf16 support, autocast, and a readable hardware name."""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from adain.errors import UsageError
from adain.limits import MEMORY_SHARE
from adain.memory import available_memory


def pick_device(name: str) -> torch.device:
    """``auto`` → cuda if available else cpu; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


@dataclass(frozen=True)
class DistEnv:
    """This process's place in a ``torchrun`` job: ``rank`` of ``world_size``, and its GPU index ``local_rank``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int | None = None


def dist_env() -> DistEnv:
    """``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as ``torchrun`` sets them (one process, rank 0, outside it)."""
    local = os.environ.get("LOCAL_RANK")
    return DistEnv(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")), None if local is None else int(local))


def rank_device(name: str, env: DistEnv | None = None) -> torch.device:
    """:func:`pick_device`, on this rank's own GPU (``cuda:LOCAL_RANK``) under ``torchrun``."""
    device = pick_device(name)
    env = env or dist_env()
    if device.type == "cuda" and env.local_rank is not None:
        device = torch.device("cuda", env.local_rank)
    return device


def cpu_flags() -> str:
    """The CPU's description as Linux gives it (``/proc/cpuinfo``: model name, flags), or ``""`` elsewhere."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def mkldnn_bf16() -> bool:
    """Whether this torch's oneDNN kernels take bf16 on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_bf16(flags: str | None = None) -> bool:
    """True where the CPU computes bf16 natively (AVX-512 BF16 or AMX) and oneDNN uses it; ``flags``: a
    ``/proc/cpuinfo`` text to judge (default: this machine's, :func:`cpu_flags`)."""
    text = cpu_flags() if flags is None else flags
    return ("avx512_bf16" in text or "amx_bf16" in text) and mkldnn_bf16()


def auto_bf16(device: torch.device) -> bool:
    """bf16 where it is fast: CUDA, and CPUs with native bf16 (AVX-512 BF16 or AMX)."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def autocast_for(device: torch.device, bf16: bool | None) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast where it is fast (``None``: :func:`auto_bf16`) or forced, else a no-op."""
    use = auto_bf16(device) if bf16 is None else bf16
    if not use:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def hardware_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name} ({os.cpu_count()} cpus)"


def memory_budget() -> int:
    """Bytes one image's work may take: :data:`~adain.limits.MEMORY_SHARE` of :func:`available_memory`."""
    return int(available_memory() * MEMORY_SHARE)
