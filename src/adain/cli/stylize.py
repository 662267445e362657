"""``adain stylize``: stylize images or folders of them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

from adain.cli._options import (
    Default,
    add_backend_options,
    add_command,
    add_compile_option,
    add_model_options,
    add_photo_options,
    add_refine_option,
    add_style_controls,
    add_style_size,
    check_compile,
    defaults_of,
    photo_settings,
    stylizer_from_args,
)
from adain.errors import UsageError
from adain.limits import MAX_STORED_PIXELS

OPTION = defaults_of("adain.apps.files:StylizeOptions")

STYLIZE_EXAMPLES = """examples:
  adain stylize --content photo.jpg --style wave.jpg --output out.jpg
  adain stylize --content photo.jpg --style wave.jpg --output out.jpg --alpha 0.6 --preserve-color color
  adain stylize --content photo.jpg --style a.jpg b.jpg --weights 3 1 --output mix.jpg      # interpolation
  adain stylize --content photo.jpg --style a.jpg b.jpg --mask left.png right.png --output split.jpg
  adain stylize --content photo.jpg --style a.jpg b.jpg c.jpg --index-map regions.png --output regions.jpg
  adain stylize --content photos/ --style paintings/ --output out/ --grid grid.jpg       # every pair
  adain stylize --content photos/ --style paintings/ --output out/ --no-compile          # never torch.compile
  adain stylize --content huge.jpg --style wave.jpg --output out.jpg --tile 1024         # bounded memory
  adain stylize --content IMG_0001.heic --style hokusai --output out.jpg --keep-profile  # bundled style, P3 kept
  adain stylize --content photo.jpg --style wave.safetensors --output out.png            # a style file (adain save-style)
  adain stylize --content photo.jpg --style wave.jpg --output out.jpg --method wct       # full covariance
  adain stylize --content photo.jpg --style wave.jpg --output best.jpg --refine          # + optimisation steps: slower, closer
  adain stylize --content photo.jpg --style wave.jpg --output big.jpg --style-scale 1    # strokes scale with the photo
  adain stylize --content photo.jpg --style wave.jpg --output out.jpg --backend onnxruntime --models models/
  adain stylize --content photo.jpg --style wave.jpg --output out.jpg --model lite        # the small model: fast, no torch

A folder (for --content or --style) stylizes every content x style combination into the
output folder as <content>_<style>.jpg; a bad image there is skipped with a warning, the rest
is written, and the exit code is 2 at the end. A folder is compiled (torch.compile) for a
content shape when the contents left of that shape repay the compile time (a few shapes at most);
a failed compilation warns and runs eagerly. With one content file, --output is one image and
several styles are mixed (equal weights unless --weights, or placed by --mask / --index-map).

A style is a painting, a style file from adain save-style, or a bundled style's name (hokusai,
macke, marc, seurat). The photo's colour profile is honoured and the output is sRGB (or, with
--keep-profile, the photo's profile); its EXIF is copied without the GPS position; the output
records how it was made (adain info OUTPUT shows it).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "stylize",
        help="stylize images",
        description="Render a content image in the style of one or several style images (AdaIN, WCT or EFDM).",
        epilog=STYLIZE_EXAMPLES,
    )
    p.add_argument("-c", "--content", type=Path, required=True, help="content image, or a folder of them")
    p.add_argument("-s", "--style", type=Path, nargs="+", required=True, help="style image(s) or style file(s), bundled style names, or a folder of them")
    p.add_argument("-o", "--output", type=Path, required=True, help="output image (.jpg, .png, .webp), or a folder in folder mode")
    add_style_controls(
        p,
        mask_help="one mask per style, or one fewer (style 1 takes the rest); any size of the content's aspect ratio (resized to it); "
        "white = this style here",
        index_help="palette or grey PNG of the content's aspect ratio; pixel value k (0..K-1) picks style k",
        color_help="keep the content's colours: recolour the styles first, or transfer luminance only",
    )
    p.add_argument("--content-size", type=int, default=OPTION("content_size"), metavar="N",
                   help="resize the content's shorter side to N first (0: keep; the output has the input's size) (default %(default)s)")
    add_style_size(p)
    add_refine_option(p)
    p.add_argument("--style-scale", type=float, default=0.0, metavar="F",
                   help="stroke scale: resize each style to F times the content's shorter side, so a preview and the "
                   "full-size result look alike (0: off, use --style-size) (default %(default)s)")
    p.add_argument("--crop", action="store_true", help="centre square crop of content and styles (after resizing)")
    p.add_argument("--max-pixels", type=int, metavar="N", help="refuse images larger than N pixels, as stored or after resizing "
                   f"(default: {MAX_STORED_PIXELS // 10**6} million as stored; after resizing, what fits half the memory available)")
    p.add_argument("--model", choices=("full", "lite"), default="full",
                   help="full: the paper's network (VGG-19 and its decoder); lite: the small distilled network, several times faster, "
                        "run in ONNX Runtime without torch (adain method only; no style files, tiles or index maps) (default %(default)s)")
    add_model_options(p)
    add_backend_options(p)
    add_compile_option(p, "images")
    p.add_argument("--quality", type=int, default=OPTION("quality"), help="JPEG/WebP quality 1..100 (default %(default)s)")
    add_photo_options(p)
    p.add_argument("--grid", type=Path, metavar="FILE", help="folder mode: also write a picture grid (styles across, contents down)")
    p.add_argument("--grid-height", type=int, default=160, metavar="PX", help="height of a grid row (default %(default)s)")
    p.add_argument("--tile", default="0", metavar="SIZE", help="one content file: stylize in SIZE px tiles, bounded memory for huge "
                   "images, same result (0: off; auto: 1024 px tiles above 4 megapixels) (default %(default)s)")
    # --model lite reads LiteOptions' defaults, without torch (refining its output needs torch: then the full model's path)
    p.set_defaults(func=run, keeps_defaults=lambda args: args.model == "lite" and not args.refine)


