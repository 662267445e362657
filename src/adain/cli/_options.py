"""Option groups shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

EVAL_DATA = Path("../shared/data/eval")


def add_command(sub: argparse._SubParsersAction, name: str, *, help: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with its examples (``epilog``), kept as written."""
    return sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_model_options(p: argparse.ArgumentParser, device_help: str = "(default %(default)s: cuda if available)") -> None:
    """``--device`` and ``--decoder``, shared by the commands that stylize."""
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help=device_help)
    p.add_argument("--decoder", type=Path, help="decoder weights (.safetensors) (default: the one shipped with adain)")


def add_alpha(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alpha", type=float, default=1.0, help="style strength in [0, 1]; 0 reconstructs the content (default %(default)s)")


def add_style_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style-size", type=int, default=512, metavar="N",
                   help="resize each style's shorter side to N (0: keep) (default %(default)s, the training scale)")


def add_style_controls(p: argparse.ArgumentParser, *, mask_help: str, index_help: str, color_help: str) -> None:
    """The paper's controls (``--alpha``, ``--weights``, ``--mask``/``--index-map``, ``--preserve-color``), shared by stylize and video."""
    add_alpha(p)
    p.add_argument("--weights", type=float, nargs="+", metavar="W", help="interpolation weights, one per style (≥ 0, normalised to sum 1)")
    p.add_argument("--mask", type=Path, nargs="+", metavar="FILE", help=mask_help)
    p.add_argument("--index-map", type=Path, metavar="FILE", help=index_help)
    p.add_argument("--preserve-color", choices=("color", "luminance"), help=color_help)
