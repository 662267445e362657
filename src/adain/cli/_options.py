"""Option groups shared by several commands, and defaults and choices read from the library.

An option's default and choices come from the dataclass or ``Literal`` type that
defines them (:class:`Default`, :class:`Choices`), so the CLI and the Python API
cannot drift apart. Both import their module only when needed (when ``--help``
shows them or the command runs): building the parser stays free of torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

if TYPE_CHECKING:
    import torch

    from adain.stylizer import Stylizer


def _lookup(where: str) -> Any:
    module, name = where.split(":")
    return getattr(importlib.import_module(module), name)


class Default:
    """The default of field ``field`` of the dataclass ``where`` (``"adain.controls:Controls"``), looked up when needed."""

    def __init__(self, where: str, field: str) -> None:
        self.where, self.field = where, field

    def value(self) -> Any:
        (f,) = [f for f in dataclasses.fields(_lookup(self.where)) if f.name == self.field]
        if f.default is not dataclasses.MISSING:
            return f.default
        factory: Any = f.default_factory
        return factory()

    def __str__(self) -> str:  # what ``%(default)s`` shows in --help
        return str(self.value())


class Choices(Sequence[Any]):
    """The values of a ``Literal`` type or a tuple at ``where`` (``"adain.names:PreserveColor"``), looked up when needed."""

    def __init__(self, where: str) -> None:
        self.where = where

    def _values(self) -> tuple[Any, ...]:
        obj = _lookup(self.where)
        return get_args(obj) if get_origin(obj) is Literal else tuple(obj)

    def __getitem__(self, index: Any) -> Any:
        return self._values()[index]

    def __len__(self) -> int:
        return len(self._values())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values())

    def __contains__(self, value: object) -> bool:
        return value in self._values()


class Constant(Default):
    """A module's constant at ``where`` (``"adain.refine:DEFAULT_REFINE"``), looked up when needed (an option's ``const``)."""

    def __init__(self, where: str) -> None:
        super().__init__(where, "")

    def value(self) -> Any:
        return _lookup(self.where)


def defaults_of(where: str) -> Callable[[str], Default]:
    """``defaults_of("adain.apps.server:Limits")("queue")``: a :class:`Default` per field of one dataclass."""
    return lambda field: Default(where, field)


def resolve_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Replace every :class:`Default` left in ``args`` (an option not given) by its value."""
    for name, value in vars(args).items():
        if isinstance(value, Default):
            setattr(args, name, value.value())
    return args

def add_command(sub: argparse._SubParsersAction, name: str, *, help: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with its examples (``epilog``), kept as written."""
    return sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_model_options(p: argparse.ArgumentParser, device_help: str = "(default %(default)s: cuda if available)") -> None:
    """``--device`` and ``--decoder``, shared by the commands that stylize."""
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help=device_help)
    p.add_argument("--decoder", type=Path, help="decoder weights (.safetensors) (default: the one shipped with adain)")


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--models``: run the networks in torch or, from an ONNX export, in ONNX Runtime."""
    p.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                   help="run the networks in torch, or in ONNX Runtime from --models (CPU) (default %(default)s)")
    p.add_argument("--models", type=Path, metavar="DIR", help="an ONNX export folder (adain export --format onnx --output DIR)")
    p.add_argument("--precision", choices=Choices("adain.names:PRECISIONS_RUN"), default="auto", metavar="P",
                   help="the networks' arithmetic (P: %(choices)s): auto (bf16 where the CPU or GPU computes it natively, else fp32), fp32, bf16, or "
                        "int8 (a static int8 model built once from the weights, run in ONNX Runtime on the CPU: faster, slightly "
                        "different; needs the onnx extra) (default %(default)s)")


def add_compile_option(p: argparse.ArgumentParser, items: str, left: str = "") -> None:
    """``--compile/--no-compile`` of a long-running job whose inputs are ``items`` (e.g. ``"images"``); ``left``:
    how the job knows the items of a shape still to come (default: ``"the {items} left of a shape"``)."""
    left = left or f"the {items} left of a shape"
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help=f"torch.compile the networks for the {items}' shapes (at most three): faster {items} after minutes of "
                        f"compiling (default: where {left} repay it, judged on their own eager time; --compile: each shape at "
                        "once; torch backend)")


