"""``adain stylize-dataset``: stylize a dataset (for augmentation)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from adain.cli._options import (
    Choices,
    add_alpha,
    add_backend_options,
    add_command,
    add_compile_option,
    add_method,
    add_model_options,
    add_photo_options,
    add_refine_option,
    add_style_size,
    check_compile,
    defaults_of,
    photo_settings,
    stylizer_from_args,
)

OPTION = defaults_of("adain.apps.dataset:DatasetOptions")


DATASET_EXAMPLES = """examples:
  adain stylize-dataset imagenet/train paintings/ stylized/               # Stylized-ImageNet
  adain stylize-dataset photos/ paintings/ out/ --copies 5 --alpha 0.8 --size 256 --format jpg --quality 90
  adain stylize-dataset photos/ paintings/ out/ --shard 0/2 &  adain stylize-dataset photos/ paintings/ out/ --shard 1/2
  torchrun --nproc-per-node 4 -m adain.cli stylize-dataset photos/ paintings/ out/    # one rank per GPU
  adain stylize-dataset photos/ paintings/ out/ --backend onnxruntime --models models/ --no-losses   # no torch networks
  adain stylize-dataset photos/ paintings/ out/ --size 256 --crop --compile   # one shape, compiled from the first image
  adain stylize-dataset photos/ paintings/ out/ --model lite --no-losses      # the small model, several times faster

The tree and file names of SRC are kept (with --copies N: name_0 .. name_{N-1}); a rerun skips the
outputs that exist; OUT/manifest.csv (manifest-I-of-N.csv per shard) lists content -> style, each
output's content and style loss (as adain eval measures them; --no-losses skips that encoder pass)
and flags: "uniform" (a near-uniform output), "high content loss", "high style loss" (far above
the run's median). STYLES may hold style files (adain save-style) beside paintings. The losses need
the encoder's relu1_1 .. relu4_1: with --backend onnxruntime (an export holds relu4_1 only) add --no-losses.
The networks are compiled (torch.compile) for an image shape when the images left of that shape
repay the compile time, judged on their own eager time (a few shapes at most; torch's on-disk cache
makes a second run's compilation cheaper); a failed compilation warns and runs eagerly.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "stylize-dataset",
        help="stylize a whole folder tree with random styles",
        description="Stylize every image below SRC with styles drawn at random from STYLES into OUT "
        "(Stylized-ImageNet); resumable, shardable, deterministic for a seed.",
        epilog=DATASET_EXAMPLES,
    )
    p.add_argument("src", type=Path, help="folder of content images (searched recursively)")
    p.add_argument("styles", type=Path, help="folder of style images (searched recursively)")
    p.add_argument("out", type=Path, help="output folder (the tree of SRC is recreated there)")
    p.add_argument("--copies", type=int, default=OPTION("copies"), metavar="N", help="stylized copies per image, each with another style (default %(default)s)")
    add_alpha(p)
    p.add_argument("--size", type=int, default=OPTION("size"), metavar="N", help="shorter side of the outputs (0: keep each image's) (default %(default)s)")
    p.add_argument("--crop", action="store_true", help="centre square crop after resizing")
    add_style_size(p)
    add_method(p)
    add_refine_option(p)
    p.add_argument("--format", choices=Choices("adain.apps.dataset:FORMATS"), metavar="FORMAT",
                   help="output format, one of %(choices)s (default: keep each file's suffix)")
    p.add_argument("--quality", type=int, default=OPTION("quality"), help="JPEG/WebP quality 1..100 (default %(default)s)")
    p.add_argument("--seed", type=int, default=OPTION("seed"), help="seed of the style draw: same seed, same output (default %(default)s)")
    p.add_argument("--no-losses", action="store_true", help="skip the manifest's content and style loss of each output (one encoder pass less per output)")
    add_photo_options(p)
    p.add_argument("--shard", metavar="I/N", help="take every N-th image from the I-th (0 ≤ I < N) (default: torchrun's RANK/WORLD_SIZE, else all)")
    p.add_argument("--model", choices=("full", "lite"), default="full",
                   help="full: the paper's network; lite: the small distilled network in ONNX Runtime, several times faster "
                        "(adain only, paintings; needs --no-losses) (default %(default)s)")
    add_model_options(p, device_help="(default %(default)s: cuda if available; cuda:LOCAL_RANK under torchrun)")
    add_backend_options(p)
    add_compile_option(p, "images")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:

    from adain.apps.dataset import DatasetOptions, parse_shard, stylize_dataset
    from adain.device import rank_device
    from adain.errors import InputError, UsageError

    opts = DatasetOptions(
        copies=args.copies, alpha=args.alpha, size=args.size, crop=args.crop, style_size=args.style_size,
        format=args.format, quality=args.quality, seed=args.seed, losses=not args.no_losses, method=args.method, refine=args.refine,
        **photo_settings(args),
    )
    check_compile(args)
    shard = parse_shard(args.shard) if args.shard else None
    if args.model == "lite":
        from adain.lite.stylizer import LiteStylizer

        if args.backend != "torch" or args.decoder is not None or args.precision != "auto" or args.compile:
            raise UsageError("--model lite is one network, run in ONNX Runtime: no --backend, --decoder, --precision or --compile")
        stylizer: Any = LiteStylizer(refiner=stylizer_from_args(args, torch_device=rank_device(args.device)) if args.refine else None)
    else:
        stylizer = stylizer_from_args(args, torch_device=rank_device(args.device))
    report = stylize_dataset(args.src, args.styles, args.out, opts, stylizer=stylizer, shard=shard, compile=args.compile)
    print(f"wrote {report.written} images in {report.seconds:.1f} s ({report.images_per_s:.2f} images/s); "
          f"{report.existing} existed already; manifest {report.manifest}"
          + (f" ({report.flagged} flagged: see its flags column)" if report.flagged else ""))
    if report.failed:
        print(f"{len(report.failed)} unreadable file(s) skipped:", file=sys.stderr)
        for _, why in report.failed:
            print(f"  {why}", file=sys.stderr)
        bad_contents = len(report.failed) - report.failed_styles
        raise InputError(f"{bad_contents} of {report.contents} content images and {report.failed_styles} of {report.styles} styles "
                         "could not be read and were skipped (listed above); everything else is written")
