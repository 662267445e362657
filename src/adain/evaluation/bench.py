"""Benchmarks: latency, throughput, training speed, FLOPs, hardware efficiency and memory.

For each square size (content and style of that size) :func:`run_bench` times

* ``stylize``: one stylization with a new style (encode content and style, decode);
* ``cached style``: one stylization with the style's statistics already computed
  (the video and server case);
* ``batch of N``: throughput for ``N`` frames in one call, cached style;
* ``train step``: :func:`adain.losses.loss_terms` + backward + Adam on random images.

Every time is the median of ``runs`` timed calls after ``warmup`` untimed ones.
The model's FLOPs (convolutions and matrix products, 2 per multiply-add) are
counted with :class:`torch.utils.flop_counter.FlopCounterMode` at a small probe
size and scaled by the pixel count, which is exact for sides that are multiples
of 8 (every layer keeps ``H·W/4^k`` positions). The achieved GFLOP/s is compared
with this machine's peak, measured in the same run as the best large fp32 matrix
product (and bf16 where the hardware computes it natively: emulated bf16 takes
minutes and is never the default), so the ratio means the same on any machine.
Matrix sizes whose product would take longer than a small time budget are
skipped, so the peak takes seconds on any CPU.
Peak memory is the CUDA max allocated on GPUs and the peak resident set size of
the process (sampled every 2 ms) on CPUs (:func:`adain.evaluation.measure.peak_memory`).
"""

from __future__ import annotations

import copy
import functools
import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from adain.device import auto_bf16, autocast_for, hardware_name
from adain.errors import UsageError
from adain.evaluation.measure import cpu_features, peak_memory, time_calls
from adain.geometry import MULTIPLE, padded_side
from adain.limits import MIN_SIDE
from adain.lite.weights import LITE_PATH
from adain.losses import loss_terms
from adain.stylizer import Stylizer

FLOP_PROBE = 64  # px: FLOPs are counted at this size and scaled by the pixel count
STYLE_WEIGHT = 10.0  # λ of the training step (the training default)
PEAK_SIZES_CPU = (1024, 2048, 4096)
PEAK_SIZES_CUDA = (4096, 8192)
PEAK_BUDGET_S = 2.0  # a matrix size is skipped when its timed calls would take longer than this
QUICK_PEAK_SIZES = (512, 1024)


# ---------------------------------------------------------------- measuring


def matmul_peak(device: torch.device, dtype: torch.dtype, sizes: tuple[int, ...] | None = None, runs: int = 3, budget_s: float = PEAK_BUDGET_S) -> float:
    """This machine's practical peak in GFLOP/s: the best median over square matrix products ``n×n @ n×n``.

    Sizes are tried in increasing order; a size whose ``runs + 1`` products would
    take longer than ``budget_s`` at the rate measured so far is skipped (the
    smallest size is always measured).
    """
    sizes = sorted(sizes or (PEAK_SIZES_CUDA if device.type == "cuda" else PEAK_SIZES_CPU))
    best = 0.0
    for n in sizes:
        if best and (runs + 1) * 2 * n**3 / (best * 1e9) > budget_s:
            break
        gen = torch.Generator(device=device).manual_seed(0)
        a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        seconds = statistics.median(time_calls(functools.partial(torch.matmul, a, b), device, runs=runs, warmup=1))
        best = max(best, 2 * n**3 / seconds / 1e9)
    return best


def measure_peaks(device: torch.device, sizes: tuple[int, ...] | None = None) -> dict[str, float]:
    """``{"fp32": GFLOP/s}``, plus ``"bf16"`` where the device computes bf16 natively (:func:`adain.device.auto_bf16`)."""
    dtypes = {"fp32": torch.float32, **({"bf16": torch.bfloat16} if auto_bf16(device) else {})}
    return {name: matmul_peak(device, dtype, sizes) for name, dtype in dtypes.items()}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the convolutions and matrix products that ``fn`` runs (forward and backward), 2 per multiply-add."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def scale_flops(probe_flops: int, height: int, width: int) -> int:
    """FLOPs counted at ``FLOP_PROBE``² scaled to an ``height × width`` input (padded to a multiple of 8)."""
    return probe_flops * padded_side(height) * padded_side(width) // FLOP_PROBE**2


