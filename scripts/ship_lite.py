"""Ship lite weights: copy a trained ``lite(-ema).safetensors`` into the package and export its two ONNX graphs beside it.

    python scripts/ship_lite.py checkpoints/lite/lite-ema.safetensors [--eval EVAL.json]

``--eval`` adds evaluation numbers (a JSON object, e.g. from ``adain eval --model lite --json``) to the metadata.
"""

from __future__ import annotations

import argparse
import json

from adain.lite.export import export_lite
from adain.lite.model import load_lite, save_lite
from adain.lite.weights import LITE_PATH


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", help="a run's lite.safetensors or lite-ema.safetensors")
    p.add_argument("--eval", help="a JSON file of evaluation numbers to record in the metadata")
    args = p.parse_args()
    net = load_lite(args.weights)
    meta = {k: v for k, v in net.metadata.items() if k not in ("format", "widths")}
    if args.eval:
        with open(args.eval) as f:
            meta["eval"] = json.load(f)
    save_lite(net, LITE_PATH, meta)
    shipped = load_lite(LITE_PATH)
    for path in export_lite(shipped, LITE_PATH.parent, meta):
        print(f"wrote {path}")
    print(f"wrote {LITE_PATH}")


if __name__ == "__main__":
    main()
