"""The lite model without torch: its two ONNX graphs in ONNX Runtime, the controls in numpy.

Images are ``(H, W, 3)`` float32 RGB arrays in [0, 1]. A style is a :class:`LiteStyle`: each encoder
stage's per-channel mean and std. The controls mean what they mean for the full model:

* ``alpha``: every stage's target is ``α·style + (1 − α)·content`` statistics (at the bottleneck
  exactly the full model's ``α·t + (1 − α)·f(c)``);
* ``weights``: the styles' statistics mixed linearly;
* ``masks`` ``(K, H, W)``: the targets become spatial maps, each stage's masks area-averaged onto its
  grid; positions no mask covers keep the content's statistics;
* ``preserve_color``: the full model's two modes (:mod:`adain.color`), here in numpy.

Example:
    >>> model = LiteModel()                                        # doctest: +SKIP
    >>> out = model.stylize(photo, [model.style(painting)], alpha=0.8)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adain.errors import UsageError, WeightsError
from adain.limits import MIN_SIDE
from adain.lite.weights import DECODER_FILE, ENCODER_FILE, FORMAT, WEIGHTS_DIR, feature_names, stat_names

PRESERVE_MODES = (None, "color", "luminance")


@dataclass(frozen=True)
class LiteStyle:
    """A style for the lite model: ``means[l]`` and ``stds[l]`` ``(C_l,)`` float32 for each of the encoder's stages."""

    means: tuple[np.ndarray, ...]
    stds: tuple[np.ndarray, ...]