# ---------------------------------------------------------------- FLOPs of the model


def stylize_probe_flops(stylizer: Stylizer, *, with_style: bool, batch: int = 1) -> int:
    """FLOPs of one call at ``FLOP_PROBE``²: encode ``batch`` contents (and one style), decode.

    Runs the eager modules (never the compiled ones) on the stylizer's device.
    """
    x = torch.rand(batch, 3, FLOP_PROBE, FLOP_PROBE, device=stylizer.device)

    def forward() -> None:
        with torch.no_grad():
            if with_style:
                stylizer.encoder.encode(x[:1])
            stylizer.decoder(stylizer.encoder.encode(x))

    return count_flops(forward)


def lite_probe_flops(*, with_style: bool) -> int:
    """FLOPs of one lite-model call at ``FLOP_PROBE``² (its torch twin, :class:`adain.lite.model.LiteNet`): encode the content
    (and a style), decode."""
    from adain.lite.model import LiteNet

    net, x = LiteNet().eval(), torch.rand(1, 3, FLOP_PROBE, FLOP_PROBE)

    with torch.no_grad():
        whole = count_flops(lambda: net(x, x))
        return whole if with_style else whole - count_flops(lambda: net.style_stats(x))


def lite_cases(sizes: tuple[int, ...], video: tuple[int, int] | None, runs: int, warmup: int, say: Callable[[str], None]) -> list[CaseResult]:
    """The lite model in ONNX Runtime (fp32, this process's torch thread count): a new style each call and a cached one at
    every size, and one video frame at a time (the style cached), as :mod:`adain.lite.runtime` runs them."""
    from adain.lite.runtime import LiteModel

    model, cpu = LiteModel(threads=torch.get_num_threads()), torch.device("cpu")
    new, cached = lite_probe_flops(with_style=True), lite_probe_flops(with_style=False)
    shapes = [(str(s), s, s) for s in sizes] + ([(f"{video[0]}x{video[1]}", video[1], video[0])] if video else [])
    cases = []
    for label, height, width in shapes:
        rng = np.random.default_rng(height * width)
        content, style = rng.random((height, width, 3), dtype=np.float32), rng.random((min(height, 512), min(width, 512), 3), dtype=np.float32)
        stats = model.style(style)
        plan = [("lite: cached style", functools.partial(model.stylize, content, [stats]), cached)]
        if label != shapes[-1][0] or not video:
            plan.insert(0, ("lite: stylize", functools.partial(model.stylize, content, [style]), new))
        for name, fn, probe in plan:
            say(f"{label}: {name}")
            cases.append(_case(name, label, 1, fn, scale_flops(probe, height, width), "fp32", cpu, runs, warmup))
    return cases


def train_step_fn(stylizer: Stylizer, batch: int, size: int, *, lr: float = 1e-4) -> Callable[[], None]:
    """A training step on ``batch`` random ``size``² content and style images.

    The decoder is a trainable copy of the stylizer's (the stylizer is left
    untouched); the step runs :func:`adain.losses.loss_terms` under the
    stylizer's precision, ``Lc + λ·Ls``, backward and an Adam update.
    """
    device = stylizer.device
    decoder = copy.deepcopy(stylizer.decoder).train().requires_grad_(True)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    gen = torch.Generator(device=device).manual_seed(0)
    content = torch.rand(batch, 3, size, size, device=device, generator=gen).contiguous(memory_format=stylizer.memory_format)
    style = torch.rand(batch, 3, size, size, device=device, generator=gen).contiguous(memory_format=stylizer.memory_format)

    def step() -> None:
        with autocast_for(device, stylizer.bf16):
            lc, ls, _ = loss_terms(stylizer.encoder, decoder, content, style)
            loss = lc + STYLE_WEIGHT * ls
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


# ---------------------------------------------------------------- report


