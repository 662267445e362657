"""Compiling where it pays: one rule for the long-running jobs (video, folders, data sets, the server).

``torch.compile`` makes the networks faster per call but costs minutes per input shape on a CPU
(torch's on-disk caches, on by default, shorten later runs). A job compiles a shape when what is
left of it in that shape repays the cost (:func:`compile_pays`), judged on the job's own eager
time per item (:class:`CompileRule`); a few shapes at most, each its exact (padded) shape: padding
to coarser buckets would cost every image extra work and change its borders.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from adain.geometry import padded_side
from adain.stylizer import Stylizer

COMPILE_SECONDS = 120.0
"""What compiling the encoder and decoder for one input shape is taken to cost (measured on an AMD EPYC
Zen 4 with 2 vCPUs, bf16: ≈ 115 s with an empty compile cache, ≈ 25 s with torch's on-disk caches warm;
docs/performance.md). The cold figure: a job must pay for itself even the first time."""

COMPILE_SPEEDUP = 1.25
"""Eager over compiled time per image (measured on the same CPU, one thread, CPU time, bf16, cached style:
1.28× at 256×256, 1.09× at 256×192, 1.26× at 320×256; 1.4–1.7× with two threads under load; about 3× on an
Intel Xeon with AMX, where this is conservative)."""

MAX_SHAPES = 3
"""The most shapes a job compiles (each costs a compilation and memory for its code)."""

Shape = tuple[int, int, int, int]


def compile_pays(items_left: float, eager_seconds_per_item: float, *, compile_seconds: float = COMPILE_SECONDS,
                 speedup: float = COMPILE_SPEEDUP) -> bool:
    """Whether compiling for one input shape saves time: the items of that shape still to come times the
    saving per item (``eager × (1 − 1/speedup)``) exceed the cost of compiling.

    E.g. 0.5 s per image eager: the saving is 0.1 s per image, so compiling pays from 1,200 images on.
    """
    return items_left * eager_seconds_per_item * (1 - 1 / speedup) > compile_seconds


def can_compile(stylizer: Stylizer) -> bool:
    """A torch Stylizer not compiled for every shape already (an ONNX Runtime one runs its own graph optimisations)."""
    return stylizer.compilable and (not stylizer.compiled or bool(stylizer.compiled_shapes))


class CompileRule:
    """Decides, input shape by input shape, when a job compiles its stylizer (:meth:`Stylizer.compile_for`).

    Each item (an image, a video's batch of frames, a request) is stylized inside :meth:`timed` with its
    content shape ``(N, 3, H, W)``. From the second item of a shape on (the first pays the kernels'
    one-time set-up), its eager time decides: the shape is compiled when the items of that shape still to
    come repay it (:func:`compile_pays`). Those are estimated from the job's mix so far: of ``total`` items,
    those left times the share of this shape; without a total (a server), as many again as so far.

    Args:
        stylizer: the networks.
        mode: ``True`` compile every shape at its first item, ``False`` never, ``None`` where it pays.
        total: the job's items (frames for a video; ``None``: unknown).
        log: one line per decision and for a failed compilation.
        max_shapes: the most shapes compiled.
        background: compile on a thread of its own, the items of that shape running eagerly meanwhile
            (a server); otherwise the next item of the shape compiles.
        pays: ``(items left, eager seconds per item)`` → whether to compile (default: :func:`compile_pays`).
    """

    def __init__(self, stylizer: Stylizer, mode: bool | None = None, total: int | None = None, *,
                 log: Callable[[str], None] = print, max_shapes: int = MAX_SHAPES, background: bool = False,
                 pays: Callable[[float, float], bool] | None = None) -> None:
        self.stylizer, self.mode, self.total, self.log = stylizer, mode, total, log
        self.max_shapes, self.background, self.pays = max_shapes, background, pays
        self.active = mode is not False and can_compile(stylizer)
        self.seen: Counter[Shape] = Counter()
        self.chosen: list[Shape] = []
        self.threads: list[threading.Thread] = []

    @property
    def compiled(self) -> bool:
        """Whether a shape was chosen for compiling."""
        return bool(self.chosen)

    @contextmanager
    def timed(self, shape: Shape, items: int = 1) -> Iterator[None]:
        """Stylize ``items`` items of content ``shape`` inside; their time may decide to compile the shape.

        Shapes that pad to the same multiple of 8 are one shape (the networks run the padded one)."""
        n, c, h, w = shape
        shape = (n, c, padded_side(h), padded_side(w))
        if self.active and self.mode and not self.seen[shape]:
            self.compile(shape)
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        first = not self.seen[shape]
        self.seen[shape] += items
        if self.active and self.mode is None and not first and shape not in self.chosen:
            if (self.pays or compile_pays)(self.left(shape), seconds / items):
                self.compile(shape)

    def left(self, shape: Shape) -> float:
        """The items of ``shape`` estimated still to come."""
        done = sum(self.seen.values())
        if self.total is None:
            return self.seen[shape]
        return max(self.total - done, 0) * self.seen[shape] / done

    def compile(self, shape: Shape) -> None:
        """Compile for ``shape`` (no more than ``max_shapes``): now or at its next call, or on a thread."""
        if len(self.chosen) >= self.max_shapes:
            return
        self.chosen.append(shape)
        n, _, h, w = shape
        when = "in the background" if self.background else "minutes the first time"
        self.log(f"compiling the networks for {w}x{h} images, {n} at a time ({when}; torch's on-disk cache shortens later runs)")
        warn = lambda msg: self.log(f"warning: {msg}")  # noqa: E731
        if not self.background:
            self.stylizer.compile_for(shape, warn=warn)
            return
        thread = threading.Thread(target=self.stylizer.compile_for, args=(shape,), kwargs=dict(warn=warn, warm=True),
                                  name="adain-compile", daemon=True)
        self.threads.append(thread)
        thread.start()