def normalise_weights(weights: list[float] | None, count: int) -> np.ndarray:
    """Interpolation weights ``(K,)`` summing to 1 (equal without ``weights``).

    Raises:
        UsageError: a wrong count, a negative or non-finite weight, or all zero.
    """
    if weights is None:
        return np.full(count, 1.0 / count, dtype=np.float32)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size != count:
        raise UsageError(f"{w.size} style weights given for {count} styles")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise UsageError(f"style weights must be finite, ≥ 0 and not all zero, got {w.tolist()}")
    return (w / w.sum()).astype(np.float32)


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """``(…, H, W)`` → reflected at the bottom/right to multiples of ``multiple`` (edge-repeated where too small to reflect)."""
    h, w = image.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if not ph and not pw:
        return image
    pad = [(0, 0)] * (image.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(image, pad, mode="reflect" if min(h, w) > max(ph, pw) else "edge")


def area_average(maps: np.ndarray, factor: int) -> np.ndarray:
    """``(K, H, W)`` with H, W multiples of ``factor`` → the mean of each ``factor × factor`` block, ``(K, H/f, W/f)``."""
    k, h, w = maps.shape
    return maps.reshape(k, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


def stage_masks(masks: np.ndarray, stages: int) -> list[np.ndarray]:
    """Image-sized masks ``(K, H, W)`` (H, W multiples of ``2^(stages−1)``) → each stage's ``(K, 1, H_l, W_l)``,
    divided by their sum where they overlap (so the styles share the position)."""
    out = []
    for factor in (2**level for level in range(stages)):
        grid = area_average(masks, factor)[:, None]
        total = grid.sum(axis=0, keepdims=True)
        out.append(np.where(total > 1, grid / np.maximum(total, 1e-8), grid).astype(np.float32))
    return out


_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def match_color(style: np.ndarray, content: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Recolour ``style`` ``(Hs, Ws, 3)`` so its RGB mean and covariance equal the content's (:func:`adain.color.match_color`)."""
    s = style.reshape(-1, 3).astype(np.float64).T
    c = content.reshape(-1, 3).astype(np.float64).T

    def sqrt_and_inv(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vals, vecs = np.linalg.eigh(m + eps * np.eye(3))
        vals = np.maximum(vals, eps)
        return vecs @ np.diag(np.sqrt(vals)) @ vecs.T, vecs @ np.diag(1 / np.sqrt(vals)) @ vecs.T

    c_sqrt, _ = sqrt_and_inv(np.cov(c))
    _, s_isqrt = sqrt_and_inv(np.cov(s))
    out = c_sqrt @ s_isqrt @ (s - s.mean(1, keepdims=True)) + c.mean(1, keepdims=True)
    return np.clip(out.T.reshape(style.shape), 0, 1).astype(np.float32)


def luminance_image(image: np.ndarray, like: np.ndarray | None = None) -> np.ndarray:
    """Grey RGB image ``(H, W, 3)`` of the luminance; with ``like``, its mean/std matched to ``like``'s (:func:`adain.color.luminance_image`)."""
    y = image.astype(np.float64) @ _RGB_TO_YIQ[0]
    if like is not None:
        ly = like.astype(np.float64) @ _RGB_TO_YIQ[0]
        y = (y - y.mean()) / (y.std(ddof=1) + 1e-5) * ly.std(ddof=1) + ly.mean()
    return np.repeat(np.clip(y, 0, 1)[..., None], 3, axis=2).astype(np.float32)


def keep_chroma(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance of ``stylized`` with the chroma (I, Q) of ``content``, both ``(H, W, 3)``."""
    yiq = content.astype(np.float64) @ _RGB_TO_YIQ.T
    yiq[..., 0] = stylized.astype(np.float64) @ _RGB_TO_YIQ[0]
    return np.clip(yiq @ _YIQ_TO_RGB.T, 0, 1).astype(np.float32)


def _session(path: Path, threads: int | None) -> Any:  # an onnxruntime.InferenceSession
    try:
        import onnxruntime as ort
    except ImportError:
        raise WeightsError("the lite model runs on ONNX Runtime, which is not installed: pip install onnxruntime") from None

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    options.log_severity_level = 3
    if not path.is_file():
        raise WeightsError(f"{path}: lite model file not found")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types for a bad file
        raise WeightsError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0][:120]})") from None


class LiteModel:
    """The lite network's two graphs, checked to be one network, and what runs them.

    Args:
        folder: where ``lite-encoder.onnx`` and ``lite-decoder.onnx`` are (default: the shipped ones).
        threads: ONNX Runtime's threads (default ``OMP_NUM_THREADS``, else all cores).

    Raises:
        WeightsError: a missing, unreadable or foreign file, or two graphs of different networks.
    """

    def __init__(self, folder: str | Path = WEIGHTS_DIR, *, threads: int | None = None) -> None:
        folder = Path(folder)
        self.encoder = _session(folder / ENCODER_FILE, threads)
        self.decoder = _session(folder / DECODER_FILE, threads)
        metas = [self._metadata(folder / name, s) for name, s in ((ENCODER_FILE, self.encoder), (DECODER_FILE, self.decoder))]
        if metas[0]["weights"] != metas[1]["weights"]:
            theirs, ours = metas[1]["weights"][:16], metas[0]["weights"][:16]
            raise WeightsError(f"{folder / DECODER_FILE}: made from other weights than {ENCODER_FILE} ({theirs} vs {ours})")
        self.metadata = metas[0]
        self.widths: tuple[int, ...] = self.metadata["widths"]
        self.multiple = 2 ** (len(self.widths) - 1)
        """Images are padded (reflected at the bottom and right) to a multiple of this, the bottleneck's stride."""

    @staticmethod
    def _metadata(path: Path, session: Any) -> dict:
        raw = session.get_modelmeta().custom_metadata_map
        if raw.get("format") != FORMAT:
            raise WeightsError(f"{path}: not a lite model graph (format {str(raw.get('format'))[:40]!r})")
        try:
            widths = tuple(json.loads(raw["widths"]))
            training = json.loads(raw.get("training", "{}"))
        except (KeyError, ValueError, TypeError):
            raise WeightsError(f"{path}: lite model graph with unreadable metadata") from None
        expected = ["bottleneck", *feature_names(len(widths)), *stat_names(len(widths))] if path.name == ENCODER_FILE else ["image"]
        if [o.name for o in session.get_outputs()] != expected:
            role = "encoder" if path.name == ENCODER_FILE else "decoder"
            raise WeightsError(f"{path}: not the lite {role} (outputs {[o.name for o in session.get_outputs()][:8]})")
        return {"weights": str(raw.get("weights", "")), "widths": widths, "training": training}

    @property
    def record_entry(self) -> dict:
        """The network, as an output's record names it: the lite weights' fingerprint and training steps, the precision."""
        return {"model": "lite", "lite": self.metadata["weights"], "lite_steps": self.metadata["training"].get("total_steps"),
                "precision": "fp32 (onnxruntime)"}

    @property
    def identity(self) -> str:
        """What a record or style file says of this network: ``adain-lite:<fingerprint>``."""
        return f"{FORMAT}:{self.metadata['weights']}"

    def encode(self, image: np.ndarray, *, pad: bool = True) -> tuple[dict[str, np.ndarray], LiteStyle]:
        """``(H, W, 3)`` in [0, 1] → the features the decoder takes of a content (``bottleneck`` ``(1, C_L, H'/m, W'/m)`` of the
        image padded to :attr:`multiple` ``m``, and ``feature1 …`` of the finer stages), and its statistics (``pad=False``: of
        the image as it is, for a style).

        Raises:
            UsageError: an image smaller than :data:`~adain.limits.MIN_SIDE` pixels on a side.
        """
        if image.ndim != 3 or image.shape[2] != 3:
            raise UsageError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        if min(image.shape[:2]) < MIN_SIDE:
            raise UsageError(f"images must be at least {MIN_SIDE} px on a side, got {image.shape[1]}x{image.shape[0]}")
        x = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
        x = (pad_to_multiple(x, self.multiple) if pad else x)[None]
        names = ["bottleneck", *feature_names(len(self.widths))]
        outputs = self.encoder.run(None, {"image": x})
        features, stats = outputs[: len(names)], outputs[len(names) :]
        return dict(zip(names, features, strict=True)), LiteStyle(tuple(m.ravel() for m in stats[0::2]), tuple(s.ravel() for s in stats[1::2]))

    def style(self, image: np.ndarray) -> LiteStyle:
        """The statistics of a style image ``(H, W, 3)`` in [0, 1]."""
        return self.encode(image, pad=False)[1]

    def stylize(
        self,
        content: np.ndarray,
        styles: Sequence[LiteStyle | np.ndarray],
        *,
        alpha: float = 1.0,
        weights: list[float] | None = None,
        masks: np.ndarray | None = None,
        preserve_color: str | None = None,
    ) -> np.ndarray:
        """Stylize ``content`` ``(H, W, 3)`` with one or several styles (images or :class:`LiteStyle`) → ``(H, W, 3)`` in [0, 1].

        Args:
            alpha: content–style trade-off in [0, 1].
            weights: interpolation weights, one per style (not with ``masks``).
            masks: ``(K, H, W)`` in [0, 1], one per style, the content's size (spatial control).
            preserve_color: ``None``, ``"color"`` (the style images recoloured to the content's colours;
                needs style images) or ``"luminance"`` (the content's chroma kept).

        Raises:
            UsageError: controls out of range or that do not fit the styles or the content.
        """
        if not 0.0 <= float(alpha) <= 1.0:
            raise UsageError(f"alpha must be in [0, 1], got {alpha}")
        if preserve_color not in PRESERVE_MODES:
            raise UsageError(f"preserve_color must be one of {PRESERVE_MODES}, got {preserve_color!r}")
        if not styles:
            raise UsageError("at least one style is needed")
        if weights is not None and masks is not None:
            raise UsageError("give weights or masks, not both: weights mix the styles everywhere, masks place them")
        h, w = content.shape[:2]
        if masks is not None and (masks.ndim != 3 or masks.shape[0] != len(styles) or masks.shape[1:] != (h, w)):
            raise UsageError(f"masks of shape {masks.shape} do not fit {len(styles)} styles and a {w}x{h} content")
        seen = luminance_image(content) if preserve_color == "luminance" else content
        stats = [self._style_of(s, content, preserve_color) for s in styles]
        features, own = self.encode(seen)
        grids = None if masks is None else stage_masks(pad_to_multiple(masks.astype(np.float32), self.multiple), len(self.widths))
        targets = self._targets(own, stats, float(alpha), normalise_weights(weights, len(stats)) if masks is None else None, grids)
        (out,) = self.decoder.run(None, {**features, **targets})
        out = np.clip(out[0, :, :h, :w].transpose(1, 2, 0), 0, 1)
        return keep_chroma(out, content) if preserve_color == "luminance" else out

    def _style_of(self, style: LiteStyle | np.ndarray, content: np.ndarray, preserve_color: str | None) -> LiteStyle:
        if isinstance(style, LiteStyle):
            if preserve_color == "color":
                raise UsageError("preserve_color='color' recolours the style image: give the image, not its statistics")
            return style
        if preserve_color == "color":
            style = match_color(style, content)
        elif preserve_color == "luminance":
            style = luminance_image(style, like=content)
        return self.style(style)

    @staticmethod
    def _targets(own: LiteStyle, styles: Sequence[LiteStyle], alpha: float, weights: np.ndarray | None,
                 grids: list[np.ndarray] | None) -> dict[str, np.ndarray]:
        """The decoder's inputs ``mean1 … stdL``: vectors ``(1, C, 1, 1)``, or maps with each stage's masks (:func:`stage_masks`)."""
        out = {}
        for level in range(len(own.means)):
            for name, kind in ((f"mean{level + 1}", "means"), (f"std{level + 1}", "stds")):
                mine = getattr(own, kind)[level][None, :, None, None]
                theirs = [getattr(s, kind)[level][None, :, None, None] for s in styles]
                if grids is None:
                    assert weights is not None
                    target = sum(w * t for w, t in zip(weights, theirs))
                else:
                    grid = grids[level]
                    target = mine * np.clip(1 - grid.sum(axis=0, keepdims=True), 0, None) + sum(g[None] * t for g, t in zip(grid, theirs))
                out[name] = np.ascontiguousarray(alpha * target + (1 - alpha) * mine, dtype=np.float32)
        return out
