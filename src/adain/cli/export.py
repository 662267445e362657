"""``adain export``: the encoder and decoder as ONNX files, for ONNX Runtime, the browser or a static site."""

from __future__ import annotations

import argparse
from pathlib import Path

from adain.cli._options import add_command

EXPORT_EXAMPLES = """examples:
  adain export --format onnx --output models/                     # encoder.onnx, decoder.onnx, manifest.json
  adain export --format onnx --output models-fp16/ --precision fp16   # half the size (fp16 weights, fp32 arithmetic)
  adain export --format onnx --output models-int8/ --precision int8   # a quarter: static int8, calibrated on the bundled examples
  adain export --format onnx --output site/ --site                # the web page + models for any static host
  adain stylize --backend onnxruntime --models models/ -c photo.jpg -s wave.jpg -o out.jpg
  adain serve --models models/                                    # the page can compute in the browser

Height and width are dynamic; the manifest records the versions, the input convention
(RGB in [0, 1], NCHW, the Caffe preprocessing inside the encoder) and the decoder's metadata.
Both files are checked with onnx.checker. Needs the onnx extra: pip install "adain[onnx]".
int8 is ONNX Runtime's static quantization (QDQ: int8 weights per output channel, uint8
activations calibrated on the bundled photos and paintings; the encoder's first and the
decoder's last convolution stay in float): what adain stylize --precision int8 builds and runs.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "export",
        help="export the networks to ONNX",
        description="Export the encoder (VGG-19 to relu4_1) and the decoder to ONNX, with a JSON manifest.",
        epilog=EXPORT_EXAMPLES,
    )
    p.add_argument("--format", choices=("onnx",), required=True, help="file format (onnx)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (created; its model files are replaced)")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32",
                   help="fp32; fp16 (half-size weights, fp32 arithmetic); int8 (static quantization) (default %(default)s)")
    p.add_argument("--decoder", type=Path, help="decoder weights (.safetensors) (default: the one shipped with adain)")
    p.add_argument("--site", action="store_true", help="write a static web site: the page, its scripts, the bundled images "
                   "and the models (in OUTPUT/models/), computing in the browser; serve OUTPUT from any static host")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import time

    from adain.decoder import load_decoder
    from adain.onnx.export import export_onnx

    started = time.perf_counter()
    decoder = load_decoder(args.decoder)
    if args.site:
        from adain.apps.server import write_site

        write_site(args.output)
    folder = args.output / "models" if args.site else args.output
    print(f"exporting the encoder and decoder ({args.precision}) to {folder} …", flush=True)
    manifest = export_onnx(folder, precision=args.precision, decoder=decoder)
    sizes = ", ".join(f"{entry['path']} {entry['bytes'] / 2**20:.1f} MiB" for entry in manifest["files"].values())
    print(f"wrote {sizes} and manifest.json in {time.perf_counter() - started:.0f} s")
    if args.site:
        print(f"wrote a static site in {args.output}: serve it from any static host, e.g. python -m http.server -d {args.output}")
