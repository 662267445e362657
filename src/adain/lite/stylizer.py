"""The lite model behind the interface the apps call on a :class:`~adain.stylizer.Stylizer`, for the commands that run on
tensors anyway (video, the server): ``style_stats``, ``stylize``, ``stylize_batch``, ``model_entry``.

It composes a :class:`~adain.lite.runtime.LiteModel` (ONNX Runtime, numpy) and converts tensors at its edges; the
controls keep their meaning (:mod:`adain.lite.runtime`). What the lite model has no counterpart for is refused in
one line: other transfer methods, style files (the full model's statistics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from adain.color import content_inputs
from adain.controls import Controls
from adain.errors import UsageError
from adain.geometry import resize_shorter
from adain.lite.runtime import LiteModel, LiteStyle, match_color
from adain.lite.weights import STYLE_SIZE
from adain.ops import StyleStats
from adain.refine import check_refine
from adain.stylizer import Stylizer


def _array(image: Tensor) -> np.ndarray:
    """``(3, H, W)`` tensor → ``(H, W, 3)`` float32 array."""
    return image.detach().float().cpu().permute(1, 2, 0).contiguous().numpy()


class LiteStylizer:
    """The lite model for the apps: images are ``(3, H, W)`` tensors in [0, 1], controls a :class:`Controls`.

    Args:
        model: the lite model (default: the shipped one).
        threads: ONNX Runtime's threads (default ``OMP_NUM_THREADS``, else all cores).
        refiner: the full model, to refine the lite model's outputs (``stylize(..., refine=N)``): its VGG-19 measures the
            paper's losses. Without it, a refinement is refused.
    """

    compilable = False  # ONNX Runtime optimises its own graph
    compiled = False
    bf16 = False

    def __init__(self, model: LiteModel | None = None, *, threads: int | None = None, refiner: Stylizer | None = None) -> None:
        self.model = model if model is not None else LiteModel(threads=threads)
        self.refiner = refiner

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def encoder_identity(self) -> str:
        return self.model.identity

    @property
    def model_entry(self) -> dict:
        """The network, as an output's record names it."""
        return self.model.record_entry

    def style_stats(self, styles: Sequence[Tensor], method: str = "adain", *, preserve_color: str | None = None,
                    reference: Tensor | None = None) -> list[LiteStyle]:
        """Each painting ``(3, H, W)``'s statistics (a larger one shrunk to :data:`~adain.lite.weights.STYLE_SIZE`); with
        ``preserve_color="color"`` recoloured to ``reference`` ``(3, H, W)`` first,
        with ``"luminance"`` its luminance matched to the reference's (as :meth:`adain.stylizer.Stylizer.style_stats`)."""
        if method != "adain":
            raise UsageError(f"the lite model transfers with adain only, not {method}")
        out = []
        for style in styles:
            if not isinstance(style, Tensor):
                raise UsageError("the lite model needs the paintings: a style file holds the full model's statistics")
            image = _array(resize_shorter(style, STYLE_SIZE, enlarge=False))  # the lite model's scale
            if preserve_color is not None:
                if reference is None:
                    raise UsageError("colour preservation needs the content as its reference")
                from adain.lite.runtime import luminance_image

                ref = _array(reference)
                image = match_color(image, ref) if preserve_color == "color" else luminance_image(image, like=ref)
            out.append(self.model.style(image))
        return out

    def stylize_batch(self, contents: Tensor, stats: Sequence[LiteStyle], controls: Controls | None = None, *, refine: int = 0,
                      tap_stats: list[StyleStats] | None = None, on_step: Callable[[float], None] | None = None, **given: Any) -> Tensor:
        """Contents ``(N, 3, H, W)`` with styles from :meth:`style_stats` (recoloured there for ``"color"``) → ``(N, 3, H, W)``.

        With ``refine`` steps, the output (before colour preservation) is refined by :attr:`refiner` toward the full model's
        targets: ``tap_stats`` are the paintings' statistics at its taps (``refiner.tap_stats`` of the same styles, colour mode
        and reference), ``on_step`` is called after each step.
        """
        c = Controls.resolve(controls, **given)
        if c.method not in (None, "adain"):
            raise UsageError(f"the lite model transfers with adain only, not {c.method}")
        if refine:
            if self.refiner is None or tap_stats is None:
                raise UsageError("refining the lite model's output measures it with the full model's encoder: "
                                 "LiteStylizer(refiner=Stylizer()), and the styles' tap_stats")
            start = self.stylize_batch(content_inputs(contents, c.preserve_color), stats, c.replace(preserve_color=None))
            return self.refiner.refine(start, contents, tap_stats, c, steps=refine, on_step=on_step)
        masks = None if c.masks is None else c.masks.detach().float().cpu().numpy()
        weights = None if c.masks is not None else list(c.weights) if c.weights is not None else None
        luminance = "luminance" if c.preserve_color == "luminance" else None  # "color" was applied to the paintings
        outs = [self.model.stylize(_array(x), list(stats), alpha=c.alpha, weights=weights, masks=masks, preserve_color=luminance) for x in contents]
        return torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).contiguous()

    def content_features(self, content: Tensor, preserve_color: str | None = None) -> Tensor:
        """What :meth:`stylize_each` starts from: the content itself (the lite model encodes it with the style's targets)."""
        return content

    def stylize_each(self, content: Tensor, styles: Sequence[LiteStyle], controls: Controls | None = None, *, features: Tensor | None = None,
                     **given: Any) -> Iterator[Tensor]:
        """One content ``(3, H, W)`` with each style from :meth:`style_stats` in turn → ``(3, H, W)`` each (as
        :meth:`adain.stylizer.Stylizer.stylize_each`; ``features`` is not needed)."""
        for style in styles:
            yield self.stylize_batch(content[None], [style], controls, **given)[0]

    def stylize(self, content: Tensor, styles: Sequence[Tensor] | Tensor, controls: Controls | None = None, *, refine: int = 0,
                on_step: Callable[[float], None] | None = None, **given: Any) -> Tensor:
        """One content ``(3, H, W)`` and its paintings → ``(3, H, W)`` (as :meth:`adain.stylizer.Stylizer.stylize`); with
        ``refine`` steps, refined by :attr:`refiner` (see :meth:`stylize_batch`)."""
        c = Controls.resolve(controls, **given)
        check_refine(refine)
        paintings = [styles] if isinstance(styles, Tensor) and styles.dim() == 3 else list(styles)
        stats = self.style_stats(paintings, c.method or "adain", preserve_color=c.preserve_color, reference=content)
        taps = None
        if refine and self.refiner is not None:
            taps = self.refiner.tap_stats(paintings, "adain", preserve_color=c.preserve_color, reference=content)
        return self.stylize_batch(content[None], stats, c, refine=refine, tap_stats=taps, on_step=on_step)[0]
