"""int8 through ONNX Runtime against fp32 (ONNX Runtime and torch) and torch bf16, side by side in one run.

    python scripts/bench_int8.py --out /tmp/adain-int8 --sizes 256 512 --threads 1 --float-convs 0/-1 0.-1/-1

Makes (unless already there) the fp32 export in OUT/fp32 and, for each ``E/D`` of ``--float-convs``,
the int8 export in OUT/int8-E-D (``adain export --precision int8``: ONNX Runtime's static quantisation,
QDQ, int8 weights per channel, uint8 activations calibrated on the bundled example images, with the
encoder's convolutions E and the decoder's D kept in float: indices joined by dots, -1 the last,
empty for none; e.g. ``0.-1/-1``). For each size it reports the
CPU time per stylization (median, after one warm-up call; CPU time because the machine may be shared)
and the mean and largest pixel difference from torch fp32 over the four example pairs. ``--threads 1``
sets torch's and ONNX Runtime's thread counts to one, so CPU time is the work of one core.

Writes JSON to stdout (and to --json FILE).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from bench_onnx import EXAMPLES, timed  # this folder

from adain.device import hardware_name
from adain.geometry import resize_shorter
from adain.io.images import load_image
from adain.onnx.export import MANIFEST, export_onnx
from adain.onnx.runtime import OnnxStylizer
from adain.stylizer import Stylizer


def float_convs(text: str) -> dict[str, tuple[int, ...]]:
    """``"0.-1/-1"`` → ``{"encoder": (0, -1), "decoder": (-1,)}``: the indices of the convolutions kept in float
    (``-`` alone: none)."""
    encoder, decoder = text.split("/")
    return {role: tuple(int(v) for v in part.split(".") if v) for role, part in (("encoder", encoder), ("decoder", decoder))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="export folders go to OUT/fp32 and OUT/int8-E-D")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads (default %(default)s)")
    parser.add_argument("--float-convs", nargs="+", default=["0/-1"], metavar="E/D",
                        help="int8 variants: the encoder's and the decoder's convolutions kept in float, by index (default %(default)s)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    contents = [load_image(f) for f in sorted((EXAMPLES / "content").glob("*.jpg"))]
    styles = [resize_shorter(load_image(f), 512) for f in sorted((EXAMPLES / "style").glob("*.jpg"))]
    if not (args.out / "fp32" / MANIFEST).is_file():
        export_onnx(args.out / "fp32")
    folders = {"onnxruntime fp32": args.out / "fp32"}
    for text in args.float_convs:
        folder = args.out / f"int8-{text.replace('/', '_')}"
        if not (folder / MANIFEST).is_file():
            start = time.perf_counter()
            export_onnx(folder, precision="int8", float_convs=float_convs(text))
            print(f"int8 export, float convolutions {text}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        folders[f"onnxruntime int8 float {text}"] = folder

    torch_fp32 = Stylizer(device="cpu", bf16=False)
    models = {"torch fp32": torch_fp32, "torch bf16": Stylizer(device="cpu", bf16=True)}
    models.update({name: OnnxStylizer(folder, threads=args.threads) for name, folder in folders.items()})
    result: dict = {"cpu": hardware_name(torch.device("cpu")), "threads": args.threads, "repeat": args.repeat,
                    "bytes": {name: sum(f.stat().st_size for f in Path(folder).glob("*.onnx")) for name, folder in folders.items()},
                    "rows": []}
    for size in args.sizes:
        pairs = [(resize_shorter(c, size), s) for c, s in zip(contents, styles)]
        reference = [torch_fp32.stylize(c, s) for c, s in pairs]
        row: dict = {"size": size}
        for name, model in models.items():
            print(f"{size} px: {name}", file=sys.stderr, flush=True)
            if model is not torch_fp32:
                diffs = [(model.stylize(c, s) - r).abs() for (c, s), r in zip(pairs, reference)]
                row[f"{name} mean diff"] = statistics.mean(float(d.mean()) for d in diffs)
                row[f"{name} max diff"] = max(float(d.max()) for d in diffs)
            content, style = pairs[0]
            row[f"{name} cpu s"] = timed(lambda m=model, c=content, s=style: m.stylize(c, s), args.repeat, clock=time.process_time)
        result["rows"].append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
