"""Stylize images far larger than fits in memory at once, in tiles, without seams.

Two passes over tiles, each tile encoded with enough surrounding context that
its features equal the untiled ones:

1. The relu4_1 channel statistics of the whole image are accumulated tile by
   tile (sums and sums of squares in float64), so AdaIN normalises every tile
   with the statistics of the whole picture, as the untiled transfer does.
2. Every tile is encoded with a margin, stylized with the whole-image
   statistics (``content_stats`` of :meth:`~adain.stylizer.Stylizer.stylize_batch`),
   decoded with a margin of features, and blended into the output with linear
   ramps where tiles overlap.

The margins cover the receptive fields (relu4_1: 68 px wide; the decoder:
about ±3 feature positions), so tiles agree with the untiled result up to
float rounding; the ramps hide what differs under bf16. Memory is bounded by
the tile size: the networks never see more than ``tile + 2·margin`` pixels a
side; the input, a padded copy, the output and a weight map are held whole
(40 bytes a pixel in float32).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

from adain.color import PreserveColor
from adain.controls import Controls
from adain.errors import UsageError
from adain.geometry import MULTIPLE, check_image, pad_to_multiple
from adain.ops import StatsAccumulator, StyleStats
from adain.stylizer import BYTES_PER_PIXEL, Stylizer

ENCODER_MARGIN = 48  # image px around an encoded region: > the relu4_1 receptive radius (34 px), a multiple of 8
DECODER_MARGIN = 4  # feature positions around a decoded region: > the decoder's receptive radius (≈2.75)
AUTO_PIXELS = 4_000_000  # ``tile="auto"`` tiles images above this many pixels
AUTO_TILE = 1024
TILED_BYTES_PER_PIXEL = 64  # held whole while tiling: input, padded copy, output, weights, colour copies (float32)


def stylize_memory(height: int, width: int, tile: int = 0) -> int:
    """Estimated peak bytes of stylizing an ``(H, W)`` content in one piece (``tile`` 0) or in tiles of ``tile`` px."""
    if not tile:
        return height * width * BYTES_PER_PIXEL
    side = tile + 2 * ENCODER_MARGIN + 2 * DECODER_MARGIN * MULTIPLE
    return height * width * TILED_BYTES_PER_PIXEL + min(height, side) * min(width, side) * BYTES_PER_PIXEL


class Progress(Protocol):
    """A progress bar: what :func:`stylize_tiled` needs of one (a ``tqdm`` has it)."""

    def update(self, n: int = 1) -> Any: ...

    def close(self) -> Any: ...


def tile_spans(n: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Cover ``[0, n)`` with spans ``[start, end)`` of length ``min(tile, n)`` overlapping by at least ``overlap``."""
    if tile <= overlap:
        raise UsageError(f"tile ({tile}) must be larger than the overlap ({overlap})")
    if n <= tile:
        return [(0, n)]
    step = tile - overlap
    count = math.ceil((n - overlap) / step)
    return [(s, s + tile) for s in (min(i * step, n - tile) for i in range(count))]


def neighbour_overlaps(spans: list[tuple[int, int]], i: int) -> tuple[int, int]:
    """How far span ``i`` overlaps the previous and the next span (0 at the ends)."""
    before = spans[i - 1][1] - spans[i][0] if i > 0 else 0
    after = spans[i][1] - spans[i + 1][0] if i + 1 < len(spans) else 0
    return before, after


def partition(n: int, tile: int) -> list[tuple[int, int]]:
    """Cut ``[0, n)`` into consecutive spans ``[start, end)`` of length ``tile`` (the last may be shorter)."""
    return [(s, min(s + tile, n)) for s in range(0, n, tile)]


def ramp(length: int, rise: int, fall: int) -> Tensor:
    """Blend weights ``(length,)``: linear from ~0 to 1 over the first ``rise`` and back over the last ``fall`` entries."""
    w = torch.ones(length)
    if rise:
        w[:rise] = (torch.arange(rise) + 0.5) / rise
    if fall:
        w[length - fall :] = torch.minimum(w[length - fall :], (torch.arange(fall, 0, -1) - 0.5) / fall)
    return w


def encode_region(stylizer: Stylizer, image: Tensor, rows: tuple[int, int], cols: tuple[int, int], preserve_color: PreserveColor | None) -> Tensor:
    """relu4_1 features of a region of the feature grid, computed from a crop with context.

    Args:
        image: ``(1, 3, H, W)`` with H and W multiples of 8.
        rows, cols: ``[start, end)`` on the feature grid (``H/8 × W/8``).
        preserve_color: the colour mode (:meth:`Stylizer.content_features`).

    Returns:
        ``(1, 512, rows, cols)``: equal to the same slice of the whole image's features.
    """
    m = ENCODER_MARGIN
    y0, y1 = max(0, rows[0] * MULTIPLE - m), min(image.shape[-2], rows[1] * MULTIPLE + m)
    x0, x1 = max(0, cols[0] * MULTIPLE - m), min(image.shape[-1], cols[1] * MULTIPLE + m)
    feats = stylizer.content_features(image[0, :, y0:y1, x0:x1], preserve_color)
    fy, fx = y0 // MULTIPLE, x0 // MULTIPLE
    return feats[..., rows[0] - fy : rows[1] - fy, cols[0] - fx : cols[1] - fx]


