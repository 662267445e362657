"""The model: encoder and decoder loaded once, applied with every control of the paper.

See :mod:`adain.controls` for the controls and :mod:`adain.color` for colour
preservation; this module holds no file or image-codec code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from adain.color import color_inputs, color_output
from adain.controls import check_alpha, masks_to_grid, target_features
from adain.decoder import Decoder, load_decoder
from adain.device import auto_bf16, autocast_for, pick_device
from adain.encoder import Encoder
from adain.geometry import pad_to_multiple
from adain.methods import check_method, check_varies, style_statistics
from adain.ops import StyleStats

__all__ = ["StyleStats", "Stylizer"]


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
    def style_stats(self, styles: list[Tensor], method: str = "adain") -> StyleStats:
        """Encode style images (each ``(3, H, W)``, any size) → :class:`StyleStats` for a transfer method.

        Styles are encoded as they are, without padding to a multiple of 8: only
        their statistics are kept, and padding would bias them.

        Raises:
            ValueError: no style, an unknown method, or a flat (single-colour) style image.
        """
        check_method(method)
        if not styles:
            raise ValueError("at least one style image is needed")
        parts = []
        for k, style in enumerate(styles):
            feats = self.encode(style[None], pad=False)
            check_varies(feats, f"style {k + 1}" if len(styles) > 1 else "the style")
            parts.append(style_statistics(feats, method))
        return StyleStats.cat(parts)

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
        t = target_features(feats, stats, alpha=alpha, weights=weights, masks=grid)
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
        method: str = "adain",
    ) -> Tensor:
        """Stylize one image.

        Args:
            content: ``(3, H, W)`` RGB in [0, 1], any size.
            styles: one ``(3, H', W')`` image or a list of them.
            alpha: content–style trade-off in [0, 1].
            weights: interpolation weights, one per style (default: equal).
            masks: ``(K, H, W)`` in [0, 1], one per style, the content's size.
            preserve_color: ``None``, ``"color"`` or ``"luminance"``.
            method: transfer method, ``"adain"``, ``"wct"`` or ``"efdm"`` (:mod:`adain.methods`).

        Returns:
            ``(3, H, W)`` in [0, 1], the content's size.
        """
        styles = [styles] if isinstance(styles, Tensor) else list(styles)
        net_content, net_styles = color_inputs(content, styles, preserve_color)
        stats = self.style_stats(net_styles, method)
        out = self.stylize_batch(net_content[None], stats, alpha=alpha, weights=weights, masks=masks)[0]
        return color_output(out, content, preserve_color)

    @torch.no_grad()
    def stylize_each(
        self,
        content: Tensor,
        styles: list[Tensor] | StyleStats,
        *,
        alpha: float = 1.0,
        preserve_color: str | None = None,
        method: str | None = None,
    ) -> Iterator[Tensor]:
        """Stylize one image with each style in turn (the content is encoded once).

        Args:
            content: ``(3, H, W)`` RGB in [0, 1], any size.
            styles: K style images ``(3, H', W')``, or their :class:`StyleStats`
                (encode them once with :meth:`style_stats` to reuse them over
                many contents; only without ``preserve_color``, which needs the
                images because it adapts them to each content).
            alpha, preserve_color: as in :meth:`stylize`.
            method: as in :meth:`stylize` (``None``: ``"adain"``, or the method the styles were encoded for).

        Yields:
            K images ``(3, H, W)`` in [0, 1], one per style, in order.
        """
        alpha = check_alpha(alpha)
        if isinstance(styles, StyleStats):
            if preserve_color is not None:
                raise ValueError("preserve_color needs the style images, not their statistics")
            if method is not None and method != styles.method:
                raise ValueError(f"the styles were encoded for {styles.method}, not {method}")
            net_content, stats = content, styles
        else:
            net_content, net_styles = color_inputs(content, list(styles), preserve_color)
            stats = self.style_stats(net_styles, method or "adain")
        feats = self.encode(net_content[None])
        for k in range(len(stats)):
            t = target_features(feats, stats.select(k), alpha=alpha)
            yield color_output(self.decode(t, tuple(content.shape[-2:]))[0].cpu(), content, preserve_color)
