"""``adain save-style``: a painting's (or a mix's) statistics as a small style file."""

from __future__ import annotations

import argparse
from pathlib import Path

from adain.cli._options import add_command, add_model_options, add_style_size
from adain.limits import MAX_STORED_PIXELS

EXAMPLES = """examples:
  adain save-style wave.jpg --output wave.safetensors
  adain save-style a.jpg b.jpg --weights 3 1 --output mix.safetensors      # an interpolation, saved
  adain stylize --content photo.jpg --style wave.safetensors --output out.jpg
  adain info wave.safetensors
  adain save-style wave.jpg --model lite --output wave-lite.safetensors   # for --model lite (about 2 KB)

A style file holds the style's feature statistics (about 8 KB), each painting's name and
SHA-256, and the identity of the encoder: it works wherever a style image does (stylize,
video, stylize-dataset, the web page and API) and gives the same picture, except with
--preserve-color, which needs the painting itself. A file made with another encoder is refused.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "save-style",
        help="save a style's statistics to a small file",
        description="Encode one or several paintings once and save their statistics (mixed with --weights) as NAME.safetensors.",
        epilog=EXAMPLES,
    )
    p.add_argument("paintings", type=Path, nargs="+", metavar="PAINTING", help="style image(s), or style files to mix")
    p.add_argument("-o", "--output", type=Path, required=True, help="the style file to write (.safetensors)")
    p.add_argument("--weights", type=float, nargs="+", metavar="W", help="interpolation weights, one per painting (≥ 0, normalised to sum 1)")
    add_style_size(p)
    p.add_argument("--max-pixels", type=int, metavar="N", help=f"refuse larger images (default: {MAX_STORED_PIXELS // 10**6} million)")
    p.add_argument("--model", choices=("full", "lite"), default="full",
                   help="the network the file is for: full (VGG-19's statistics) or lite (the lite model's, without torch) (default %(default)s)")
    add_model_options(p)
    p.set_defaults(func=run, keeps_defaults=lambda args: args.model == "lite")  # --model lite reads LiteOptions' defaults, without torch


def run(args: argparse.Namespace) -> None:
    if args.model == "lite":
        return run_lite(args)
    from adain.apps.files import StylizeOptions, encode_styles, find_style
    from adain.controls import normalise_weights
    from adain.errors import InputError
    from adain.io.atomic import check_not_an_input
    from adain.io.stylefile import SUFFIX, mix, save_style
    from adain.stylizer import Stylizer

    if args.output.suffix.lower() != SUFFIX:
        raise InputError(f"{args.output}: a style file's name ends in {SUFFIX}")
    check_not_an_input(args.output, {f"painting {i + 1}": find_style(p) for i, p in enumerate(args.paintings)})
    weights = normalise_weights(args.weights, len(args.paintings)).tolist() if args.weights else None
    opts = StylizeOptions(style_size=args.style_size, **({} if args.max_pixels is None else {"max_pixels": args.max_pixels}))
    stylizer = Stylizer(args.decoder, device=args.device)
    parts = encode_styles(args.paintings, opts, stylizer)
    style = mix(parts, weights, args.output.stem)
    save_style(style, args.output)
    print(f"wrote {args.output}: {args.output.stat().st_size} bytes, " + ", ".join(f"{s['name']} × {s['weight']:g}" for s in style.sources))


def run_lite(args: argparse.Namespace) -> None:
    """``--model lite``: the lite model's statistics of the paintings (mixed by ``--weights``), without torch."""
    from adain.apps.lite import LiteOptions, find_painting, load_style
    from adain.cli._options import Default
    from adain.errors import InputError, UsageError
    from adain.io.atomic import check_not_an_input
    from adain.io.provenance import source_entry
    from adain.lite.runtime import LiteModel, LiteStyle, normalise_weights
    from adain.lite.stylefile import mix_styles, write_lite_style

    if args.output.suffix.lower() != ".safetensors":
        raise InputError(f"{args.output}: a style file's name ends in .safetensors")
    if args.decoder is not None:
        raise UsageError("--model lite does not take --decoder (the full model's weights)")
    check_not_an_input(args.output, {f"painting {i + 1}": find_painting(p) for i, p in enumerate(args.paintings)})
    weights = normalise_weights(args.weights, len(args.paintings)).tolist()
    sizes = {k: v for k, v in (("style_size", args.style_size), ("max_pixels", args.max_pixels)) if v is not None and not isinstance(v, Default)}
    opts, model = LiteOptions(**sizes), LiteModel()
    loaded = [load_style(p, opts, model) for p in args.paintings]
    style = mix_styles([s if isinstance(s, LiteStyle) else model.style(s) for s in loaded], weights)
    sources = [{**source_entry(find_painting(p)), "weight": round(w, 6)} for p, w in zip(args.paintings, weights)]
    write_lite_style(style, args.output, model=model.identity, sources=sources)
    print(f"wrote {args.output}: {args.output.stat().st_size} bytes, " + ", ".join(f"{s['name']} × {s['weight']:g}" for s in sources))
