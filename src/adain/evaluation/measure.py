"""Measuring on this machine: call times with queued GPU work included, peak memory, and what the CPU computes natively.

Shared by ``adain bench`` (:mod:`adain.evaluation.bench`) and ``adain eval`` (:mod:`adain.evaluation.evaluate`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

from adain.device import auto_bf16
from adain.errors import UsageError

T = TypeVar("T")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], T], device: torch.device) -> tuple[T, float]:
    """``(fn(), seconds)``: the wall-clock time of one call, the GPU work it queued included."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - start


def time_calls(fn: Callable[[], object], device: torch.device, *, runs: int = 5, warmup: int = 1) -> list[float]:
    """Seconds of each of ``runs`` calls of ``fn`` after ``warmup`` untimed calls."""
    if runs < 1 or warmup < 0:
        raise UsageError(f"runs must be ≥ 1 and warmup ≥ 0, got {runs} and {warmup}")
    for _ in range(warmup):
        fn()
    return [timed(fn, device)[1] for _ in range(runs)]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def peak_memory(device: torch.device, interval: float = 0.002) -> Iterator[dict[str, int]]:
    """Measure peak memory in the block: yields a dict whose ``"bytes"`` is set on exit.

    CUDA: ``torch.cuda.max_memory_allocated`` (reset on entry). CPU: the peak
    resident set size of the process, sampled every ``interval`` seconds by a thread
    (includes the weights and everything else the process holds).
    """
    result = {"bytes": 0}
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield result
        synchronize(device)
        result["bytes"] = torch.cuda.max_memory_allocated(device)
        return
    stop = threading.Event()
    peak = [_rss_bytes()]

    def sample() -> None:
        while not stop.wait(interval):
            peak[0] = max(peak[0], _rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["bytes"] = max(peak[0], _rss_bytes())


def cpu_features(device: torch.device) -> str:
    """``", AVX512, bf16 native"``: PyTorch's CPU kernel level and whether bf16 is native (empty on GPUs)."""
    if device.type != "cpu":
        return ""
    return f", {torch.backends.cpu.get_cpu_capability()}, bf16 {'native' if auto_bf16(device) else 'not native'}"
