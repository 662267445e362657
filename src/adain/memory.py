"""How much memory this process can still get (no torch: the lite model's path checks sizes with it too)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def available_memory() -> int:
    """Bytes of host memory this process can still get: Linux's MemAvailable, lowered to what the cgroup
    (container) limit leaves; elsewhere the free physical pages."""
    free = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            left = int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text())
            free = left if free is None else min(free, left)
    if free is None:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return max(0, free)
