"""Style controls: the content–style trade-off, style interpolation, spatial control, colour preservation.

One validated value, :class:`Controls`, carries the controls of a stylization to
:class:`~adain.stylizer.Stylizer`, which applies all of them; pure tensor
functions turn relu4_1 content features and encoded style statistics into the
decoder's input (:func:`target_features`):

* ``alpha`` in [0, 1]: ``t ← α·t + (1 − α)·f(c)`` (content–style trade-off);
* several styles with float ``weights`` (interpolation of their statistics);
* ``masks``: spatial control, one soft/binary mask per style (any number of
  styles), resized to the feature grid; positions no mask covers keep the
  content features;
* ``preserve_color``: see :mod:`adain.color`;
* ``method``: any transfer method (:mod:`adain.methods`); the style statistics carry it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from adain.color import PreserveColor, check_preserve_color
from adain.errors import UsageError
from adain.geometry import pad_to_multiple
from adain.methods import apply_statistics, check_method, mix_statistics
from adain.names import Method
from adain.ops import StyleStats


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float if it is in [0, 1], else :class:`~adain.errors.UsageError`."""
    if not 0.0 <= float(alpha) <= 1.0:
        raise UsageError(f"alpha must be in [0, 1], got {alpha}")
    return float(alpha)


def check_weights_or_masks(weights: object | None, masks: object | None) -> None:
    """Weights mix the styles everywhere, masks place them: :class:`~adain.errors.UsageError` if both are given."""
    if weights is not None and masks is not None:
        raise UsageError("give weights or masks, not both: weights mix the styles everywhere, masks place them")


def check_weights(weights: Sequence[float] | Tensor) -> tuple[float, ...]:
    """Interpolation weights as a tuple, if they are finite, ≥ 0 and not all zero (any count)."""
    w = torch.as_tensor(weights, dtype=torch.float32).flatten()
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise UsageError(f"style weights must be finite and ≥ 0, got {w.tolist()}")
    if w.numel() == 0 or float(w.sum()) <= 0:
        raise UsageError("style weights are all zero")
    return tuple(w.tolist())


def normalise_weights(weights: Sequence[float] | Tensor | None, n_styles: int) -> Tensor:
    """Interpolation weights → ``(K,)`` summing to 1; ``None`` gives equal weights.

    Raises:
        ValueError: wrong count, a negative or non-finite weight, or all zero.
    """
    if weights is None:
        return torch.full((n_styles,), 1.0 / n_styles)
    w = torch.as_tensor(weights, dtype=torch.float32).flatten()
    if w.numel() != n_styles:
        raise UsageError(f"{w.numel()} style weights given for {n_styles} styles")
    w = torch.tensor(check_weights(w))
    return w / w.sum()


def index_map_to_masks(index_map: Tensor, n_styles: int) -> Tensor:
    """Integer map ``(H, W)`` with values in ``0..K-1`` → one-hot masks ``(K, H, W)``."""
    if index_map.dim() != 2:
        raise UsageError(f"index map must be (H, W), got shape {tuple(index_map.shape)}")
    idx = index_map.long()
    if int(idx.min()) < 0 or int(idx.max()) >= n_styles:
        raise UsageError(f"index map values must be in 0..{n_styles - 1}, got {int(idx.min())}..{int(idx.max())}")
    return F.one_hot(idx, n_styles).permute(2, 0, 1).float()


