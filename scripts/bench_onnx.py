"""ONNX export figures: file sizes per precision, agreement with torch on the example images,
start-up and speed of the ONNX Runtime backend against the torch path, measured in one run.

    python scripts/bench_onnx.py --out /tmp/adain-onnx --sizes 256 512 --repeat 5

Writes a Markdown table to stdout (and JSON with --json FILE).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from adain.device import hardware_name
from adain.geometry import resize_shorter
from adain.io.images import EXAMPLES, load_image
from adain.onnx.export import PRECISIONS, export_onnx
from adain.onnx.runtime import OnnxStylizer
from adain.stylizer import Stylizer


def timed(fn, repeat: int, clock=time.perf_counter) -> float:
    """Median time of ``repeat`` calls after one warm-up call (``clock``: wall, or ``time.process_time``)."""
    fn()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="export folders go to OUT/<precision>")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=4, help="example photo x painting pairs compared (1 to 4)")
    parser.add_argument("--skip-export", action="store_true", help="reuse the folders already in --out")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    result: dict = {"cpu": hardware_name(torch.device("cpu")), "threads": torch.get_num_threads()}
    if not args.skip_export:
        for p in PRECISIONS:
            start = time.perf_counter()
            export_onnx(args.out / p, precision=p)
            result[f"export_s_{p}"] = time.perf_counter() - start
    result["bytes"] = {
        p: {f.name: f.stat().st_size for f in sorted((args.out / p).glob("*.onnx"))} for p in PRECISIONS
    }

    start = time.perf_counter()
    torch_fp32 = Stylizer(device="cpu", bf16=False)
    result["startup_s_torch"] = time.perf_counter() - start
    torch_bf16 = Stylizer(device="cpu")
    ort = {}
    for p in PRECISIONS:
        start = time.perf_counter()
        ort[p] = OnnxStylizer(args.out / p)
        result[f"startup_s_onnxruntime_{p}"] = time.perf_counter() - start

    contents = [load_image(f) for f in sorted((EXAMPLES / "content").glob("*.jpg"))][: args.pairs]
    styles = [resize_shorter(load_image(f), 512) for f in sorted((EXAMPLES / "style").glob("*.jpg"))][: args.pairs]
    rows = []
    for size in args.sizes:
        pairs = [(resize_shorter(c, size), s) for c, s in zip(contents, styles)]
        reference = [torch_fp32.stylize(c, s) for c, s in pairs]
        row: dict = {"size": size}
        for name, model in [("torch bf16", torch_bf16), *((f"onnxruntime {p}", m) for p, m in ort.items())]:
            diffs = [(model.stylize(c, s) - r).abs() for (c, s), r in zip(pairs, reference)]
            row[f"{name} mean"] = statistics.mean(float(d.mean()) for d in diffs)
            row[f"{name} max"] = max(float(d.max()) for d in diffs)
        content, style = pairs[0]
        for name, model in [("torch fp32", torch_fp32), ("torch bf16", torch_bf16), *((f"onnxruntime {p}", m) for p, m in ort.items())]:
            print(f"{size} px: {name}", file=sys.stderr, flush=True)
            row[f"{name} s"] = timed(lambda m=model, c=content, s=style: m.stylize(c, s), args.repeat)
        rows.append(row)
    result["rows"] = rows
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