def check_compile(args: argparse.Namespace) -> None:
    """``--compile`` needs the torch backend."""
    from adain.errors import UsageError

    if args.compile and (args.backend != "torch" or args.precision == "int8"):
        raise UsageError("--compile needs the torch backend and precision (ONNX Runtime, also for int8, optimises its own graph)")


def stylizer_from_args(args: argparse.Namespace, torch_device: str | torch.device | None = None) -> Stylizer:
    """The :class:`~adain.stylizer.Stylizer` that ``--backend``, ``--models``, ``--precision``, ``--decoder`` and ``--device`` ask for
    (``torch_device``: the torch backend's device instead of ``--device``, e.g. a torchrun rank's)."""
    from adain.onnx.runtime import make_stylizer

    device = torch_device if torch_device is not None and args.backend == "torch" else args.device
    return make_stylizer(args.backend, models=args.models if args.backend == "onnxruntime" else None, decoder=args.decoder, device=device,
                         precision=args.precision)


def add_alpha(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alpha", type=float, default=Default("adain.controls:Controls", "alpha"),
                   help="style strength in [0, 1]; 0 reconstructs the content (default %(default)s)")


def add_style_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style-size", type=int, default=Default("adain.apps.files:StylizeOptions", "style_size"), metavar="N",
                   help="shrink each style whose shorter side is larger to N; smaller styles are kept (0: keep all) (default: the training "
                        "scale, %(default)s for the full model, 256 for the lite one)")


def add_style_controls(p: argparse.ArgumentParser, *, mask_help: str, index_help: str, color_help: str) -> None:
    """The paper's controls (``--alpha``, ``--weights``, ``--mask``/``--index-map``, ``--preserve-color``), shared by stylize and video."""
    add_alpha(p)
    p.add_argument("--weights", type=float, nargs="+", metavar="W", help="interpolation weights, one per style (≥ 0, normalised to sum 1)")
    p.add_argument("--mask", type=Path, nargs="+", metavar="FILE", help=mask_help)
    p.add_argument("--index-map", type=Path, metavar="FILE", help=index_help)
    p.add_argument("--preserve-color", choices=Choices("adain.names:PreserveColor"), metavar="MODE", help=f"{color_help} (MODE: %(choices)s)")
    add_method(p)


def add_photo_options(p: argparse.ArgumentParser) -> None:
    """``--keep-profile``, ``--strip-metadata``, ``--keep-gps``: the output's colour space and metadata."""
    p.add_argument("--keep-profile", action="store_true", help="write in the photo's own RGB colour profile (e.g. Display P3) instead of sRGB")
    p.add_argument("--strip-metadata", action="store_true", help="do not copy the photo's EXIF (camera, date); the record of how the output was made is kept")
    p.add_argument("--keep-gps", action="store_true", help="copy the photo's GPS position too (dropped by default: privacy)")


def photo_settings(args: argparse.Namespace) -> dict:
    """The options of :func:`add_photo_options` as keyword arguments of the apps' option classes."""
    return {"keep_profile": args.keep_profile, "strip_metadata": args.strip_metadata, "keep_gps": args.keep_gps}


def add_method(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=Choices("adain.names:Method"), default=Default("adain.apps.files:StylizeOptions", "method"), metavar="M",
                   help="how the style's statistics are transferred (M: %(choices)s): adain (mean and std per channel, the paper), "
                   "wct (whitening and colouring: the full covariance), efdm (exact histogram matching by sorting) (default %(default)s)")


def add_refine_option(p: argparse.ArgumentParser) -> None:
    """``--refine [N]``: optimisation steps after the decoder (:mod:`adain.refine`); bare, its documented default."""
    p.add_argument("--refine", type=int, nargs="?", const=Constant("adain.refine:DEFAULT_REFINE"), default=0, metavar="N",
                   help="then N optimisation steps of the paper's losses from the decoder's output, toward the same targets (alpha, weights, "
                        "masks, method): closer to the style and the content, at seconds per step and megapixel on a CPU; style paintings "
                        "only, no tiles (bare --refine: %(const)s steps; 0: off) (default %(default)s)")
