"""``adain info``: what a picture is and how it was made."""

from __future__ import annotations

import argparse
from pathlib import Path

from adain.cli._options import add_command

EXAMPLES = """examples:
  adain info out.jpg              # format, size, colour profile, camera, and adain's record
  adain info photo.heic           # what adain will read: profile, orientation, GPS present
  adain info wave.safetensors     # a style file: its paintings, encoder, style size
  adain info out.png --json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "info",
        help="show a picture's format, colour profile, metadata and how adain made it",
        description="Print a picture's format, size, colour profile, camera and date, whether it holds a GPS "
        "position, and the record adain writes into every output (version, decoder, styles with their "
        "SHA-256, alpha, weights, colour handling, sizes); or a style file's contents.",
        epilog=EXAMPLES,
    )
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="pictures or style files")
    p.add_argument("--json", action="store_true", help="print JSON (one object per file, in a list)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import json

    from adain.provenance import describe_file, info_text
    from adain.stylefile import describe_style, is_style_file

    infos = [describe_style(f) if is_style_file(f) else describe_file(f) for f in args.files]
    print(json.dumps(infos, indent=1, ensure_ascii=False) if args.json else "\n\n".join(info_text(i) for i in infos))