@dataclass
class CaseResult:
    """One timed case at one size."""

    case: str
    size: str  # "512" (square side) or "1920x1080" (video frames)
    images: int  # images per call
    seconds: float  # median per call
    flops: int  # per call
    peak_memory_bytes: int
    dtype: str  # precision of the convolutions
    runs: list[float] = field(default_factory=list)

    @property
    def ms(self) -> float:
        return self.seconds * 1e3

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s."""
        return self.flops / self.seconds / 1e9


@dataclass
class BenchReport:
    """Everything :func:`run_bench` measured, with the settings and hardware."""

    device: str
    hardware: str
    torch: str
    threads: int
    bf16: bool
    channels_last: bool
    compile: bool
    runs: int
    warmup: int
    peak_gflops: dict[str, float]
    cases: list[CaseResult]
    accuracy: dict[int, dict[str, float]] = field(default_factory=dict)

    def ratio(self, case: CaseResult) -> float | None:
        """Achieved / peak GFLOP/s of the case's precision (``None``: that peak was not measured, bf16 not native)."""
        peak = self.peak_gflops.get(case.dtype)
        return case.gflops / peak if peak else None

    def to_dict(self) -> dict:
        """JSON-ready dict; each case gains ``ms``, ``images_per_s``, ``gflops``, ``peak_ratio``."""
        out = asdict(self)
        for row, case in zip(out["cases"], self.cases):
            row.update(ms=case.ms, images_per_s=case.images_per_s, gflops=case.gflops, peak_ratio=self.ratio(case))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        """A header line, the table of cases and, if measured, the difference from fp32."""
        precision = "bf16 autocast" if self.bf16 else "fp32"
        lines = [
            f"device: {self.device} ({self.hardware}{cpu_features(torch.device(self.device))}), torch {self.torch}, {self.threads} threads; "
            f"{precision}, channels_last {'on' if self.channels_last else 'off'}, "
            f"torch.compile {'on' if self.compile else 'off'}; median of {self.runs} runs after {self.warmup} warm-up",
            peaks_line(self.peak_gflops),
            "",
            "| size | case | ms / call | images/s | GFLOP / call | GFLOP/s | % of peak | peak memory (MiB) |",
            "|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for c in self.cases:
            lines.append(
                f"| {c.size} | {c.case} | {c.ms:,.1f} | {c.images_per_s:,.2f} | {c.flops / 1e9:,.1f} | "
                f"{c.gflops:,.0f} | {percent(self.ratio(c))} ({c.dtype}) | {c.peak_memory_bytes / 2**20:,.0f} |"
            )
        if self.accuracy:
            lines += ["", "| size | max abs diff vs fp32 | mean abs diff vs fp32 |", "|---:|---:|---:|"]
            lines += [f"| {s} | {d['max']:.4f} ({255 * d['max']:.1f}/255) | {d['mean']:.5f} ({255 * d['mean']:.2f}/255) |" for s, d in self.accuracy.items()]
        return "\n".join(lines)


# ---------------------------------------------------------------- running


def example_pair(size: int) -> tuple[Tensor, Tensor]:
    """The shipped example content and style, resized and centre-cropped to ``size``², each ``(3, size, size)``."""
    from adain.geometry import prepare
    from adain.io.images import EXAMPLES, load_image

    return prepare(load_image(EXAMPLES / "content" / "canyon.jpg"), size, crop=True), prepare(load_image(EXAMPLES / "style" / "hokusai.jpg"), size, crop=True)


def difference_from_fp32(stylizer: Stylizer, size: int) -> dict[str, float]:
    """Max and mean absolute difference (in [0, 1] units) between ``stylizer`` and an eager fp32 twin sharing its weights.

    Uses the shipped example images at ``size``².
    """
    content, style = example_pair(size)
    channels_last = stylizer.memory_format == torch.channels_last  # the twin keeps the shared modules' layout
    reference = Stylizer(stylizer.decoder, encoder=stylizer.encoder, device=stylizer.device, bf16=False, channels_last=channels_last)
    diff = (stylizer.stylize(content, style) - reference.stylize(content, style)).abs()
    return {"max": float(diff.max()), "mean": float(diff.mean())}


def _case(name: str, size: str, images: int, fn: Callable[[], object], flops: int, dtype: str, device: torch.device, runs: int, warmup: int) -> CaseResult:
    with peak_memory(device) as mem:
        times = time_calls(fn, device, runs=runs, warmup=warmup)
    return CaseResult(name, size, images, statistics.median(times), flops, mem["bytes"], dtype, times)


def run_bench(
    stylizer: Stylizer,
    *,
    sizes: tuple[int, ...] = (256, 512, 1024),
    runs: int = 5,
    warmup: int = 1,
    batch: int = 4,
    train_batch: int = 2,
    train: bool = True,
    accuracy: bool = False,
    video: tuple[int, int] | None = None,
    peak_sizes: tuple[int, ...] | None = None,
    progress: Callable[[str], None] | None = None,
    lite: bool = True,
) -> BenchReport:
    """Time every case at every size (see the module docstring).

    Args:
        stylizer: the model and its settings (device, bf16, channels_last, compile).
        sizes: square sides, multiples of 8.
        batch: frames per call of the throughput case.
        train_batch: images per training step (0 or ``train=False`` skips training).
        accuracy: also measure the difference from fp32 on the example images.
        video: ``(width, height)`` of video frames: adds the throughput of ``batch``
            such frames per call with a cached style (e.g. ``(1920, 1080)``).
        peak_sizes: matrix sides for the peak (default: large ones for the device).
        progress: called with a line before each case.
        lite: also time the lite model (:func:`lite_cases`; on the CPU, where the shipped lite model is installed).
    """
    if not sizes or any(s < MIN_SIDE or s % MULTIPLE for s in sizes):
        raise UsageError(f"sizes must be multiples of {MULTIPLE}, at least {MIN_SIDE}, got {list(sizes)}")
    if batch < 1 or train_batch < 0:
        raise UsageError(f"batch must be ≥ 1 and train batch ≥ 0, got {batch} and {train_batch}")
    say = progress or (lambda _line: None)
    device = stylizer.device
    dtype = "bf16" if stylizer.bf16 else "fp32"
    say("peak: large matrix products (fp32, and bf16 where native)")
    peaks = measure_peaks(device, peak_sizes)
    probe_new = stylize_probe_flops(stylizer, with_style=True)
    probe_cached = stylize_probe_flops(stylizer, with_style=False)
    probe_train = count_flops(train_step_fn(stylizer, max(train_batch, 1), FLOP_PROBE)) if train and train_batch else 0
    cases: list[CaseResult] = []
    for size in sizes:
        gen = torch.Generator().manual_seed(size)
        content, style = torch.rand(3, size, size, generator=gen), torch.rand(3, size, size, generator=gen)
        frames = torch.rand(batch, 3, size, size, generator=gen)
        stats = stylizer.style_stats([style])
        plan = [
            ("stylize", 1, functools.partial(stylizer.stylize, content, style), probe_new),
            ("cached style", 1, functools.partial(stylizer.stylize_batch, content[None], stats), probe_cached),
            (f"batch of {batch}", batch, functools.partial(stylizer.stylize_batch, frames, stats), probe_cached * batch),
        ]
        if train and train_batch:
            plan.append((f"train step (batch {train_batch})", train_batch, train_step_fn(stylizer, train_batch, size), probe_train))
        for name, images, fn, probe in plan:
            say(f"{size} px: {name}")
            cases.append(_case(name, str(size), images, fn, scale_flops(probe, size, size), dtype, device, runs, warmup))
    if video is not None:
        width, height = video
        frames = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(0))
        stats = stylizer.style_stats([frames[0, :, :256, :256]])
        say(f"{width}x{height} video frames, batch of {batch}")
        fn = functools.partial(stylizer.stylize_batch, frames, stats)
        flops = scale_flops(probe_cached, height, width) * batch
        cases.append(_case(f"video frames (batch {batch})", f"{width}x{height}", batch, fn, flops, dtype, device, runs, warmup))
    if lite and device.type == "cpu" and LITE_PATH.is_file():
        cases += lite_cases(sizes, video, runs, warmup, say)
    diffs = {}
    if accuracy:
        for size in sizes:
            say(f"{size} px: difference from fp32")
            diffs[size] = difference_from_fp32(stylizer, size)
    return BenchReport(
        device=str(device), hardware=hardware_name(device), torch=torch.__version__, threads=torch.get_num_threads(),
        bf16=stylizer.bf16, channels_last=stylizer.memory_format == torch.channels_last, compile=stylizer.compiled,
        runs=runs, warmup=warmup, peak_gflops=peaks, cases=cases, accuracy=diffs,
    )


