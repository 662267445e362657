"""Style transfer with every control of the paper.

Pure tensor functions (feature mixing, colour transforms, resizing) and a
:class:`Stylizer` that holds the encoder and decoder once and applies them.

Controls:
    * ``alpha`` in [0, 1]: ``t ← α·t + (1 − α)·f(c)`` (content–style trade-off);
    * several styles with float ``weights`` (interpolation of their statistics);
    * ``masks``: spatial control, one soft/binary mask per style (any number of
      styles), resized to the feature grid; positions no mask covers keep the
      content features;
    * ``preserve_color="color"``: recolour each style image to the content's
      mean and covariance of RGB before encoding (as the original);
      ``"luminance"``: transfer on luminance only, keep the content's chroma.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from tqdm import tqdm

from adain.decoder import Decoder, load_decoder
from adain.device import auto_bf16, autocast_for, pick_device
from adain.encoder import Encoder
from adain.io import (
    DEFAULT_MAX_PIXELS,
    MIN_SIDE,
    InputError,
    fit_height,
    image_format,
    load_image,
    load_index_map,
    load_mask,
    make_grid,
    save_image,
    tensor_to_pil,
)
from adain.ops import adain_with_stats, mean_std

PRESERVE_MODES = (None, "color", "luminance")
MULTIPLE = 8  # the encoder downsamples by 8: inputs are padded to a multiple of it


# ---------------------------------------------------------------- pure functions


def check_alpha(alpha: float) -> float:
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return float(alpha)


def check_weights_or_masks(weights: object | None, masks: object | None) -> None:
    """Weights mix the styles everywhere, masks place them: raise ``ValueError`` if both are given."""
    if weights is not None and masks is not None:
        raise ValueError("weights mix styles everywhere, masks place them: give one or the other")


def normalise_weights(weights: list[float] | Tensor | None, n_styles: int) -> Tensor:
    """Interpolation weights → ``(K,)`` summing to 1; ``None`` gives equal weights.

    Raises:
        ValueError: wrong count, a negative or non-finite weight, or all zero.
    """
    if weights is None:
        return torch.full((n_styles,), 1.0 / n_styles)
    w = torch.as_tensor(weights, dtype=torch.float32).flatten()
    if w.numel() != n_styles:
        raise ValueError(f"{w.numel()} style weights given for {n_styles} styles")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(f"style weights must be finite and ≥ 0, got {w.tolist()}")
    if float(w.sum()) <= 0:
        raise ValueError("style weights are all zero")
    return w / w.sum()


def index_map_to_masks(index_map: Tensor, n_styles: int) -> Tensor:
    """Integer map ``(H, W)`` with values in ``0..K-1`` → one-hot masks ``(K, H, W)``."""
    if index_map.dim() != 2:
        raise ValueError(f"index map must be (H, W), got shape {tuple(index_map.shape)}")
    idx = index_map.long()
    if int(idx.min()) < 0 or int(idx.max()) >= n_styles:
        raise ValueError(f"index map values must be in 0..{n_styles - 1}, got {int(idx.min())}..{int(idx.max())}")
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
        raise ValueError(f"masks must be (K, H, W), got shape {tuple(masks.shape)}")
    for k, m in enumerate(masks):
        if float(m.max()) <= 0:
            raise ValueError(f"mask {k + 1} covers nothing")
    grid = F.interpolate(masks[:, None].float().clamp(0, 1), size=size, mode="area")
    total = grid.sum(0, keepdim=True)
    return torch.where(total > 1, grid / total.clamp_min(1e-8), grid)


def target_features(
    content_feat: Tensor,
    style_mean: Tensor,
    style_std: Tensor,
    *,
    alpha: float = 1.0,
    weights: Tensor | None = None,
    masks: Tensor | None = None,
) -> Tensor:
    """The decoder's input ``t`` for one or several styles.

    Args:
        content_feat: relu4_1 content features ``(N, C, h, w)``.
        style_mean, style_std: statistics of K styles, ``(K, C, 1, 1)``.
        alpha: content–style trade-off in [0, 1].
        weights: ``(K,)`` interpolation weights summing to 1 (not with masks).
        masks: ``(K, 1, h, w)`` feature-grid masks (spatial control).

    Returns:
        ``(N, C, h, w)``.

    Raises:
        ValueError: both weights and masks, or counts that do not match K.
    """
    alpha = check_alpha(alpha)
    k = style_mean.shape[0]
    check_weights_or_masks(weights, masks)
    if masks is None:
        w = normalise_weights(weights, k).to(style_mean).view(k, 1, 1, 1)
        mean = (w * style_mean).sum(0, keepdim=True)
        std = (w * style_std).sum(0, keepdim=True)
        t = adain_with_stats(content_feat, mean, std)
    else:
        if masks.shape[0] != k:
            raise ValueError(f"{masks.shape[0]} masks given for {k} styles")
        masks = masks.to(content_feat.device, torch.float32)
        t = content_feat.float() * (1 - masks.sum(0, keepdim=True)).clamp_min(0)
        for i in range(k):
            m = masks[i : i + 1]
            t = t + m * adain_with_stats(content_feat, style_mean[i : i + 1], style_std[i : i + 1], mask=m)
    return alpha * t + (1 - alpha) * content_feat.float()


def match_color(style: Tensor, content: Tensor, eps: float = 1e-5) -> Tensor:
    """Recolour ``style`` so its RGB mean and covariance equal the content's.

    Args:
        style: ``(3, Hs, Ws)``; content: ``(3, Hc, Wc)``; both in [0, 1].

    Returns:
        ``(3, Hs, Ws)`` clipped to [0, 1].
    """
    s = style.reshape(3, -1).double()
    c = content.reshape(3, -1).double()
    s_mean, c_mean = s.mean(1, keepdim=True), c.mean(1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64)
    s_cov = torch.cov(s) + eps * eye
    c_cov = torch.cov(c) + eps * eye

    def sqrt_and_inv(m: Tensor) -> tuple[Tensor, Tensor]:
        vals, vecs = torch.linalg.eigh(m)
        vals = vals.clamp_min(eps)
        return vecs @ torch.diag(vals.sqrt()) @ vecs.T, vecs @ torch.diag(vals.rsqrt()) @ vecs.T

    c_sqrt, _ = sqrt_and_inv(c_cov)
    _, s_isqrt = sqrt_and_inv(s_cov)
    out = c_sqrt @ s_isqrt @ (s - s_mean) + c_mean
    return out.float().reshape(style.shape).clamp(0, 1)


_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rgb_to_yiq(image: Tensor) -> Tensor:
    """``(…, 3, H, W)`` RGB → YIQ."""
    return torch.einsum("ij,...jhw->...ihw", _RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: Tensor) -> Tensor:
    """``(…, 3, H, W)`` YIQ → RGB."""
    return torch.einsum("ij,...jhw->...ihw", torch.linalg.inv(_RGB_TO_YIQ).to(image), image)


def luminance_image(image: Tensor, like: Tensor | None = None) -> Tensor:
    """Grey RGB image ``(3, H, W)`` of the luminance; with ``like``, its mean/std are matched to ``like``'s luminance."""
    y = rgb_to_yiq(image)[0]
    if like is not None:
        ly = rgb_to_yiq(like)[0]
        y = (y - y.mean()) / (y.std() + 1e-5) * ly.std() + ly.mean()
    return y.clamp(0, 1).expand(3, -1, -1).contiguous()


