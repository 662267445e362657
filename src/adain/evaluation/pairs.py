"""The evaluation sets of ``adain eval`` and ``adain optimize --baseline``: which (content, style) pairs, in which order.

Sets:

* ``release``: the 6 pairs of the original implementation's ``examples/``
  (``X_cropped`` + ``S_cropped``, 512×512) against its ``X_stylized_S.jpg``
  output;
* ``full``: ``content/`` × ``style/`` at shorter side 512, in the
  :func:`diagonal_order` (``--limit N`` takes its first N pairs).
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from adain.errors import InputError, UsageError
from adain.geometry import resize_shorter
from adain.io.images import list_images, load_image

SETS = ("release", "full")
DATA_ENV = "ADAIN_EVAL_DATA"  # the eval data folder, when no --data / data= is given
FULL_SIZE = 512  # shorter side of content and style images in the full set
STYLIZED = "_stylized_"
CROPPED = "_cropped"


@dataclass(frozen=True)
class Pair:
    """One evaluation pair; ``reference`` is the original implementation's output, if any."""

    name: str
    content: Path
    style: Path
    reference: Path | None = None


def _closest(stem: str, candidates: dict[str, Path], what: str, source: Path) -> Path:
    """The candidate named ``stem``, else the closest name (the release spells ``asheville`` ``ashville``)."""
    if stem in candidates:
        return candidates[stem]
    close = difflib.get_close_matches(stem, list(candidates), n=1, cutoff=0.8)
    if not close:
        raise InputError(f"{source}: no {what} image '{stem}{CROPPED}.*' next to it")
    return candidates[close[0]]


def release_pairs(folder: str | Path) -> list[Pair]:
    """Pairs of the original release in ``folder`` (``eval/examples``), sorted by name.

    Every ``X_stylized_S.*`` output pairs ``X_cropped.*`` (content) with
    ``S_cropped.*`` (style, or the closest such name).

    Raises:
        InputError: not a folder, no ``*_stylized_*`` file, or an input is missing.
    """
    files = list_images(folder)
    cropped = {p.stem[: -len(CROPPED)]: p for p in files if p.stem.endswith(CROPPED)}
    pairs = []
    for ref in files:
        if STYLIZED not in ref.stem:
            continue
        content, style = ref.stem.split(STYLIZED, 1)
        pairs.append(Pair(ref.stem, _closest(content, cropped, "content", ref), _closest(style, cropped, "style", ref), ref))
    if not pairs:
        raise InputError(f"{folder}: no '*{STYLIZED}*' result images of the original release")
    return pairs


def diagonal_order(n_content: int, n_style: int) -> list[tuple[int, int]]:
    """All ``n_content × n_style`` index pairs, ordered so every prefix spreads over contents and styles.

    Pair ``k`` is ``(k mod n_c, (k + ⌊k / L⌋) mod n_s)`` with ``L = lcm(n_c, n_s)``: with 11
    contents and 21 styles (coprime) it is simply ``(k mod 11, k mod 21)``, so the first
    ``N`` pairs use ``min(N, 11)`` contents and ``min(N, 21)`` styles, each at most ⌈N/11⌉ times.
    """
    lcm = math.lcm(n_content, n_style)
    return [(k % n_content, (k + k // lcm) % n_style) for k in range(n_content * n_style)]


def full_pairs(folder: str | Path, limit: int = 0) -> list[Pair]:
    """Pairs of ``folder/content`` × ``folder/style`` in :func:`diagonal_order`; ``limit > 0`` keeps the first ``limit``."""
    if limit < 0:
        raise UsageError(f"--limit must be ≥ 0, got {limit}")
    folder = Path(folder)
    contents, styles = list_images(folder / "content"), list_images(folder / "style")
    for sub, files in (("content", contents), ("style", styles)):
        if not files:
            raise InputError(f"{folder / sub}: no images found")
    order = diagonal_order(len(contents), len(styles))
    pairs = [Pair(f"{contents[i].stem}{STYLIZED}{styles[j].stem}", contents[i], styles[j]) for i, j in order]
    return pairs[:limit] if limit else pairs


def eval_data(data: str | Path | None = None) -> Path:
    """The eval data folder: ``data`` if given, else the ``ADAIN_EVAL_DATA`` environment variable.

    Raises:
        UsageError: neither is set.
    """
    if data is None:
        data = os.environ.get(DATA_ENV)
        if not data:
            raise UsageError(f"no eval data folder: give --data FOLDER (data= in Python) or set {DATA_ENV}")
    return Path(data)


def eval_pairs(name: str, data: str | Path, limit: int = 0) -> list[Pair]:
    """The pairs of set ``name`` (``release`` or ``full``) under the eval folder ``data``."""
    if name == "release":
        pairs = release_pairs(Path(data) / "examples")
        return pairs[:limit] if limit else pairs
    if name == "full":
        return full_pairs(data, limit)
    raise UsageError(f"set must be one of {SETS}, got {name!r}")


def load_pair(pair: Pair, size: int) -> tuple[Tensor, Tensor]:
    """Content and style images ``(3, H, W)``, shorter side resized to ``size`` (0 keeps)."""
    return resize_shorter(load_image(pair.content), size), resize_shorter(load_image(pair.style), size)
