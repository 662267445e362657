"""The model: encoder and decoder loaded once, applied with every control of the paper.

See :mod:`adain.controls` for the controls and :mod:`adain.color` for colour
preservation; this module holds no file or image-codec code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from adain.color import PreserveColor, color_outputs, content_inputs, style_inputs
from adain.controls import Controls, feature_grid, target_features
from adain.decoder import Decoder
from adain.device import autocast_for
from adain.encoder import Encoder
from adain.errors import UsageError
from adain.geometry import MULTIPLE, check_image, check_unit_range, pad_to_multiple, padded_side
from adain.methods import check_method, check_varies, style_statistics
from adain.networks import Networks, TorchNetworks
from adain.ops import StyleStats
from adain.refine import check_refine, refine_image, refine_targets

BYTES_PER_PIXEL = 850
"""Peak memory of :meth:`Stylizer.stylize` per content pixel, in one piece (measured on CPU: 690–860 bytes,
bf16 and fp32, 512–1536 px; the networks' activations at full resolution dominate)."""

RELU4_1_CHANNELS = 512  # the decoder's input: relu4_1 features

__all__ = ["ShapeCompiled", "StyleStats", "Stylizer"]


def compile_options(device: torch.device, bf16: bool) -> dict[str, bool]:
    """``torch.compile`` options of the networks: frozen weights; CUDA graphs on CUDA with bf16 only
    (without bf16, the cast to float would not copy the encoder's output out of the graph's memory pool)."""
    return {"freezing": True, "triton.cudagraphs": device.type == "cuda" and bf16}


class ShapeCompiled:
    """A network call ``fn`` compiled for a few input shapes; calls with any other shape run ``fn`` eagerly.

    For jobs whose inputs come in a few shapes (a video's frames, ``batch`` at a time; a folder of photos
    of one camera): the other shapes (the styles, a last short batch) would each cost a compilation and
    run only once. A shape added with :meth:`add` compiles at its first call; any other
    shape runs eagerly unless :meth:`warm` has compiled it (on another thread: a server goes on serving
    meanwhile). If compiling fails (no C++ compiler, an unsupported operation, ...), ``warn``
    gets one line and every later call runs eagerly.

    Args:
        fn: ``(N, C, H, W)`` → tensor.
        shape: a first input shape to compile for (or none).
        compiler: ``fn`` → its compiled form (default: ``torch.compile`` with ``dynamic=False`` and ``options``:
            one static graph per shape, recompiled for each new one).
    """

    def __init__(self, fn: Callable[[Tensor], Tensor], shape: tuple[int, ...] | None = None, *, options: dict[str, bool] | None = None,
                 warn: Callable[[str], None] = print, compiler: Callable[[Callable[[Tensor], Tensor]], Callable[[Tensor], Tensor]] | None = None) -> None:
        self.fn, self.warn = fn, warn
        compile_fn = compiler or (lambda f: torch.compile(f, dynamic=False, options=options))
        self.compiled: Callable[[Tensor], Tensor] | None = compile_fn(fn)
        self.inline: set[tuple[int, ...]] = set()  # compile at the first call
        self.ready: set[tuple[int, ...]] = set()  # compiled
        if shape is not None:
            self.add(shape)

    @property
    def shapes(self) -> set[tuple[int, ...]]:
        """The shapes compiled or to be compiled (none once a compilation failed)."""
        return set() if self.compiled is None else self.inline | self.ready

    def add(self, shape: tuple[int, ...]) -> None:
        """Compile for ``shape`` too, at its first call."""
        self.inline.add(tuple(shape))

    def __call__(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        if self.compiled is None:
            return self.fn(x)
        if shape in self.ready:
            return self.compiled(x)
        return self.warm(x) if shape in self.inline else self.fn(x)

    def warm(self, x: Tensor) -> Tensor:
        """Compile for ``x``'s shape by running it (eagerly if compiling fails: one ``warn`` line); the output."""
        if self.compiled is None:
            return self.fn(x)
        try:
            out = self.compiled(x)
        except Exception as exc:  # compilation failed: any error of the compiler stack; the eager call below re-raises real input errors
            self.compiled = None
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            self.warn(f"torch.compile failed ({type(exc).__name__}: {reason}); running eagerly")
            return self.fn(x)
        self.ready.add(tuple(x.shape))
        return out


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
        networks: the networks to run instead of torch ones built from the arguments above (``decoder``,
            ``encoder`` and ``compile`` left out): :class:`~adain.onnx.runtime.OnnxNetworks`, :mod:`adain.networks`.

    The modules passed in are copied, never changed (moved, converted or compiled) in place;
    :attr:`device` follows the modules, so ``stylizer.to("cuda")`` keeps it right.

    Every method takes the style controls as one :class:`~adain.controls.Controls` value,
    or as keywords (``alpha=``, ``weights=``, ``masks=``, ``preserve_color=``) that override
    its fields; colour preservation and mask placement happen inside.
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
        networks: Networks | None = None,
    ) -> None:
        super().__init__()
        if networks is None:
            networks = TorchNetworks(decoder, encoder=encoder, device=device, bf16=bf16, channels_last=channels_last)
        elif decoder is not None or encoder is not None or compile:
            raise UsageError("networks= run as they are: decoder=, encoder= and compile= build and compile torch networks")
        self.networks: Networks = networks
        # how the networks run (bf16 autocast, the inputs' layout) and whether torch.compile and refinement apply to them
        self.bf16, self.memory_format, self.compilable = self.networks.bf16, self.networks.memory_format, self.networks.compilable
        self._run_encoder, self._run_decoder = self.networks.encode, self.networks.decode
        self.compiled = compile
        if compile:
            options = compile_options(self.device, self.bf16)
            self._run_encoder = torch.compile(self._run_encoder, dynamic=False, options=options)
            self._run_decoder = torch.compile(self._run_decoder, dynamic=False, options=options)

    def compile_for(self, shape: tuple[int, int, int, int], *, warn: Callable[[str], None] = print,
                    compiler: Callable[[Callable[[Tensor], Tensor]], Callable[[Tensor], Tensor]] | None = None,
                    warm: bool = False) -> None:
        """Compile the encoder and decoder for contents of one more shape ``(N, 3, H, W)`` (padded to a multiple
        of 8 inside); other shapes keep running eagerly (:class:`ShapeCompiled`: a failed compilation warns and
        runs eagerly).

        The first call with that shape compiles (minutes on a CPU with an empty cache; torch's on-disk
        caches, on by default, shorten later runs). ``warm``: compile now, on a blank input, and use the
        compiled networks only once that is done: on another thread, calls of that shape run eagerly meanwhile.

        Raises:
            UsageError: the stylizer was compiled for every shape already (``compile=True``), or its networks
                are not torch modules (ONNX Runtime).
        """
        if not self.compilable:
            raise UsageError("these networks run in ONNX Runtime, which optimises its own graph: torch.compile does not apply")
        if self.compiled and not isinstance(self._run_encoder, ShapeCompiled):
            raise UsageError("this Stylizer was compiled for every input shape already (compile=True)")
        n, channels, h, w = shape
        ph, pw = padded_side(h), padded_side(w)
        if not isinstance(self._run_encoder, ShapeCompiled) or not isinstance(self._run_decoder, ShapeCompiled):
            options = compile_options(self.device, self.bf16)
            self._run_encoder = ShapeCompiled(self.networks.encode, options=options, warn=warn, compiler=compiler)
            self._run_decoder = ShapeCompiled(self.networks.decode, options=options, warn=warn, compiler=compiler)
        self.compiled = True
        grid = (n, RELU4_1_CHANNELS, ph // MULTIPLE, pw // MULTIPLE)
        if not warm:
            self._run_encoder.add((n, channels, ph, pw))
            self._run_decoder.add(grid)
        else:
            with torch.no_grad(), autocast_for(self.device, self.bf16):
                blank = torch.zeros(n, channels, ph, pw, device=self.device).contiguous(memory_format=self.memory_format)
                self._run_encoder.warm(blank)
                self._run_decoder.warm(torch.zeros(grid, device=self.device).contiguous(memory_format=self.memory_format))

    @property
    def compiled_shapes(self) -> list[tuple[int, int, int, int]]:
        """The padded content shapes ``(N, 3, H, W)`` compiled (or to be compiled at their first call) by :meth:`compile_for`."""
        return sorted(self._run_encoder.shapes) if isinstance(self._run_encoder, ShapeCompiled) else []  # type: ignore[arg-type]

    @property
    def device(self) -> torch.device:
        """The device the networks are on (torch: that of the decoder's weights)."""
        return self.networks.device

    @property
    def encoder(self) -> Encoder:
        """The torch encoder (refinement, every tap's features). Raises :class:`UsageError` for networks run elsewhere."""
        self.check_refinable()
        return cast(TorchNetworks, self.networks).encoder

    @property
    def decoder(self) -> Decoder:
        """The torch decoder. Raises :class:`UsageError` for networks run elsewhere."""
        self.check_refinable()
        return cast(TorchNetworks, self.networks).decoder

    @property
    def encoder_identity(self) -> str:
        """Which encoder this is, as style files record it (:func:`adain.encoder.encoder_identity`)."""
        return self.networks.encoder_identity

    @property
    def model_entry(self) -> dict:
        """The networks, as an output's record names them: decoder and encoder fingerprints, training steps, precision."""
        return self.networks.model_entry

    @property
    def taps(self) -> tuple[str, ...]:
        """The encoder's taps this Stylizer can compute (``relu1_1`` … ``relu4_1``; an ONNX export: ``relu4_1`` only)."""
        return self.networks.taps

    @torch.no_grad()
    def encode(self, images: Tensor, *, pad: bool = True) -> Tensor:
        """``(N, 3, H, W)`` → relu4_1 ``(N, 512, ⌈H/8⌉, ⌈W/8⌉)`` after padding to a multiple of 8
        (``pad=False``: ``⌊H/8⌋ × ⌊W/8⌋``, for statistics only)."""
        device = self.device
        x = pad_to_multiple(images.to(device))[0] if pad else images.to(device)
        with autocast_for(device, self.bf16):
            return self._run_encoder(x.contiguous(memory_format=self.memory_format)).float()

    @torch.no_grad()
    def decode(self, t: Tensor, size: tuple[int, int]) -> Tensor:
        """Features ``(N, 512, h, w)`` → images ``(N, 3, H, W)`` cropped to ``size``, clipped to [0, 1]."""
        device = self.device
        with autocast_for(device, self.bf16):
            out = self._run_decoder(t.to(device, memory_format=self.memory_format))
        return out.float()[..., : size[0], : size[1]].clamp(0, 1)

    @torch.no_grad()
    def style_stats(
        self,
        styles: list[Tensor | StyleStats],
        method: str = "adain",
        *,
        preserve_color: PreserveColor | None = None,
        reference: Tensor | None = None,
    ) -> StyleStats:
        """Encode style images (each ``(3, H, W)``, any size) → :class:`StyleStats` for a transfer method.

        Styles are encoded as they are, without padding to a multiple of 8: only
        their statistics are kept, and padding would bias them. With ``preserve_color``
        they are first adapted to ``reference`` (the content ``(3, H, W)``, or frames
        side by side), so the statistics are for that content only. Styles given as
        :class:`StyleStats` already (a style file's) are taken as they are: for
        ``method``, and without ``preserve_color`` (which needs the paintings).

        Raises:
            UsageError: no style, an unknown method, a flat (single-colour) style image,
                or statistics that do not fit ``method`` or ``preserve_color``.
        """
        check_method(method)
        if not styles:
            raise UsageError("at least one style image is needed")
        given = [k for k, s in enumerate(styles) if isinstance(s, StyleStats)]
        if given and preserve_color is not None:
            raise UsageError(f"style {given[0] + 1} is given by its statistics (a style file): colour preservation needs the painting")
        styles = [s if isinstance(s, StyleStats) else check_image(s, f"style {k + 1}") for k, s in enumerate(styles)]
        if preserve_color is not None:
            if reference is None:
                raise UsageError("preserve_color adapts the styles to the content: give reference=<the content image>")
            styles = style_inputs(list(styles), reference, preserve_color)
        parts = []
        for k, style in enumerate(styles):
            name = f"style {k + 1}" if len(styles) > 1 else "the style"
            if isinstance(style, StyleStats):
                if style.method != method:
                    raise UsageError(f"{name} is given by its {style.method} statistics (a style file), but the method is {method}: use the painting")
                parts.append(style.to(self.device))
                continue
            feats = self.encode(style[None], pad=False)
            check_varies(feats, name)
            parts.append(style_statistics(feats, method))
        return StyleStats.cat(parts)

    @torch.no_grad()
    def tap_stats(
        self, styles: list[Tensor | StyleStats], method: str = "adain", *, preserve_color: PreserveColor | None = None, reference: Tensor | None = None
    ) -> list[StyleStats]:
        """The styles' statistics at every tap relu1_1 … relu4_1 (one :class:`StyleStats` per tap, K styles each), what
        a refinement (:mod:`adain.refine`) pulls toward; styles as in :meth:`style_stats`, but images only.

        Raises:
            UsageError: a style given by its statistics (a style file keeps relu4_1 only), or as :meth:`style_stats`.
        """
        check_method(method)
        given = [k for k, s in enumerate(styles) if isinstance(s, StyleStats)]
        if given:
            raise UsageError(f"style {given[0] + 1} is given by its statistics (a style file): refinement needs the painting")
        images = [check_image(s, f"style {k + 1}") for k, s in enumerate(styles)]  # type: ignore[arg-type]
        if not images:
            raise UsageError("at least one style image is needed")
        if preserve_color is not None:
            if reference is None:
                raise UsageError("preserve_color adapts the styles to the content: give reference=<the content image>")
            images = style_inputs(images, reference, preserve_color)
        per_style = [self.tap_features(image[None]) for image in images]
        for k, feats in enumerate(per_style):
            check_varies(feats[-1], f"style {k + 1}" if len(images) > 1 else "the style")
        return [StyleStats.cat([style_statistics(feats[tap], method) for feats in per_style]) for tap in range(len(per_style[0]))]

    @torch.no_grad()
    def tap_features(self, images: Tensor) -> list[Tensor]:
        """Images ``(N, 3, H, W)`` as they are (no padding) → features at relu1_1 … relu4_1, in float32 (as a refinement runs)."""
        return list(self.encoder(images.to(self.device).float().contiguous(memory_format=self.memory_format), last="relu4_1"))

    @torch.no_grad()
    def stylize_batch(
        self, contents: Tensor, stats: StyleStats, controls: Controls | None = None, *, refine: int = 0,
        tap_stats: list[StyleStats] | None = None, on_step: Callable[[float], None] | None = None,
        features: Tensor | None = None, content_stats: tuple[Tensor, Tensor] | None = None, **given: Any
    ) -> Tensor:
        """Stylize a batch of same-size content images with encoded styles: the pipeline every stylization goes
        through (the images the encoder sees, relu4_1, masks on the feature grid, the transfer, the decoder, colours put back).

        Args:
            contents: ``(N, 3, H, W)`` in [0, 1].
            stats: K encoded styles (with ``preserve_color``: encoded by :meth:`style_stats`
                with the same mode and these contents as the reference).
            controls, given: the style controls (see the class); masks ``(K, H, W)`` the contents' size.
            refine: optimisation steps after the decoder (:mod:`adain.refine`, in the stylizer's precision); they need ``tap_stats``
                (:meth:`tap_stats` of the same styles, method, colour mode and reference).
            on_step: called with the objective after each refinement step (progress).
            features: the contents' relu4_1 features if the caller has them, as :meth:`content_features` gives
                them, ``(N, 512, ⌈H/8⌉, ⌈W/8⌉)`` (saves the encoder pass; a tile's, encoded with its surroundings).
            content_stats: the relu4_1 mean and std to normalise the content features with instead of their own
                (adain only, :func:`~adain.controls.target_features`): each ``(N or 1, 512, 1, 1)``, with masks
                ``(K, N or 1, 512, 1, 1)``, one per region; a whole image's for its tiles, a running average for video.

        Returns:
            ``(N, 3, H, W)`` in [0, 1].
        """
        c = Controls.resolve(controls, **given)
        contents = check_image(contents, "contents", batched=True)
        check_refine(refine)
        if c.masks is not None:
            check_unit_range(c.masks, "masks")
        size = (contents.shape[-2], contents.shape[-1])
        c.check_styles(len(stats), size)
        if c.method is not None and c.method != stats.method:
            raise UsageError(f"the styles were encoded for {stats.method}, not {c.method}")
        if refine and (tap_stats is None or len(tap_stats[-1]) != len(stats)):
            raise UsageError("refinement needs the styles' statistics at every tap (Stylizer.tap_stats of the same styles)")
        if refine:
            self.check_refinable()
        if refine and (features is not None or content_stats is not None):
            raise UsageError("refinement measures the contents at every tap itself: not with given features or content statistics")
        content_feats = None
        if features is None:
            inputs = content_inputs(contents, c.preserve_color)
            content_feats = self.tap_features(pad_to_multiple(inputs.to(self.device))[0]) if refine else None
            features = self.encode(inputs) if content_feats is None else content_feats[-1]
        grid = (padded_side(size[0]) // MULTIPLE, padded_side(size[1]) // MULTIPLE)
        if features.dim() != 4 or features.shape[0] != len(contents) or tuple(features.shape[-2:]) != grid:
            raise UsageError(f"features {tuple(features.shape)} are not those of {len(contents)} {size[1]}x{size[0]} contents (N, C, {grid[0]}, {grid[1]})")
        masks = None if c.masks is None else feature_grid(c.masks, grid)
        weights = c.style_weights(len(stats))
        t = target_features(features, stats, alpha=c.alpha, weights=weights, masks=masks, content_stats=content_stats)
        if content_feats is None or tap_stats is None:
            return color_outputs(self.decode(t, size).cpu(), contents, c.preserve_color)
        out = self.decode(t, (t.shape[-2] * MULTIPLE, t.shape[-1] * MULTIPLE))
        return self.refine(out, contents, tap_stats, c, steps=refine, on_step=on_step, content_taps=content_feats)

    def check_refinable(self) -> None:
        """Raise :class:`UsageError` unless these networks can refine: gradients through the encoder need the torch model."""
        if not self.compilable:
            raise UsageError("refinement needs gradients through the encoder: these networks run in ONNX Runtime, use the torch model")

    @torch.no_grad()
    def refine(
        self, images: Tensor, contents: Tensor, tap_stats: list[StyleStats], controls: Controls | None = None, *, steps: int,
        on_step: Callable[[float], None] | None = None, content_taps: list[Tensor] | None = None, **given: Any
    ) -> Tensor:
        """Optimise stylizations of ``contents`` toward the transfer's targets (:mod:`adain.refine`), then put the colours back.

        The start may be this decoder's output or another network's (the lite model's): what counts is that it is the
        image before colour preservation, made from the images the encoder sees (the luminance with ``"luminance"``).

        Args:
            images: ``(N, 3, H, W)`` the contents' size, or padded (reflected) to a multiple of 8 as the decoder makes them.
            contents: ``(N, 3, H, W)`` in [0, 1], the contents as given.
            tap_stats: :meth:`tap_stats` of the styles (same method, colour mode and reference).
            controls, given: the style controls, as for :meth:`stylize_batch`.
            steps: optimisation steps (at least 1).
            on_step: called with the objective after each step (progress).
            content_taps: the contents' features at every tap if the caller has them (of the padded encoder inputs).

        Returns:
            ``(N, 3, H, W)`` in [0, 1], the contents' size.
        """
        c = Controls.resolve(controls, **given)
        self.check_refinable()
        if steps < 1:
            raise UsageError(f"refinement takes at least one step, got {steps}")
        size = (contents.shape[-2], contents.shape[-1])
        c.check_styles(len(tap_stats[-1]), size)
        padded = (padded_side(size[0]), padded_side(size[1]))
        if tuple(images.shape) not in ((*contents.shape[:2], *size), (*contents.shape[:2], *padded)):
            raise UsageError(f"images {tuple(images.shape)} are not stylizations of {len(contents)} {size[1]}x{size[0]} contents")
        start = images.to(self.device) if tuple(images.shape[-2:]) == padded else pad_to_multiple(images.to(self.device))[0]
        if content_taps is None:
            content_taps = self.tap_features(pad_to_multiple(content_inputs(contents, c.preserve_color).to(self.device))[0])
        targets = refine_targets(content_taps, tap_stats, alpha=c.alpha, weights=c.style_weights(len(tap_stats[-1])), masks=c.masks)
        with autocast_for(self.device, self.bf16):
            out = refine_image(self.encoder, start.float().contiguous(memory_format=self.memory_format), targets, steps, on_step=on_step)
        return color_outputs(out[..., : size[0], : size[1]].cpu(), contents, c.preserve_color)

    @torch.no_grad()
    def stylize(
        self, content: Tensor, styles: list[Tensor | StyleStats] | Tensor, controls: Controls | None = None, *, refine: int = 0,
        on_step: Callable[[float], None] | None = None, **given: Any
    ) -> Tensor:
        """Stylize one image.

        Args:
            content: ``(3, H, W)`` RGB in [0, 1], any size.
            styles: one ``(3, H', W')`` image or a list of them; a style may also be
                given by its statistics (:class:`StyleStats`, e.g. a style file's).
            controls, given: the style controls (see the class): ``alpha``, ``weights`` (one per
                style, default equal), ``masks`` ``(K, H, W)`` the content's size, ``preserve_color``,
                ``method`` (``"adain"``, ``"wct"`` or ``"efdm"``, :mod:`adain.methods`).
            refine: optimisation steps of the paper's losses after the decoder, toward the same targets
                (:mod:`adain.refine`; style images only, not style files); ``0``: none.
            on_step: called with the objective after each refinement step (progress).

        Returns:
            ``(3, H, W)`` in [0, 1], the content's size.
        """
        c = Controls.resolve(controls, **given)
        content = check_image(content, "content")
        check_refine(refine)
        styles = [styles] if isinstance(styles, Tensor) else list(styles)  # checked by style_stats
        method = c.method or "adain"
        if refine:  # the styles are encoded once: relu4_1's statistics are the last tap's
            taps = self.tap_stats(styles, method, preserve_color=c.preserve_color, reference=content)
            stats = taps[-1]
        else:
            taps, stats = None, self.style_stats(styles, method, preserve_color=c.preserve_color, reference=content)
        return self.stylize_batch(content[None], stats, c, refine=refine, tap_stats=taps, on_step=on_step)[0]

    @torch.no_grad()
    def content_features(self, content: Tensor, preserve_color: PreserveColor | None = None) -> Tensor:
        """The relu4_1 features a stylization of ``content`` ``(3, H, W)`` (or contents ``(N, 3, H, W)``) starts from,
        ``(1 or N, 512, ⌈H/8⌉, ⌈W/8⌉)`` (of the luminance with ``preserve_color="luminance"``)."""
        batched = isinstance(content, Tensor) and content.dim() == 4
        images = check_image(content, "content", batched=batched)
        return self.encode(content_inputs(images if batched else images[None], preserve_color))

    @torch.no_grad()
    def stylize_each(
        self, content: Tensor, styles: list[Tensor] | StyleStats, controls: Controls | None = None, *,
        features: Tensor | None = None, **given: Any
    ) -> Iterator[Tensor]:
        """Stylize one image with each style in turn (the content is encoded once).

        Args:
            content: ``(3, H, W)`` RGB in [0, 1], any size.
            styles: K style images ``(3, H', W')``, or their :class:`StyleStats`
                (encode them once with :meth:`style_stats` to reuse them over
                many contents; only without ``preserve_color``, which needs the
                images because it adapts them to each content).
            controls, given: ``alpha``, ``preserve_color`` and ``method`` as in :meth:`stylize`
                (each output has one style, so no weights or masks; ``method=None``: AdaIN, or the
                method the given statistics were encoded for).
            features: the content's relu4_1 features if the caller has them already, as
                :meth:`content_features` gives them, ``(1, 512, ⌈H/8⌉, ⌈W/8⌉)`` (saves the encoder pass).

        Yields:
            K images ``(3, H, W)`` in [0, 1], one per style, in order.
        """
        c = Controls.resolve(controls, **given)
        content = check_image(content, "content")
        if c.weights is not None or c.masks is not None:
            raise UsageError("stylize_each gives one output per style: weights and masks do not apply")
        if isinstance(styles, StyleStats):
            if c.preserve_color is not None:
                raise UsageError("preserve_color needs the style images, not their statistics")
            if c.method is not None and c.method != styles.method:
                raise UsageError(f"the styles were encoded for {styles.method}, not {c.method}")
            stats = styles
        else:
            stats = self.style_stats(list(styles), c.method or "adain", preserve_color=c.preserve_color, reference=content)
        feats = self.content_features(content, c.preserve_color) if features is None else features
        for k in range(len(stats)):
            yield self.stylize_batch(content[None], stats[k], c, features=feats)[0]