def run(args: argparse.Namespace) -> None:
    if args.model == "lite" and not args.refine:
        return run_lite(args)
    if args.model == "lite":
        check_lite_options(args)
    from tqdm import tqdm

    from adain.apps.files import StylizeOptions, load_pair, stylize_folders, stylize_pair
    from adain.errors import InputError
    from adain.io.images import list_images, save_image
    from adain.io.stylefile import SUFFIX
    from adain.stylizer import Stylizer

    opts = StylizeOptions(
        alpha=args.alpha, preserve_color=args.preserve_color, content_size=args.content_size,
        style_size=args.style_size, crop=args.crop, quality=args.quality, style_scale=args.style_scale, method=args.method, refine=args.refine,
        **photo_settings(args),
        **({} if args.max_pixels is None else {"max_pixels": args.max_pixels}),
    )
    check_compile(args)
    if args.grid_height < 16:
        raise UsageError(f"--grid-height must be at least 16, got {args.grid_height}")

    def make_stylizer() -> Stylizer:
        if args.model == "lite":  # refined by the full model's encoder
            from adain.lite.stylizer import LiteStylizer

            return cast(Stylizer, LiteStylizer(refiner=stylizer_from_args(args)))
        return stylizer_from_args(args)

    if not args.content.is_dir() and not any(s.is_dir() for s in args.style):
        check_one_output(args)
        job = load_pair(args.content, args.style, opts, weights=args.weights, masks=args.mask, index_map=args.index_map, tile=args.tile)
        stylizer = make_stylizer()
        if args.compile:  # one image: compiling costs more than it saves, but asked for
            stylizer.compile_for((1, *job.content.shape), warn=lambda msg: print(f"adain stylize: warning: {msg}", file=sys.stderr))
        with tqdm(total=opts.refine, desc="refine", unit="step", disable=not opts.refine or None, leave=False) as bar:

            def step(loss: float) -> None:
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                bar.update(1)

            image = stylize_pair(job, stylizer, args.tile, on_step=step)
        save_image(image, args.output, opts.quality, job.meta(stylizer, opts))
        print(f"wrote {args.output}")
        return
    if args.tile != "0":
        raise UsageError("--tile works with one --content file, not folders")
    if args.weights is not None or args.mask is not None or args.index_map is not None:
        raise UsageError("--weights, --mask and --index-map mix styles into one picture: use one --content file and style files, not folders")
    contents = list_images(args.content) if args.content.is_dir() else [args.content]
    styles = [p for s in args.style for p in (list_images(s, also=(SUFFIX,)) if s.is_dir() else [s])]
    report = stylize_folders(
        contents, styles, args.output, opts, make_stylizer, grid=args.grid, grid_height=args.grid_height,
        warn=lambda msg: tqdm.write(f"adain stylize: warning: {msg}", file=sys.stderr), compile=args.compile,
        log=lambda msg: tqdm.write(f"adain stylize: {msg}", file=sys.stderr),
    )
    print(f"wrote {len(report.written)} images to {args.output}" + (f" and the grid {args.grid}" if args.grid and report.written else ""))
    if report.skipped:
        raise InputError(f"{len(report.skipped)} input file(s) skipped, their results are missing (see the warnings above)")


