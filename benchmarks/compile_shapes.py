"""torch.compile with static shapes (one graph per shape) against dynamic shapes, and eager, for a few content shapes.

    for m in eager static dynamic; do TORCHINDUCTOR_CACHE_DIR=CACHE-$m OMP_NUM_THREADS=1 python benchmarks/compile_shapes.py $m; done

Run it twice per mode (an empty, then a warm ``TORCHINDUCTOR_CACHE_DIR``). For each shape in turn it prints the
first call (compilation included: this process's CPU time and the wall clock, which also covers inductor's C++
compilations in child processes) and the median of three later calls (CPU time), cached-style stylization of a
random image with the bundled hokusai.jpg, the default precision and layout.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from adain.geometry import prepare
from adain.io import EXAMPLES, load_image
from adain.stylizer import Stylizer, compile_options

HOKUSAI = EXAMPLES / "style" / "hokusai.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("eager", "static", "dynamic"))
    parser.add_argument("--shapes", nargs="+", default=["256x256", "256x192", "320x256"], metavar="WxH")
    args = parser.parse_args()
    stylizer = Stylizer(device="cpu")
    stats = stylizer.style_stats([prepare(load_image(HOKUSAI), 256, enlarge=False)])
    if args.mode != "eager":
        options = compile_options(stylizer.device, stylizer.bf16)
        stylizer._run_encoder = torch.compile(stylizer.encoder.encode, dynamic=args.mode == "dynamic", options=options)
        stylizer._run_decoder = torch.compile(stylizer.decoder.forward, dynamic=args.mode == "dynamic", options=options)
    for text in args.shapes:
        w, h = (int(v) for v in text.split("x"))
        x = torch.rand(1, 3, h, w)
        cpu, wall = time.process_time(), time.perf_counter()
        stylizer.stylize_batch(x, stats)
        first_cpu, first_wall = time.process_time() - cpu, time.perf_counter() - wall
        calls = []
        for _ in range(3):
            cpu = time.process_time()
            stylizer.stylize_batch(x, stats)
            calls.append(time.process_time() - cpu)
        print(f"{args.mode} {w}x{h}: first call {first_cpu:.1f} CPU s ({first_wall:.1f} wall), later {statistics.median(calls):.3f} CPU s", flush=True)


if __name__ == "__main__":
    main()