def masks_to_grid(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """Masks ``(K, H, W)`` in [0, 1] → feature-grid masks ``(K, 1, h, w)`` (area average).

    Where masks overlap, they are divided by their sum so the styles share the position.

    An area average of a mask that covers something is positive somewhere, so a
    mask never vanishes on the grid.

    Raises:
        ValueError: a mask covers nothing.
    """
    if masks.dim() != 3:
        raise UsageError(f"masks must be (K, H, W), got shape {tuple(masks.shape)}")
    for k, m in enumerate(masks):
        if float(m.max()) <= 0:
            raise UsageError(f"mask {k + 1} covers nothing")
    grid = F.interpolate(masks[:, None].float().clamp(0, 1), size=size, mode="area")
    total = grid.sum(0, keepdim=True)
    return torch.where(total > 1, grid / total.clamp_min(1e-8), grid)


def feature_grid(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """Image-sized masks ``(K, H, W)`` → masks on the relu4_1 grid ``(K, 1, h, w)`` of the padded image.

    The masks are padded like the image (:func:`~adain.geometry.pad_to_multiple`), then
    area-averaged onto the grid (:func:`masks_to_grid`).
    """
    padded, _ = pad_to_multiple(masks[:, None].float())
    return masks_to_grid(padded[:, 0], size)


def target_features(
    content_feat: Tensor,
    stats: StyleStats | Tensor,
    style_std: Tensor | None = None,
    *,
    alpha: float = 1.0,
    weights: Tensor | None = None,
    masks: Tensor | None = None,
    content_stats: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """The decoder's input ``t`` for one or several styles, with their transfer method.

    Args:
        content_feat: relu4_1 content features ``(N, C, h, w)``.
        stats: K encoded styles (:class:`StyleStats`, any method); or their
            AdaIN means ``(K, C, 1, 1)`` with the stds in ``style_std``.
        alpha: content–style trade-off in [0, 1] (checked where :class:`Controls` are made, not here).
        weights: ``(K,)`` interpolation weights (not with masks); see
            :func:`adain.methods.mix_statistics` for what they mean per method.
        masks: ``(K, 1, h, w)`` feature-grid masks (spatial control).
        content_stats: ``(mean, std)`` to normalise the content with instead of its own (adain only,
            :func:`adain.methods.apply_statistics`): each ``(N or 1, C, 1, 1)``; with masks ``(K, N or 1, C, 1, 1)``,
            one per mask region.

    Returns:
        ``(N, C, h, w)``.

    Raises:
        ValueError: both weights and masks, or counts that do not match K.
    """
    if isinstance(stats, Tensor):
        if style_std is None:
            raise UsageError("style means given without their stds")
        stats = StyleStats(stats, style_std)
    stats = stats.to(content_feat.device)
    own = None if content_stats is None else (content_stats[0].to(content_feat.device), content_stats[1].to(content_feat.device))
    k = len(stats)
    check_weights_or_masks(weights, masks)
    if masks is None:
        t = apply_statistics(content_feat, mix_statistics(stats, normalise_weights(weights, k)), content_stats=own)
    else:
        if masks.shape[0] != k:
            raise UsageError(f"the mask tensor holds {masks.shape[0]} maps, not one per style ({k})")
        masks = masks.to(content_feat.device, torch.float32)
        t = content_feat.float() * (1 - masks.sum(0, keepdim=True)).clamp_min(0)
        for i in range(k):
            m = masks[i : i + 1]
            t = t + m * apply_statistics(content_feat, stats.select(i), mask=m, content_stats=None if own is None else (own[0][i], own[1][i]))
    return alpha * t + (1 - alpha) * content_feat.float()



@dataclass(frozen=True, eq=False)
class Controls:
    """The style controls of one stylization, validated on creation (the Python API gets the CLI's checks).

    Attributes:
        alpha: content–style trade-off in [0, 1] (1: full style, 0: the content reconstructed).
        weights: interpolation weights, one per style (≥ 0, normalised to sum 1); ``None``: equal.
            Not with ``masks``.
        masks: ``(K, H, W)`` in [0, 1], one per style, the content's size (spatial control), or ``None``.
        preserve_color: ``None``, ``"color"`` or ``"luminance"`` (:mod:`adain.color`).
        method: the transfer method, ``"adain"``, ``"wct"`` or ``"efdm"`` (:mod:`adain.methods`);
            ``None``: AdaIN, or the method that given style statistics were encoded for.

    A new control becomes a field here, validated in :meth:`_check` and applied by
    :class:`~adain.stylizer.Stylizer`; a new transfer method is a name in
    :data:`adain.methods.Method` and its statistics in :mod:`adain.methods` (docs/architecture.md).
    """

    alpha: float = 1.0
    weights: Sequence[float] | Tensor | None = None  # stored as a tuple of floats
    masks: Tensor | None = None
    preserve_color: PreserveColor | None = None
    method: Method | None = None

    def __post_init__(self) -> None:
        self._check({f.name for f in dataclasses.fields(self)})

    def _check(self, names: Collection[str]) -> None:
        """Check the fields ``names`` (and that weights and masks do not come together)."""
        if "alpha" in names:
            object.__setattr__(self, "alpha", check_alpha(self.alpha))
        if "weights" in names and self.weights is not None:
            object.__setattr__(self, "weights", check_weights(self.weights))
        check_weights_or_masks(self.weights, self.masks)
        if "masks" in names and self.masks is not None and self.masks.dim() != 3:
            raise UsageError(f"masks must be (K, H, W), got shape {tuple(self.masks.shape)}")
        if "preserve_color" in names:
            check_preserve_color(self.preserve_color)
        if "method" in names and self.method is not None:
            check_method(self.method)

    def replace(self, **given: Any) -> Controls:
        """A copy with the ``given`` fields changed; only those are checked (the others were, when these were made)."""
        if unknown := set(given) - {f.name for f in dataclasses.fields(self)}:
            raise TypeError(f"Controls has no field {sorted(unknown)[0]!r}")
        new = copy.copy(self)
        new.__dict__.update(given)  # frozen: set past __setattr__, then checked
        new._check(given)
        return new

    @classmethod
    def resolve(cls, controls: Controls | None = None, **given: Any) -> Controls:
        """``controls`` (default: all defaults) with the ``given`` fields that are not ``None`` replaced:
        ``controls`` itself when none is given, trusted as checked when made."""
        given = {k: v for k, v in given.items() if v is not None}
        if controls is None:
            return cls(**given)
        return controls.replace(**given) if given else controls

    def check_styles(self, n_styles: int, size: tuple[int, int] | None = None) -> None:
        """Raise :class:`~adain.errors.UsageError` unless weights and masks fit ``n_styles`` styles
        (and, with ``size``, masks have that ``(H, W)``)."""
        if n_styles < 1:
            raise UsageError("at least one style image is needed")
        if self.weights is not None and len(self.weights) != n_styles:
            raise UsageError(f"{len(self.weights)} style weights given for {n_styles} styles")
        if self.masks is not None:
            if self.masks.shape[0] != n_styles:
                raise UsageError(f"the mask tensor holds {self.masks.shape[0]} maps, not one per style ({n_styles})")
            if size is not None and tuple(self.masks.shape[-2:]) != tuple(size):
                raise UsageError(f"masks are {self.masks.shape[-1]}x{self.masks.shape[-2]} but the content is {size[1]}x{size[0]}")

    def style_weights(self, n_styles: int) -> Tensor | None:
        """Normalised weights ``(K,)`` for :func:`target_features`, ``None`` with masks."""
        return None if self.masks is not None else normalise_weights(self.weights, n_styles)