def check_one_output(args: argparse.Namespace) -> None:
    """One content file: ``--output`` is an image file of a known format and none of the inputs; no ``--grid``."""
    from adain.errors import InputError
    from adain.io.atomic import check_not_an_input
    from adain.io.images import image_format

    if args.grid is not None:
        raise UsageError("--grid needs a folder of contents or styles")
    if args.output.is_dir():
        raise InputError(f"{args.output}: is a folder; give an image file name (a folder is for folder mode)")
    image_format(args.output)
    inputs = {"content": args.content, **{f"style {i + 1}": s for i, s in enumerate(args.style)},
              **{f"mask {i + 1}": m for i, m in enumerate(args.mask or [])}, "index map": args.index_map}
    check_not_an_input(args.output, inputs)


LITE_UNSUPPORTED = (
    ("method", "adain", "--method {} (the lite model transfers means and stds only)"),
    ("tile", "0", "--tile (the lite model needs little memory: use it without tiles)"),
    ("index_map", None, "--index-map (use --mask files)"),
    ("backend", "torch", "--backend {} (the lite model always runs in ONNX Runtime)"),
    ("models", None, "--models (an export of the full model)"),
    ("decoder", None, "--decoder (the full model's weights)"),
    ("precision", "auto", "--precision {} (the lite model runs in fp32)"),
    ("compile", None, "--compile (torch.compile; the lite model runs in ONNX Runtime)"),
    ("style_scale", 0.0, "--style-scale"),
)


def check_lite_options(args: argparse.Namespace) -> dict:
    """Refuse in one line what ``--model lite`` does not take (:data:`LITE_UNSUPPORTED`); the options given, defaults left out."""
    given = {name: value for name, value in vars(args).items() if not isinstance(value, Default)}  # defaults left: LiteOptions' own
    for name, default, what in LITE_UNSUPPORTED:
        value = given.get(name)
        if value is not None and value != default and not (name == "compile" and value is False):
            raise UsageError(f"--model lite does not take {what.format(value)}")
    return given


def run_lite(args: argparse.Namespace) -> None:
    """``adain stylize --model lite``: the same jobs without torch (:mod:`adain.apps.lite`)."""
    from adain.apps.lite import LiteOptions, stylize_file, stylize_folders
    from adain.errors import InputError
    from adain.io.images import list_images
    from adain.lite.runtime import LiteModel

    given = check_lite_options(args)
    fields = ("alpha", "preserve_color", "content_size", "style_size", "crop", "quality", "max_pixels", "keep_profile", "strip_metadata", "keep_gps")
    opts = LiteOptions(**{name: given[name] for name in fields if given.get(name) is not None})
    if args.weights is not None and args.mask is not None:
        raise UsageError("give --weights or --mask, not both: weights mix the styles everywhere, masks place them")
    if not args.content.is_dir() and not any(s.is_dir() for s in args.style):
        check_one_output(args)
        if args.weights is not None and len(args.weights) != len(args.style):
            raise UsageError(f"{len(args.weights)} style weights given for {len(args.style)} styles")
        stylize_file(LiteModel(), args.content, args.style, args.output, opts, weights=args.weights, masks=args.mask)
        print(f"wrote {args.output}")
        return
    if args.weights is not None or args.mask is not None:
        raise UsageError("--weights and --mask mix styles into one picture: use one --content file and style files, not folders")
    if args.grid_height < 16:
        raise UsageError(f"--grid-height must be at least 16, got {args.grid_height}")
    from tqdm import tqdm  # folders only: a one-shot image starts without it

    contents = list_images(args.content) if args.content.is_dir() else [args.content]
    styles = [p for s in args.style for p in (list_images(s) if s.is_dir() else [s])]
    with tqdm(total=len(contents) * len(styles), desc="stylize", unit="image", mininterval=0.5) as bar:
        report = stylize_folders(LiteModel(), contents, styles, args.output, opts, grid=args.grid, grid_height=args.grid_height,
                                 warn=lambda msg: tqdm.write(f"adain stylize: warning: {msg}", file=sys.stderr), progress=bar.update)
    print(f"wrote {len(report.written)} images to {args.output}" + (f" and the grid {args.grid}" if args.grid and report.written else ""))
    if report.skipped:
        raise InputError(f"{len(report.skipped)} input file(s) skipped, their results are missing (see the warnings above)")
