"""``adain info``: what a picture is and how it was made."""

from __future__ import annotations

import argparse
from pathlib import Path

from adain.cli._options import add_command

EXAMPLES = """examples:
  adain info out.jpg              # format, size, colour profile, camera, and adain's record
  adain info out.mp4              # a video adain made: container, rate, frames, and adain's record
  adain info photo.heic           # what adain will read: profile, orientation, GPS present
  adain info wave.safetensors     # a style file: its paintings, encoder, style size
  adain info out.png --json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "info",
        help="show a picture's or video's format, colour profile, metadata and how adain made it",
        description="Print a picture's format, size, colour profile, camera and date, whether it holds a GPS "
        "position, and the record adain writes into every output (version, decoder, styles with their "
        "SHA-256, alpha, weights, colour handling, sizes; for videos also the temporal mode); a video's "
        "container, rate and frames; or a style file's contents.",
        epilog=EXAMPLES,
    )
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="pictures, videos or style files")
    p.add_argument("--json", action="store_true", help="print JSON (one object per file, in a list)")
    p.set_defaults(func=run)


def describe(path: Path) -> dict:
    """A style file's, a picture's or else a video's description.

    Raises:
        InputError: neither (one line naming the file).
    """
    from adain.errors import InputError
    from adain.io.provenance import NotAPictureError, describe_file
    from adain.io.stylefile import describe_style, is_style_file
    from adain.lite.stylefile import describe_lite_style, is_lite_style_file

    if is_lite_style_file(path):
        return describe_lite_style(path)
    if is_style_file(path):
        return describe_style(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return describe_file(path)
    except NotAPictureError:
        from adain.apps.video_io import describe_video

        try:
            return describe_video(path)
        except InputError:
            raise InputError(f"{path}: not a picture or video adain can read") from None


def run(args: argparse.Namespace) -> None:
    import json

    from adain.io.provenance import info_text

    infos = [describe(f) for f in args.files]
    print(json.dumps(infos, indent=1, ensure_ascii=False) if args.json else "\n\n".join(info_text(i) for i in infos))