def keep_chroma(stylized: Tensor, content: Tensor) -> Tensor:
    """Luminance of ``stylized`` with the chroma (I, Q) of ``content``, both ``(3, H, W)``."""
    out = torch.cat([rgb_to_yiq(stylized)[:1], rgb_to_yiq(content)[1:]], dim=0)
    return yiq_to_rgb(out).clamp(0, 1)


def color_inputs(content: Tensor, styles: list[Tensor], preserve_color: str | None) -> tuple[Tensor, list[Tensor]]:
    """The images the networks see under a colour-preservation mode.

    ``None``: unchanged; ``"color"``: each style recoloured to the content
    (:func:`match_color`); ``"luminance"``: grey luminance images, the styles'
    luminance matched to the content's mean/std. All images ``(3, H, W)``.
    """
    if preserve_color not in PRESERVE_MODES:
        raise ValueError(f"preserve_color must be one of {PRESERVE_MODES}, got {preserve_color!r}")
    if preserve_color == "color":
        return content, [match_color(s, content) for s in styles]
    if preserve_color == "luminance":
        return luminance_image(content), [luminance_image(s, like=content) for s in styles]
    return content, styles


def color_output(stylized: Tensor, content: Tensor, preserve_color: str | None) -> Tensor:
    """Undo :func:`color_inputs` on a result ``(3, H, W)``: luminance mode puts back the content's chroma."""
    return keep_chroma(stylized, content) if preserve_color == "luminance" else stylized