def resolve_tile(tile: int | str, height: int, width: int) -> int:
    """``--tile`` value → tile side in px (0: no tiling); ``"auto"`` tiles above :data:`AUTO_PIXELS`."""
    if tile == "auto":
        return AUTO_TILE if height * width > AUTO_PIXELS else 0
    try:
        tile = int(tile)
    except ValueError:
        raise UsageError(f"tile must be 0 (off), 'auto' or a size in px, got {tile!r}") from None
    if tile and tile < 64:
        raise UsageError(f"tile must be 0 (off), 'auto' or at least 64 px, got {tile}")
    return tile


@torch.no_grad()
def stylize_tiled(
    stylizer: Stylizer,
    content: Tensor,
    styles: list[Tensor | StyleStats] | Tensor,
    controls: Controls | None = None,
    *,
    tile: int = AUTO_TILE,
    overlap: int | None = None,
    progress: Callable[[int], Progress] | None = None,
    **given: Any,
) -> Tensor:
    """Stylize one image in tiles; the result matches :meth:`Stylizer.stylize` (no masks).

    Args:
        stylizer: the networks.
        content: ``(3, H, W)`` RGB in [0, 1], any size.
        styles: one ``(3, H', W')`` image or a list of them (or of their :class:`StyleStats`).
        controls, given: the style controls as in :meth:`Stylizer.stylize` (``alpha``,
            ``weights``, ``preserve_color``; masks and methods other than adain are untiled only).
        tile: tile side in output px (rounded down to a multiple of 8).
        overlap: px by which neighbouring tiles overlap and are blended
            (default: a quarter of the tile, at most 64).
        progress: makes a progress bar from the number of tiles (e.g.
            ``lambda n: tqdm(total=n, unit="tile")``); ``None``: none.

    Returns:
        ``(3, H, W)`` in [0, 1].
    """
    ctl = Controls.resolve(controls, **given)
    content = check_image(content, "content")
    if ctl.masks is not None:
        raise UsageError("tiling does not work with masks (spatial control is untiled only)")
    if ctl.method not in (None, "adain"):
        raise UsageError(f"tiling works with method adain only ({ctl.method} needs the statistics of the whole image at once)")
    styles = [styles] if isinstance(styles, Tensor) else list(styles)
    overlap = min(64, tile // 4) if overlap is None else overlap
    tile_f, overlap_f = tile // MULTIPLE, overlap // MULTIPLE
    if overlap < 0 or tile_f <= overlap_f:
        raise UsageError(f"tile ({tile} px) must be larger than the overlap ({overlap} px) by at least {MULTIPLE} px")
    stats = stylizer.style_stats(styles, preserve_color=ctl.preserve_color, reference=content)
    ctl.check_styles(len(stats))
    image, (h, wd) = pad_to_multiple(content[None])
    gh, gw = image.shape[-2] // MULTIPLE, image.shape[-1] // MULTIPLE
    rows, cols = tile_spans(gh, tile_f, overlap_f), tile_spans(gw, tile_f, overlap_f)
    parts = [(r, c) for r in partition(gh, tile_f) for c in partition(gw, tile_f)]
    bar = progress(len(parts) + len(rows) * len(cols)) if progress is not None else None
    acc = StatsAccumulator()
    for r, c in parts:
        acc.add(encode_region(stylizer, image, r, c, ctl.preserve_color))
        if bar is not None:
            bar.update()
    whole = acc.mean_std()
    out = torch.zeros(3, *image.shape[-2:])
    total = torch.zeros(1, *image.shape[-2:])
    d = DECODER_MARGIN
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            rr = (max(0, r[0] - d), min(gh, r[1] + d))
            cc = (max(0, c[0] - d), min(gw, c[1] + d))
            feats = encode_region(stylizer, image, rr, cc, ctl.preserve_color)
            crop = image[..., rr[0] * MULTIPLE : rr[1] * MULTIPLE, cc[0] * MULTIPLE : cc[1] * MULTIPLE]
            piece = stylizer.stylize_batch(crop, stats, ctl, features=feats, content_stats=whole)[0]
            y0, x0 = (r[0] - rr[0]) * MULTIPLE, (c[0] - cc[0]) * MULTIPLE
            piece = piece[:, y0 : y0 + (r[1] - r[0]) * MULTIPLE, x0 : x0 + (c[1] - c[0]) * MULTIPLE]
            ov_y = [v * MULTIPLE for v in neighbour_overlaps(rows, i)]
            ov_x = [v * MULTIPLE for v in neighbour_overlaps(cols, j)]
            blend = ramp(piece.shape[1], *ov_y)[:, None] * ramp(piece.shape[2], *ov_x)[None, :]
            ys, xs = slice(r[0] * MULTIPLE, r[1] * MULTIPLE), slice(c[0] * MULTIPLE, c[1] * MULTIPLE)
            out[:, ys, xs] += piece * blend
            total[:, ys, xs] += blend
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    del image
    return out.div_(total)[:, :h, :wd].clamp_(0, 1)
