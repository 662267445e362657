"""``adain texture``: a texture of any size from a style image."""

from __future__ import annotations

import argparse
from pathlib import Path

from adain.cli._options import add_command, add_method, add_model_options, add_style_size
from adain.errors import UsageError

TEXTURE_EXAMPLES = """examples:
  adain texture --style wave.jpg --size 1024x512 --output wave-texture.png
  adain texture --style wave.jpg --size 512x512 --output tile.png --tileable          # wraps around seamlessly
  adain texture --style wave.jpg --size 512x512 --output rich.png --refine 20         # closer to the style, slower
  adain texture --style wave.jpg --size 768x768 --output t.png --method wct --seed 7

The style's statistics are applied to the features of a noise image and decoded (fast);
--refine N then takes N optimisation steps of the Gram (texture) loss on the pixels.
"""


def size_arg(text: str) -> tuple[int, int]:
    """``WxH`` → ``(W, H)``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 512x512, got {text!r}") from None
    return w, h


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "texture",
        help="make a texture from a style image",
        description="Synthesize a texture of any size in the style of an image: the style's statistics on noise "
        "features, decoded, optionally refined by optimisation.",
        epilog=TEXTURE_EXAMPLES,
    )
    p.add_argument("-s", "--style", type=Path, required=True, help="style image")
    p.add_argument("--size", type=size_arg, required=True, metavar="WxH", help="texture size in px, e.g. 512x512")
    p.add_argument("-o", "--output", type=Path, required=True, help="output image (.jpg, .png, .webp)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise, 0 ≤ seed < 2^64: same seed, same texture (default %(default)s)")
    p.add_argument("--tileable", action="store_true", help="seamless: the texture wraps around (sides multiples of 8)")
    p.add_argument("--refine", type=int, default=0, metavar="N",
                   help="then N ≤ 1000 optimisation steps of the Gram loss on the pixels: closer to the style, slower "
                   "(measured in docs/evaluation.md) (default %(default)s)")
    add_method(p)
    add_style_size(p)
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1..100 (default %(default)s)")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from torch import Tensor
    from tqdm import tqdm

    from adain.apps.files import StylizeOptions, find_style, load_style
    from adain.io.atomic import check_not_an_input
    from adain.io.images import image_format, save_image
    from adain.stylizer import Stylizer
    from adain.texture import check_texture_options, check_texture_size, synthesize_texture

    width, height = args.size
    check_texture_size(height, width, args.tileable)
    check_texture_options(args.seed, args.refine, names=("--seed", "--refine"))
    image_format(args.output)
    style_path = find_style(args.style, painting=True)
    check_not_an_input(args.output, {"style": style_path})
    style = load_style(style_path, StylizeOptions(style_size=args.style_size, quality=args.quality))
    if not isinstance(style, Tensor):
        raise UsageError(f"{args.style}: adain texture needs the painting, not a style file's statistics")
    stylizer = Stylizer(args.decoder, device=args.device)
    with tqdm(total=args.refine, unit="step", desc="refine", disable=args.refine == 0, leave=False) as bar:

        def step(loss: float) -> None:
            bar.update()
            bar.set_postfix(gram=f"{loss:.3g}")

        texture = synthesize_texture(
            stylizer, style, height, width, method=args.method, seed=args.seed, tileable=args.tileable, refine=args.refine, on_step=step,
        )
    save_image(texture, args.output, args.quality)
    print(f"wrote {args.output} ({width}x{height}{', tileable' if args.tileable else ''})")
