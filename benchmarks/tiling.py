"""Tiled stylization: peak memory and time on a large image, and tiled vs untiled difference.

Every measurement runs in a fresh process so that its peak resident memory
(``ru_maxrss``) is its own; CPU seconds (user + system, all threads) are
reported beside wall seconds, as a shared machine inflates the latter.
Prints a markdown table.

    python benchmarks/tiling.py                          # 4K: tiled 1024 and 512, untiled; 768x512 difference
    python benchmarks/tiling.py --tiles 512 --no-untiled --no-diff
    python benchmarks/tiling.py --size 8000x6000 --no-untiled --tiles 1024
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "src" / "adain" / "examples" / "content" / "city.jpg"
STYLE = ROOT / "src" / "adain" / "examples" / "style" / "hokusai.jpg"


def _inputs(width: int, height: int):
    import torch.nn.functional as F

    from adain.geometry import resize_shorter
    from adain.io import load_image

    content = F.interpolate(load_image(CONTENT)[None], size=(height, width), mode="bilinear", align_corners=False)[0].clamp(0, 1)
    return content, resize_shorter(load_image(STYLE), 512)


def worker(width: int, height: int, tile: int, overlap: int, bf16: bool) -> dict:
    """One stylization in this process → wall and CPU seconds, peak RSS and RSS before stylizing (MiB)."""
    import torch

    from adain.stylizer import Stylizer
    from adain.tiling import stylize_tiled

    content, style = _inputs(width, height)
    stylizer = Stylizer(device="cpu", bf16=bf16)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    with torch.no_grad():
        out = stylize_tiled(stylizer, content, style, tile=tile, overlap=overlap) if tile else stylizer.stylize(content, style)
    seconds = time.perf_counter() - started
    assert out.shape == content.shape
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu, "peak_mib": usage.ru_maxrss / 1024, "before_mib": before}


def difference(width: int, height: int, tile: int, overlap: int) -> dict:
    """Mean and max |tiled − untiled| (0..1 scale) in fp32 and bf16."""
    from adain.stylizer import Stylizer
    from adain.tiling import stylize_tiled

    content, style = _inputs(width, height)
    out = {}
    for bf16 in (False, True):
        stylizer = Stylizer(device="cpu", bf16=bf16)
        diff = (stylize_tiled(stylizer, content, style, tile=tile, overlap=overlap) - stylizer.stylize(content, style)).abs()
        out["bf16" if bf16 else "fp32"] = {"mean": float(diff.mean()), "max": float(diff.max())}
    return out


def _run(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="3840x2160", help="WxH of the large image (default %(default)s)")
    p.add_argument("--tiles", type=int, nargs="+", default=[1024, 512], help="tile sides to time (default %(default)s)")
    p.add_argument("--overlap", type=int, default=64, help="(default %(default)s)")
    p.add_argument("--no-untiled", action="store_true", help="skip the untiled run on the large image")
    p.add_argument("--fp32", action="store_true", help="fp32 instead of the CPU default (bf16 where native)")
    p.add_argument("--no-diff", action="store_true", help="skip the tiled-vs-untiled comparison")
    p.add_argument("--diff-size", default="768x512", help="WxH of the tiled-vs-untiled comparison (default %(default)s)")
    p.add_argument("--diff-tile", type=int, default=256, help="(default %(default)s)")
    p.add_argument("--worker", nargs=5, metavar=("W", "H", "TILE", "OVERLAP", "BF16"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        w, h, tile, overlap, bf16 = (int(v) for v in args.worker)
        print(json.dumps(worker(w, h, tile, overlap, bool(bf16))))
        return
    from adain.device import cpu_has_bf16

    bf16 = int(not args.fp32 and cpu_has_bf16())
    w, h = (int(v) for v in args.size.split("x"))
    print(f"| {w}x{h} ({'bf16' if bf16 else 'fp32'}) | wall s | CPU s | peak RSS (MiB) | RSS with the model loaded (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for tile in args.tiles + ([] if args.no_untiled else [0]):
        r = _run([str(w), str(h), str(tile), str(args.overlap), str(bf16)])
        name = f"tile {tile}, overlap {args.overlap}" if tile else "untiled"
        if "error" in r:
            print(f"| {name} | failed: {r['error']} | | | |")
        else:
            print(f"| {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_mib']:.0f} | {r['before_mib']:.0f} |", flush=True)
    if args.no_diff:
        return
    dw, dh = (int(v) for v in args.diff_size.split("x"))
    d = difference(dw, dh, args.diff_tile, args.overlap)
    print(f"\n{dw}x{dh}, tile {args.diff_tile}, overlap {args.overlap}: |tiled − untiled| (0..1 scale) "
          + ", ".join(f"{k}: mean {v['mean']:.2e}, max {v['max']:.2e}" for k, v in d.items()))


if __name__ == "__main__":
    main()