# ---------------------------------------------------------------- variants side by side

VARIANTS: dict[str, dict[str, bool]] = {
    "fp32": dict(bf16=False, channels_last=False),
    "fp32, channels_last": dict(bf16=False, channels_last=True),
    "bf16": dict(bf16=True, channels_last=False),
    "bf16, channels_last": dict(bf16=True, channels_last=True),
    "fp32, channels_last, compile": dict(bf16=False, channels_last=True, compile=True),
    "bf16, channels_last, compile": dict(bf16=True, channels_last=True, compile=True),
}


def peaks_line(peaks: dict[str, float]) -> str:
    """``peak (best large matmul): fp32 … GFLOP/s, bf16 …`` (bf16 only where it was measured)."""
    measured = ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in peaks.items())
    return f"peak (best large matmul): {measured}" + ("" if "bf16" in peaks else "; bf16 not measured (not native here)")


def percent(ratio: float | None) -> str:
    return "–" if ratio is None else f"{100 * ratio:.0f} %"


@dataclass
class VariantResult:
    """Cached-style stylization with one set of settings, timed interleaved with the others."""

    variant: str
    size: int
    seconds: float
    gflops: float
    peak_ratio: float | None  # of the peak of the variant's precision (None: not measured)
    max_diff: float  # vs the first variant (fp32), example images
    mean_diff: float


