"""fp32, bf16 and int8 side by side on this CPU: time per cached-style stylization and the difference from fp32.

Built for a shared machine: every variant runs in one process, one call of each
in turn, on **one thread**, and besides the wall clock the process CPU time of
each call is reported. On a loaded machine the wall clock measures the
scheduler's share; the CPU time of a single thread measures the work, and is
what an idle core would take.

* ``fp32``, ``bf16``: :class:`adain.stylizer.Stylizer` eager, channels_last;
* ``int8`` (``--int8``, needs ``pip install torchao``): the encoder and the
  decoder quantised with PyTorch 2 export quantisation (torchao's PT2E flow,
  ``X86InductorQuantizer``: static, per-channel int8 weights, int8
  activations), calibrated on the shipped example images (each content, each
  style, and the decoder on every content × style), then ``torch.compile``'d
  (inductor lowers the quantised convolutions to oneDNN). The quantisation and
  compilation time is printed; it is paid once per input size.

    python benchmarks/precision.py --sizes 256 512 --runs 3 --int8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from adain.controls import target_features
from adain.device import auto_bf16, hardware_name
from adain.evaluation.bench import (
    cpu_features,
    example_pair,
    scale_flops,
    stylize_probe_flops,
)
from adain.geometry import prepare
from adain.io import EXAMPLES, load_image
from adain.ops import mean_std
from adain.stylizer import Stylizer


def cpu_peak(dtype: torch.dtype, sizes: tuple[int, ...] = (1024, 2048), runs: int = 3) -> float:
    """GFLOP/s of the best square matrix product, by CPU time (the fastest of ``runs`` after a warm-up)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        for _ in range(runs):
            start = time.process_time()
            a @ b
            best = max(best, 2 * n**3 / (time.process_time() - start) / 1e9)
    return best


class Encode(nn.Module):
    """``encoder.encode`` as a module, for export."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder.encode(x)


def int8_pipeline(stylizer: Stylizer, size: int) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor], float]:
    """Quantised, compiled encoder and decoder for ``size``² inputs, and the seconds it took (calibration included)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    start = time.perf_counter()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    contents = [prepare(load_image(p), size, crop=True)[None] for p in sorted((EXAMPLES / "content").glob("*.jpg"))]
    styles = [prepare(load_image(p), size, crop=True)[None] for p in sorted((EXAMPLES / "style").glob("*.jpg"))]
    encoder, decoder = stylizer.encoder.float(), stylizer.decoder.float()
    with torch.no_grad():
        prepared = prepare_pt2e(torch.export.export(Encode(encoder).eval(), (contents[0],)).module(), quantizer)
        for image in contents + styles:
            prepared(image)
        q_encoder = convert_pt2e(prepared)
        feats = [encoder.encode(c) for c in contents]
        stats = [mean_std(encoder.encode(s)) for s in styles]
        targets = [target_features(f, m, s) for f in feats for m, s in stats]
        prepared = prepare_pt2e(torch.export.export(decoder.eval(), (targets[0],)).module(), quantizer)
        for t in targets:
            prepared(t)
        q_decoder = convert_pt2e(prepared)
        run_encoder, run_decoder = torch.compile(q_encoder), torch.compile(q_decoder)
        run_decoder(run_encoder(contents[0]))  # compiles
    return run_encoder, run_decoder, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="square sides, multiples of 8 (default %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="timed calls of each variant (default %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default %(default)s: CPU time = work)")
    parser.add_argument("--int8", action="store_true", help="also the int8 PT2E model (needs torchao; quantises and compiles per size)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    fp32 = Stylizer(device="cpu", bf16=False)
    bf16 = Stylizer(fp32.decoder, encoder=fp32.encoder, device="cpu", bf16=True)
    bf16_native = auto_bf16(torch.device("cpu"))
    probe = stylize_probe_flops(fp32, with_style=False)
    peaks = {"fp32": cpu_peak(torch.float32), "bf16": cpu_peak(torch.bfloat16) if bf16_native else None}
    print(f"{hardware_name(torch.device('cpu'))}{cpu_features(torch.device('cpu'))}, torch {torch.__version__}, {args.threads} thread(s); "
          f"cached-style stylization of the shipped canyon.jpg × hokusai.jpg, interleaved, median of {args.runs}")
    print("peak by CPU time (best matrix product): " + ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in peaks.items() if v) + "\n")
    print("| size | precision | wall ms | CPU ms | × fp32 CPU time | GFLOP/s (CPU time) | % of its peak | max abs diff vs fp32 | mean abs diff vs fp32 |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        content, style = example_pair(size)
        calls: dict[str, Callable[[], Tensor]] = {}
        for name, model in (("fp32", fp32), ("bf16", bf16)):
            stats = model.style_stats([style])
            calls[name] = lambda model=model, stats=stats, content=content: model.stylize_batch(content[None], stats)[0]
        if args.int8:
            run_encoder, run_decoder, seconds = int8_pipeline(fp32, size)
            print(f"int8 at {size} px: quantised and compiled in {seconds:.0f} s", file=sys.stderr)
            with torch.no_grad():
                mean, std = mean_std(run_encoder(style[None]))
            calls["int8"] = lambda enc=run_encoder, dec=run_decoder, x=content[None], m=mean, s=std: dec(target_features(enc(x), m, s))[0].clamp(0, 1)
        with torch.no_grad():
            outputs = {name: fn() for name, fn in calls.items()}
        wall: dict[str, list[float]] = {name: [] for name in calls}
        cpu: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.runs):
            for name, fn in calls.items():
                w, c = time.perf_counter(), time.process_time()
                with torch.no_grad():
                    fn()
                cpu[name].append(time.process_time() - c)
                wall[name].append(time.perf_counter() - w)
        base = statistics.median(cpu["fp32"])
        gflop = scale_flops(probe, size, size) / 1e9
        for name in calls:
            diff = (outputs[name] - outputs["fp32"]).abs()
            seconds = statistics.median(cpu[name])
            peak = peaks.get(name)
            share = f"{100 * gflop / seconds / peak:.0f} %" if peak else "–"
            print(f"| {size} | {name} | {1e3 * statistics.median(wall[name]):,.0f} | {1e3 * seconds:,.0f} | {seconds / base:.2f} | "
                  f"{gflop / seconds:,.0f} | {share} | {float(diff.max()):.4f} | {float(diff.mean()):.5f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