def resize_shorter(image: Tensor, size: int) -> Tensor:
    """Resize ``(C, H, W)`` so its shorter side is ``size`` (0 keeps it), antialiased bilinear, clipped to [0, 1]."""
    if size <= 0:
        return image
    if size < 16:
        raise ValueError(f"size must be 0 (keep) or at least 16, got {size}")
    h, w = image.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if (nh, nw) == (h, w):
        return image
    out = F.interpolate(image[None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    return out.clamp(0, 1)


def center_crop(image: Tensor, size: int) -> Tensor:
    """Centre square crop of side ``min(size, H, W)`` from ``(C, H, W)``."""
    h, w = image.shape[-2:]
    s = min(size, h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return image[..., top : top + s, left : left + s]


def prepare(image: Tensor, size: int = 0, crop: bool = False) -> Tensor:
    """``(C, H, W)``: shorter side to ``size`` (0 keeps), then an optional centre square crop."""
    image = resize_shorter(image, size)
    return center_crop(image, min(image.shape[-2:])) if crop else image


def pad_to_multiple(x: Tensor, multiple: int = MULTIPLE) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad ``(N, C, H, W)`` on the bottom/right to a multiple; returns the padded tensor and ``(H, W)``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


# ---------------------------------------------------------------- model


@dataclass
class StyleStats:
    """Encoded styles: relu4_1 channel statistics, ``mean`` and ``std`` each ``(K, 512, 1, 1)``."""

    mean: Tensor
    std: Tensor

    def __len__(self) -> int:
        return self.mean.shape[0]


class Stylizer(nn.Module):
    """Encoder + decoder, loaded once; stylizes images with all controls.

    Args:
        decoder: a :class:`Decoder`, a path to weights, or ``None`` for the shipped decoder.
        encoder: an :class:`Encoder` (default: the pretrained, normalised VGG-19).
        device: ``auto``, ``cpu``, ``cuda`` (or a :class:`torch.device`).
        bf16: bf16 autocast (default: where it is fast, :func:`adain.device.auto_bf16`: CUDA and
            CPUs with native bf16, where it is about 2x faster than fp32 and differs from it by
            less than 1/255 on average, see docs/performance.md; ``False`` for exact fp32).
        channels_last: channels_last memory format (faster oneDNN/cuDNN convolutions, same results).
        compile: ``torch.compile`` the encoder and decoder with frozen weights (and CUDA
            graphs on CUDA): the first call per input shape compiles (tens of seconds),
            later ones are faster. For video, servers and batch jobs.
    """

    def __init__(
        self,
        decoder: Decoder | str | Path | None = None,
        *,
        encoder: Encoder | None = None,
        device: str | torch.device = "auto",
        bf16: bool | None = None,
        channels_last: bool = True,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.device = pick_device(device) if isinstance(device, str) else device
        self.encoder = (encoder or Encoder()).to(self.device).eval()
        self.decoder = (decoder if isinstance(decoder, nn.Module) else load_decoder(decoder)).to(self.device).eval()
        self.bf16 = auto_bf16(self.device) if bf16 is None else bf16
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.encoder.to(memory_format=self.memory_format)
        self.decoder.to(memory_format=self.memory_format)
        self._run_encoder, self._run_decoder = self.encoder.encode, self.decoder.forward
        self.compiled = compile
        if compile:
            # CUDA graphs only with bf16: its cast to float copies the encoder's output out of the graph's memory pool
            options = {"freezing": True, "triton.cudagraphs": self.device.type == "cuda" and self.bf16}
            self._run_encoder = torch.compile(self._run_encoder, dynamic=False, options=options)
            self._run_decoder = torch.compile(self._run_decoder, dynamic=False, options=options)

    @torch.no_grad()
    def encode(self, images: Tensor, *, pad: bool = True) -> Tensor:
        """``(N, 3, H, W)`` → relu4_1 ``(N, 512, ⌈H/8⌉, ⌈W/8⌉)`` after padding to a multiple of 8
        (``pad=False``: ``⌊H/8⌋ × ⌊W/8⌋``, for statistics only)."""
        x = pad_to_multiple(images.to(self.device))[0] if pad else images.to(self.device)
        with autocast_for(self.device, self.bf16):
            return self._run_encoder(x.contiguous(memory_format=self.memory_format)).float()

    @torch.no_grad()
    def decode(self, t: Tensor, size: tuple[int, int]) -> Tensor:
        """Features ``(N, 512, h, w)`` → images ``(N, 3, H, W)`` cropped to ``size``, clipped to [0, 1]."""
        with autocast_for(self.device, self.bf16):
            out = self._run_decoder(t.to(self.device, memory_format=self.memory_format))
        return out.float()[..., : size[0], : size[1]].clamp(0, 1)

    @torch.no_grad()
    def style_stats(self, styles: list[Tensor]) -> StyleStats:
        """Encode style images (each ``(3, H, W)``, any size) → :class:`StyleStats`.

        Styles are encoded as they are, without padding to a multiple of 8: only
        their statistics are kept, and padding would bias them.
        """
        if not styles:
            raise ValueError("at least one style image is needed")
        stats = [mean_std(self.encode(s[None], pad=False)) for s in styles]
        return StyleStats(torch.cat([m for m, _ in stats]), torch.cat([s for _, s in stats]))

    @torch.no_grad()
    def stylize_batch(
        self,
        contents: Tensor,
        stats: StyleStats,
        *,
        alpha: float = 1.0,
        weights: list[float] | Tensor | None = None,
        masks: Tensor | None = None,
    ) -> Tensor:
        """Stylize a batch of same-size content images with encoded styles.

        Args:
            contents: ``(N, 3, H, W)`` in [0, 1].
            stats: K encoded styles.
            masks: ``(K, H, W)`` image-sized masks, or ``None``.

        Returns:
            ``(N, 3, H, W)`` in [0, 1].
        """
        alpha = check_alpha(alpha)
        size = tuple(contents.shape[-2:])
        if masks is not None and tuple(masks.shape[-2:]) != size:
            raise ValueError(f"masks are {masks.shape[-1]}x{masks.shape[-2]} but the content is {size[1]}x{size[0]}")
        if masks is not None and masks.shape[0] != len(stats):
            raise ValueError(f"{masks.shape[0]} masks given for {len(stats)} styles")
        feats = self.encode(contents)
        grid = None
        if masks is not None:
            padded, _ = pad_to_multiple(masks[:, None].float())
            grid = masks_to_grid(padded[:, 0], tuple(feats.shape[-2:]))
        t = target_features(feats, stats.mean.to(feats), stats.std.to(feats), alpha=alpha, weights=weights, masks=grid)
        return self.decode(t, size).cpu()

    @torch.no_grad()
    def stylize(
        self,
        content: Tensor,
        styles: list[Tensor] | Tensor,
        *,
        alpha: float = 1.0,
        weights: list[float] | None = None,
        masks: Tensor | None = None,
        preserve_color: str | None = None,
    ) -> Tensor:
        """Stylize one image.

        Args:
            content: ``(3, H, W)`` RGB in [0, 1], any size.
            styles: one ``(3, H', W')`` image or a list of them.
            alpha: content–style trade-off in [0, 1].
            weights: interpolation weights, one per style (default: equal).
            masks: ``(K, H, W)`` in [0, 1], one per style, the content's size.
            preserve_color: ``None``, ``"color"`` or ``"luminance"``.

        Returns:
            ``(3, H, W)`` in [0, 1], the content's size.
        """
        styles = [styles] if isinstance(styles, Tensor) else list(styles)
        net_content, net_styles = color_inputs(content, styles, preserve_color)
        out = self.stylize_batch(net_content[None], self.style_stats(net_styles), alpha=alpha, weights=weights, masks=masks)[0]
        return color_output(out, content, preserve_color)

    @torch.no_grad()
    def stylize_each(
        self,
        content: Tensor,
        styles: list[Tensor] | StyleStats,
        *,
        alpha: float = 1.0,
        preserve_color: str | None = None,
    ) -> Iterator[Tensor]:
        """Stylize one image with each style in turn (the content is encoded once).

        Args:
            content: ``(3, H, W)`` RGB in [0, 1], any size.
            styles: K style images ``(3, H', W')``, or their :class:`StyleStats`
                (encode them once with :meth:`style_stats` to reuse them over
                many contents; only without ``preserve_color``, which needs the
                images because it adapts them to each content).
            alpha, preserve_color: as in :meth:`stylize`.

        Yields:
            K images ``(3, H, W)`` in [0, 1], one per style, in order.
        """
        alpha = check_alpha(alpha)
        if isinstance(styles, StyleStats):
            if preserve_color is not None:
                raise ValueError("preserve_color needs the style images, not their statistics")
            net_content, stats = content, styles
        else:
            net_content, net_styles = color_inputs(content, list(styles), preserve_color)
            stats = self.style_stats(net_styles)
        feats = self.encode(net_content[None])
        for k in range(len(stats)):
            t = target_features(feats, stats.mean[k : k + 1].to(feats), stats.std[k : k + 1].to(feats), alpha=alpha)
            yield color_output(self.decode(t, tuple(content.shape[-2:]))[0].cpu(), content, preserve_color)


# ---------------------------------------------------------------- files


@dataclass(frozen=True)
class StylizeOptions:
    """Settings of a file-level stylize run (the options of ``adain stylize``).

    Attributes:
        alpha: content–style trade-off in [0, 1].
        preserve_color: ``None``, ``"color"`` or ``"luminance"``.
        content_size: shorter side of the content before stylizing; 0 keeps
            the original, so the output has the input's size.
        style_size: shorter side of the style images (0 keeps): 512, the
            original code's default and the paper's training scale.
        crop: centre square crop of content and styles after resizing.
        max_pixels: largest image accepted, as stored and (content) as processed.
        quality: JPEG/WebP quality of written images.
    """

    alpha: float = 1.0
    preserve_color: str | None = None
    content_size: int = 0
    style_size: int = 512
    crop: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    quality: int = 95

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if self.preserve_color not in PRESERVE_MODES:
            raise ValueError(f"preserve_color must be one of {PRESERVE_MODES}, got {self.preserve_color!r}")
        for name, size in (("content size", self.content_size), ("style size", self.style_size)):
            if size != 0 and size < MIN_SIDE:
                raise ValueError(f"{name} must be 0 (keep the original) or at least {MIN_SIDE}, got {size}")
        if self.max_pixels < MIN_SIDE * MIN_SIDE:
            raise ValueError(f"max pixels must be at least {MIN_SIDE * MIN_SIDE}, got {self.max_pixels}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be in 1..100, got {self.quality}")


def _prepared(path: Path, image: Tensor, size: int, opts: StylizeOptions) -> Tensor:
    """``prepare`` an image read from ``path`` and check the result against ``max_pixels``."""
    image = prepare(image, size, opts.crop)
    h, w = image.shape[-2:]
    if h * w > opts.max_pixels:
        raise InputError(f"{path}: {w}x{h} after resizing is over the limit of {opts.max_pixels} pixels (--max-pixels)")
    return image


def load_style(path: str | Path, opts: StylizeOptions) -> Tensor:
    """Style file → ``(3, H, W)`` resized to ``opts.style_size`` (and cropped with ``opts.crop``)."""
    return _prepared(Path(path), load_image(path, opts.max_pixels), opts.style_size, opts)


def load_content(path: str | Path, opts: StylizeOptions) -> Tensor:
    """Content file → ``(3, H, W)`` resized to ``opts.content_size`` (and cropped with ``opts.crop``)."""
    return _prepared(Path(path), load_image(path, opts.max_pixels), opts.content_size, opts)


def _check_region(masks: list[Tensor], files: list[Path], size: tuple[int, int] | None, empty: list[str]) -> None:
    """Raise naming the file if a mask ``(H, W)`` is not ``size`` or covers nothing (``empty[k]`` says why)."""
    for path, m, why in zip(files, masks, empty, strict=True):
        if size is not None and tuple(m.shape) != size:
            raise InputError(f"{path}: {m.shape[1]}x{m.shape[0]} but the content is {size[1]}x{size[0]} (masks must have the content's size)")
        if float(m.max()) <= 0:
            raise InputError(f"{path}: {why}")


@dataclass
class PairJob:
    """One content and its styles, loaded, checked and prepared (see :func:`load_pair`).

    ``content`` ``(3, H, W)``; ``styles`` K images ``(3, H', W')``; ``weights``
    ``(K,)`` summing to 1 or ``None``; ``masks`` ``(K, H, W)`` or ``None``.
    """

    content: Tensor
    styles: list[Tensor]
    weights: Tensor | None = None
    masks: Tensor | None = None

    def run(self, stylizer: Stylizer, opts: StylizeOptions) -> Tensor:
        """Stylize: ``(3, H, W)`` in [0, 1], the prepared content's size."""
        return stylizer.stylize(
            self.content, self.styles, alpha=opts.alpha, weights=self.weights, masks=self.masks,
            preserve_color=opts.preserve_color,
        )


def load_pair(
    content: str | Path,
    styles: list[str | Path],
    opts: StylizeOptions,
    *,
    weights: list[float] | None = None,
    masks: list[str | Path] | None = None,
    index_map: str | Path | None = None,
) -> PairJob:
    """Read and check every input of a one-content run before any model is loaded.

    Masks (one per style) or an index map (pixel value k picks style k) must
    have the content file's size; they go through the same resize and crop.

    Raises:
        InputError: a bad file (the message names it).
        ValueError: counts that do not match, bad weights, masks with weights.
    """
    content, styles = Path(content), [Path(s) for s in styles]
    k = len(styles)
    if k == 0:
        raise ValueError("at least one style image is needed")
    if masks is not None and index_map is not None:
        raise ValueError("give masks or an index map, not both")
    check_weights_or_masks(weights, masks if masks is not None else index_map)
    if masks is not None and len(masks) != k:
        raise ValueError(f"{len(masks)} masks given for {k} styles (one mask per style)")
    w = normalise_weights(weights, k) if weights is not None else None
    raw = load_image(content, opts.max_pixels)
    image = _prepared(content, raw, opts.content_size, opts)
    region = None
    if masks is not None or index_map is not None:
        if masks is not None:
            files = [Path(m) for m in masks]
            loaded = [load_mask(m, opts.max_pixels) for m in files]
            empty = ["mask covers nothing (all black)"] * k
        else:
            files = [Path(index_map)] * k
            loaded = list(index_masks(index_map, k, opts.max_pixels))
            empty = [f"no pixel has value {i}, so style {s} would not be used" for i, s in enumerate(styles)]
        _check_region(loaded, files, tuple(raw.shape[-2:]), empty)
        region = prepare(torch.stack(loaded), opts.content_size, opts.crop)
        if opts.crop:  # resizing keeps every covered pixel > 0; cropping can cut a region away
            _check_region(list(region), files, None, [f"{why} inside the centre crop" for why in empty])
    return PairJob(image, [load_style(s, opts) for s in styles], w, region)


def index_masks(path: str | Path, n_styles: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
    """Index map file (palette or grey; value k picks style k) → one-hot masks ``(K, H, W)``.

    Raises:
        InputError: a value outside ``0..K-1`` (the message names the file).
    """
    idx = load_index_map(path, max_pixels)
    top = int(idx.max())
    if int(idx.min()) < 0 or top >= n_styles:
        raise InputError(f"{path}: index map has value {top}, but with {n_styles} styles values must be in 0..{n_styles - 1}")
    return index_map_to_masks(idx, n_styles)


@dataclass
class FolderReport:
    """What a folder run did: files ``written`` and one message per ``skipped`` input."""

    written: list[Path]
    skipped: list[str]


def output_name(content: Path, style: Path) -> str:
    """File name of the result of ``content`` × ``style``: ``<content>_<style>.jpg``."""
    return f"{content.stem}_{style.stem}.jpg"


def stylize_folders(
    contents: list[Path],
    styles: list[Path],
    out_dir: str | Path,
    opts: StylizeOptions,
    stylizer: Stylizer | Callable[[], Stylizer],
    *,
    grid: str | Path | None = None,
    grid_height: int = 160,
    progress: bool | None = None,
    warn: Callable[[str], None] = print,
) -> FolderReport:
    """Stylize every content × style combination into ``out_dir/<content>_<style>.jpg``.

    A bad input file is skipped with a ``warn`` message (naming it) and the run
    goes on; the report lists the skips. Styles are encoded once (without
    ``preserve_color``) and each content once.

    Args:
        stylizer: a :class:`Stylizer`, or a function making one, called only
            once the inputs are checked (so bad input fails fast).
        grid: also write a picture grid here: a header row of the styles, a
            first column of the contents, the results in the cells.
        grid_height: height of a grid row in pixels.
        progress: tqdm progress bar (``None``: only on a terminal).

    Raises:
        InputError: no inputs, an output file name that two inputs share, a bad
            output path, or no usable style at all.
    """
    out_dir = Path(out_dir)
    if not contents or not styles:
        raise InputError(f"nothing to do: {len(contents)} content and {len(styles)} style images")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder (the output of a folder run is a folder)")
    seen: dict[str, tuple[Path, Path]] = {}
    for c in contents:
        for s in styles:
            name = output_name(c, s)
            if name in seen:
                raise InputError(f"{out_dir / name}: both {seen[name][0].name} × {seen[name][1].name} and {c.name} × {s.name} would be written here; rename one")
            seen[name] = (c, s)
    if grid is not None:
        image_format(grid)

    skipped: list[str] = []

    def skip(exc: InputError) -> None:
        skipped.append(str(exc))
        warn(f"{exc} (skipped)")

    good_styles, style_images = [], []
    for s in styles:
        try:
            style_images.append(load_style(s, opts))
            good_styles.append(s)
        except InputError as exc:
            skip(exc)
    if not good_styles:
        raise InputError("no usable style image (see the warnings above)")
    stylizer = stylizer if isinstance(stylizer, Stylizer) else stylizer()
    reusable = stylizer.style_stats(style_images) if opts.preserve_color is None else style_images
    def thumb(image: Tensor) -> Image.Image | None:
        return fit_height(tensor_to_pil(image), grid_height) if grid is not None else None

    written: list[Path] = []
    rows: list[list[Image.Image | None]] = [[None, *map(thumb, style_images)]]
    with tqdm(total=len(contents) * len(good_styles), unit="image", disable=None if progress is None else not progress) as bar:
        for c in contents:
            try:
                content = load_content(c, opts)
            except InputError as exc:
                skip(exc)
                bar.update(len(good_styles))
                continue
            row = [thumb(content)]
            for s, out in zip(good_styles, stylizer.stylize_each(content, reusable, alpha=opts.alpha, preserve_color=opts.preserve_color), strict=True):
                path = out_dir / output_name(c, s)
                save_image(out, path, opts.quality)
                written.append(path)
                row.append(thumb(out))
                bar.update(1)
            rows.append(row)
    if grid is not None and len(rows) > 1:
        save_image(make_grid(rows, grid_height), grid, opts.quality)
    return FolderReport(written, skipped)
