"""Command line: ``adain stylize | texture | video | video-metrics | stylize-dataset | serve | export | save-style | info | train | eval | optimize | bench``.

A thin layer over the Python API: parse, call, turn expected errors into a
one-line message and exit code 2. Each command is a module of this package
with ``register(sub)`` (its parser, examples in ``--help``) and ``run(args)``;
they import the library lazily, so ``adain --help`` stays fast.
"""

from __future__ import annotations

import argparse
import signal
import sys

from adain.cli import bench, dataset, evaluate, export, info, optimize, save_style, serve, stylize, texture, train, video, video_metrics

EXIT_BAD_INPUT = 2
COMMANDS = (stylize, texture, train, evaluate, optimize, serve, export, bench, video, video_metrics, dataset, save_style, info)  # the order of ``adain --help``


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adain", description="Arbitrary style transfer in real time with AdaIN (Huang & Belongie, 2017).")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from adain.cli._options import resolve_defaults
    from adain.errors import AdainError

    args = build_parser().parse_args(argv)
    keeps_defaults = getattr(args, "keeps_defaults", None)  # a torch-free path reads its own defaults (the library's live in torch modules)
    if not (keeps_defaults and keeps_defaults(args)):
        args = resolve_defaults(args)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        args.func(args)
    except AdainError as exc:
        print(f"adain {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM ends a command like Ctrl-C does: ``finally`` blocks run, so no temp file is left behind."""
    raise SystemExit(128 + signum)