def compare_variants(
    stylizer: Stylizer,
    *,
    sizes: tuple[int, ...] = (512,),
    variants: dict[str, dict[str, bool]] = VARIANTS,
    runs: int = 5,
    warmup: int = 1,
    peak_sizes: tuple[int, ...] | None = None,
) -> tuple[list[VariantResult], dict[str, float]]:
    """Time the cached-style stylization at each size under each variant, round-robin (one call of each in turn).

    Each variant gets its own copy of the stylizer's encoder and decoder. The
    outputs on the shipped example images are compared with the first variant's.
    bf16 variants are left out where bf16 is not native (they would take minutes).

    Returns:
        the results and the measured peaks ``{"fp32": GFLOP/s, "bf16": GFLOP/s}``.
    """
    device = stylizer.device
    models = {
        name: Stylizer(copy.deepcopy(stylizer.decoder), encoder=copy.deepcopy(stylizer.encoder), device=device, **settings)
        for name, settings in variants.items()
        if auto_bf16(device) or not settings.get("bf16")
    }
    peaks = measure_peaks(device, peak_sizes)
    probe = stylize_probe_flops(stylizer, with_style=False)
    results = []
    for size in sizes:
        content, style = example_pair(size)
        outputs = {name: m.stylize(content, style) for name, m in models.items()}
        reference = next(iter(outputs.values()))
        calls = {name: functools.partial(m.stylize_batch, content[None], m.style_stats([style])) for name, m in models.items()}
        for fn in calls.values():
            time_calls(fn, device, runs=1, warmup=max(warmup - 1, 0))
        times: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(runs):
            for name, fn in calls.items():
                times[name] += time_calls(fn, device, runs=1, warmup=0)
        flops = scale_flops(probe, size, size)
        for name in models:
            seconds = statistics.median(times[name])
            diff = (outputs[name] - reference).abs()
            gflops = flops / seconds / 1e9
            peak = peaks.get("bf16" if models[name].bf16 else "fp32")
            results.append(VariantResult(name, size, seconds, gflops, gflops / peak if peak else None, float(diff.max()), float(diff.mean())))
    return results, peaks


def variants_markdown(results: list[VariantResult], peaks: dict[str, float], device: torch.device) -> str:
    """Table of :func:`compare_variants` results."""
    lines = [
        f"device: {hardware_name(device)}{cpu_features(device)}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"cached-style stylization, interleaved runs, median",
        peaks_line(peaks),
        "",
        "| size | variant | ms | GFLOP/s | % of peak (its precision) | max abs diff vs fp32 | mean abs diff vs fp32 |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.size} | {r.variant} | {1e3 * r.seconds:,.0f} | {r.gflops:,.0f} | {percent(r.peak_ratio)} | {r.max_diff:.4f} | {r.mean_diff:.5f} |"
        for r in results
    ]
    return "\n".join(lines)
