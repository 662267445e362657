"""int8 through ONNX Runtime against fp32 (ONNX Runtime and torch) and torch bf16, side by side in one run.

    python scripts/bench_int8.py --out /tmp/adain-int8 --sizes 256 512 --threads 1 --static

Makes (unless already there) the fp32 and int8 exports in OUT/fp32 and OUT/int8 (``adain export
--precision int8``: dynamic quantisation, ``ConvInteger``), and with ``--static`` OUT/int8-static:
ONNX Runtime's static quantisation (QDQ, int8 weights per channel, uint8 activations) calibrated
on the bundled example images (the encoder on the photos and paintings, the decoder on the AdaIN
features of every photo x painting pair). For each size it reports the CPU time per stylization
(median, after one warm-up call; CPU time because the machine may be shared) and the mean and
largest pixel difference from torch fp32 over the four example pairs. ``--threads 1`` sets torch's
and ONNX Runtime's thread counts to one, so CPU time is the work of one core.

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
from adain.export import MANIFEST, export_onnx, file_digest
from adain.geometry import resize_shorter
from adain.io import load_image
from adain.onnxrt import OnnxStylizer
from adain.ops import adain
from adain.stylizer import Stylizer

CALIBRATION_SIZE = 256


class Calibration:
    """An ONNX Runtime ``CalibrationDataReader`` over a list of float32 arrays (one input each)."""

    def __init__(self, name: str, arrays: list) -> None:
        self.items = iter([{name: a} for a in arrays])

    def get_next(self):
        return next(self.items, None)


def static_int8(fp32: Path, out: Path, images: list[torch.Tensor]) -> None:
    """Quantise the fp32 export ``fp32`` statically into ``out`` (QDQ), calibrated on ``images``."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    manifest = json.loads((fp32 / MANIFEST).read_text())
    nets = OnnxStylizer(fp32).networks
    encoded = [nets.encode(x[None]) for x in images]
    features = [adain(c, s) for c in encoded for s in encoded]
    data = {"encoder": [x[None].numpy() for x in images], "decoder": [t.numpy() for t in features]}
    out.mkdir(parents=True, exist_ok=True)
    for role, entry in manifest["files"].items():
        source, target = fp32 / entry["path"], out / entry["path"]
        pre = out / f"{role}.pre.onnx"
        quant_pre_process(str(source), str(pre))
        name = ort.InferenceSession(str(pre), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        quantize_static(str(pre), str(target), Calibration(name, data[role]), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        pre.unlink()
        entry.update(bytes=target.stat().st_size, sha256=file_digest(target))
    manifest["precision"] = "int8"
    manifest["quantisation"] = "static QDQ, calibrated on the bundled examples"
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="export folders go to OUT/fp32, OUT/int8, OUT/int8-static")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads (default %(default)s)")
    parser.add_argument("--static", action="store_true", help="also static quantisation (QDQ, calibrated on the examples)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    contents = [load_image(f) for f in sorted((EXAMPLES / "content").glob("*.jpg"))]
    styles = [resize_shorter(load_image(f), 512) for f in sorted((EXAMPLES / "style").glob("*.jpg"))]
    for p in ("fp32", "int8"):
        if not (args.out / p / MANIFEST).is_file():
            export_onnx(args.out / p, precision=p)
    folders = {"onnxruntime fp32": args.out / "fp32", "onnxruntime int8 dynamic": args.out / "int8"}
    if args.static:
        static = args.out / "int8-static"
        if not (static / MANIFEST).is_file():
            calibration = [resize_shorter(x, CALIBRATION_SIZE) for x in contents + styles]
            start = time.perf_counter()
            static_int8(args.out / "fp32", static, calibration)
            print(f"static quantisation: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        folders["onnxruntime int8 static"] = static

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
