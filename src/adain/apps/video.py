"""Video style transfer: frames in batches through the networks, a temporal strategy, the input's timing and audio kept.

The loop (:func:`stylize_video`) is short: :class:`adain.apps.video_io.VideoReader`
decodes batches of frames (and hands on audio packets),
:func:`stylize_frames` stylizes them with styles encoded once, a temporal
strategy of :mod:`adain.apps.temporal` ties each frame to the ones before
(``none``, ``blend`` or ``flow``), and :class:`adain.apps.video_io.VideoWriter`
encodes them with the input's time stamps, size, rotation and audio, into a
temp file renamed at the end.

Flicker is measured as the mean absolute difference between consecutive
output frames divided by the same for the input frames (1 = the output
changes as much as the input; AdaIN on independent frames is well above, as
the decoder's texture boils with small input changes);
:mod:`adain.apps.video_metrics` has the flow-warped error, which does not count
real motion. :class:`StatsStabilizer` (``stats_momentum``) is a running
average of the content features' channel statistics, used instead of each
frame's own in AdaIN (restarted at scene cuts), meant against colour pumping
when large objects enter the frame; it barely changes the flicker number
(measured in docs/video-and-datasets.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from adain.apps.compiling import CompileRule, can_compile
from adain.apps.temporal import MAX_SOURCES, STRATEGIES, FlowBlend, TemporalBlend
from adain.apps.video_io import VideoInfo, VideoReader, VideoWriter, frames_to_tensor, output_format, probe
from adain.apps.video_metrics import FlickerMeter
from adain.controls import Controls, feature_grid
from adain.device import memory_budget
from adain.errors import InputError, UsageError
from adain.geometry import resize_shorter, resized_shape
from adain.io.atomic import check_not_an_input
from adain.io.provenance import software, source_entry
from adain.limits import MIN_SIDE
from adain.lite.runtime import LiteStyle
from adain.lite.stylizer import LiteStylizer
from adain.ops import StyleStats, mean_std
from adain.stylizer import Stylizer
from adain.tiling import stylize_memory

SCENE_CUT = 2.0  # mean |μ_t − μ̄| / σ̄ over channels above this restarts the stabiliser


# ---------------------------------------------------------------- pure functions


def even_size(height: int, width: int) -> tuple[int, int]:
    """Largest even ``(H, W)`` not above the given one (H.264 with 4:2:0 chroma needs even sides)."""
    return height - height % 2, width - width % 2


def fit_frames(frames: Tensor, size: int, even: bool) -> Tensor:
    """``(N, 3, H, W)`` → shorter side ``size`` (0 keeps), then cropped to even sides if ``even``."""
    if size:
        frames = torch.stack([resize_shorter(f, size) for f in frames])
    if even:
        h, w = even_size(*frames.shape[-2:])
        frames = frames[..., :h, :w]
    return frames


def masks_for_frames(masks: Tensor, rotation: int, size: tuple[int, int]) -> Tensor:
    """Masks drawn on the displayed video ``(K, H', W')`` → stored frame orientation and size ``(K, H, W)``.

    ``rotation`` is the display matrix's counter-clockwise rotation in degrees
    (a multiple of 90); the masks are rotated back and resized (bilinear).
    """
    masks = torch.rot90(masks.float(), k=-(rotation // 90) % 4, dims=(-2, -1))
    if tuple(masks.shape[-2:]) != size:
        masks = F.interpolate(masks[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return masks.clamp(0, 1)


# ---------------------------------------------------------------- statistics stabiliser


class StatsStabilizer:
    """Running average of content feature statistics across frames.

    Args:
        momentum: weight of the past in ``μ̄ ← m·μ̄ + (1 − m)·μ`` (and the same
            for σ); 0 turns the stabiliser off.
        scene_cut: a frame whose mean is more than this many running standard
            deviations from the running mean (averaged over channels) restarts
            the average.
    """

    def __init__(self, momentum: float, scene_cut: float = SCENE_CUT) -> None:
        if not 0.0 <= momentum < 1.0:
            raise UsageError(f"stabiliser momentum must be in [0, 1), got {momentum}")
        self.momentum, self.scene_cut = momentum, scene_cut
        self.mean: Tensor | None = None
        self.std: Tensor | None = None
        self.cuts = 0

    def update(self, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        """One frame's statistics (any same shapes) → the running ones to normalise it with."""
        if self.mean is not None and float(((mean - self.mean).abs() / self.std).mean()) > self.scene_cut:
            self.mean = self.std = None
            self.cuts += 1
        if self.mean is None:
            self.mean, self.std = mean, std
        else:
            m = self.momentum
            self.mean = m * self.mean + (1 - m) * mean
            self.std = m * self.std + (1 - m) * std
        return self.mean, self.std


# ---------------------------------------------------------------- stylizing frames


@dataclass
class FrameStyle:
    """Everything that stays the same for all frames of one video.

    ``stats`` are the encoded (possibly recoloured) styles; the masks of ``controls``
    are ``(K, H, W)`` at the processed frame size or ``None``.
    """

    stats: StyleStats | list[LiteStyle]
    controls: Controls = field(default_factory=Controls)


def stylize_frames(stylizer: Stylizer, frames: Tensor, style: FrameStyle, stabilizer: StatsStabilizer | None = None) -> Tensor:
    """Stylize a batch of consecutive frames ``(N, 3, H, W)`` → ``(N, 3, H, W)`` in [0, 1].

    This is :meth:`Stylizer.stylize_batch`; with a stabiliser, each frame is normalised
    with the running statistics instead of its own (per mask region with masks).
    """
    c = style.controls
    if stabilizer is None:
        return stylizer.stylize_batch(frames, style.stats, c)
    feats = stylizer.content_features(frames, c.preserve_color)
    grid = None if c.masks is None else feature_grid(c.masks, (feats.shape[-2], feats.shape[-1])).to(feats)
    regions = [None] if grid is None else list(grid.split(1))
    local = [mean_std(feats, mask=m) for m in regions]  # per region R: (N, C, 1, 1) each
    means, stds = torch.stack([m for m, _ in local]), torch.stack([s for _, s in local])  # (R, N, C, 1, 1)
    running = [stabilizer.update(means[:, n], stds[:, n]) for n in range(len(frames))]  # frame after frame: (R, C, 1, 1) each
    mean, std = torch.stack([m for m, _ in running], dim=1), torch.stack([s for _, s in running], dim=1)  # (R, N, C, 1, 1)
    return stylizer.stylize_batch(frames, style.stats, c, features=feats, content_stats=(mean[0], std[0]) if grid is None else (mean, std))


# ---------------------------------------------------------------- the loop


@dataclass
class VideoResult:
    """Summary of :func:`stylize_video`."""

    path: Path
    frames: int
    seconds: float
    input_change: float
    output_change: float
    flicker: float
    scene_cuts: int
    compiled: bool = False

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def _frame_style(stylizer: Stylizer, images: Tensor, styles: list[Tensor | StyleStats], info: VideoInfo, controls: Controls) -> FrameStyle:
    """Styles encoded once, on the first batch ``(N, 3, H, W)``: its frames are the colour reference; masks fitted."""
    h, w = images.shape[-2:]
    reference = images.permute(1, 0, 2, 3).reshape(3, -1, w)
    frame_masks = None if controls.masks is None else masks_for_frames(controls.masks, info.rotation, (h, w))
    stats = stylizer.style_stats(list(styles), controls.method or "adain", preserve_color=controls.preserve_color, reference=reference)
    return FrameStyle(stats, controls.replace(masks=frame_masks))


def video_record(stylizer: Stylizer, src: Path, info: VideoInfo, controls: Controls, styles: list[dict], size: tuple[int, int],
                 **settings: object) -> dict:
    """How a stylized video was made, as :mod:`adain.io.provenance` records it for pictures.

    Args:
        src, info: the input video and its :func:`~adain.apps.video_io.probe`.
        controls: the style controls (masks ``(K, H, W)`` or ``None``).
        styles: each style's entry (name and SHA-256, :meth:`adain.apps.plan.InputFile.entry`); the
            weights of ``controls`` are added to them.
        size: ``(H, W)`` of the output frames.
        settings: the temporal mode and the other settings, recorded as given.
    """
    weights = controls.style_weights(len(styles))
    if weights is not None:
        styles = [{**entry, "weight": round(float(w), 6)} for entry, w in zip(styles, weights.tolist(), strict=True)]
    return {
        "software": software(), "method": controls.method or "adain", **stylizer.model_entry,
        "content": {**source_entry(src), "codec": info.codec, "size": [info.width, info.height], "rate": str(info.rate), "frames": info.frames},
        "styles": styles, "alpha": controls.alpha, "masks": 0 if controls.masks is None else len(controls.masks),
        "preserve_color": controls.preserve_color, **settings, "output_size": [size[1], size[0]],
    }


@dataclass(frozen=True)
class VideoOptions:
    """Settings of a video run (the options of ``adain video``), checked when made.

    Attributes:
        controls: alpha, weights, preserve_color and method (:class:`adain.controls.Controls`); its masks ``(K, H, W)`` in
            [0, 1], one per style, are drawn on the video as displayed (rotation applied) and resized to the frames.
        temporal: ``none`` (frames independent), ``blend`` (motion-gated running average,
            :class:`adain.apps.temporal.TemporalBlend`) or ``flow`` (the stylized texture carried along the optical flow,
            :class:`adain.apps.temporal.FlowBlend`; needs the ``video-flow`` extra).
        momentum: the strategy's weight of the past (default: 0.8 for blend, 1 for flow: carried, not averaged).
        stats_momentum: momentum of the running average of the content statistics (:class:`StatsStabilizer`; 0: off; adain only).
        batch: frames per forward pass.
        size: shorter side of the processed frames (0 keeps the input size).
        crf: H.264 quality (0 lossless … 51 worst).
        codec: override the video encoder (e.g. ``mpeg4``).
        audio: copy the first audio stream (mp4/mov/mkv only).
        max_frames: stop after this many frames (0: all).
        style_size: the shorter side the paintings were resized to, for the record.
    """

    controls: Controls = field(default_factory=Controls)
    temporal: str = "none"
    momentum: float | None = None
    stats_momentum: float = 0.0
    batch: int = 4
    size: int = 0
    crf: int = 18
    codec: str | None = None
    audio: bool = True
    max_frames: int = 0
    style_size: int | None = None

    def __post_init__(self) -> None:
        if self.stats_momentum > 0 and self.controls.method not in (None, "adain"):
            raise UsageError(f"stats_momentum averages AdaIN's mean and std: it does not work with method {self.controls.method!r}")
        if self.batch < 1:
            raise UsageError(f"batch must be at least 1, got {self.batch}")
        if not 0 <= self.crf <= 51:
            raise UsageError(f"crf must be in 0..51 (0 lossless, 51 worst), got {self.crf}")
        self.strategy()  # a bad mode or momentum, or flow without OpenCV, fails here
        self.stabilizer()

    def strategy(self) -> TemporalBlend | FlowBlend | None:
        """A fresh temporal strategy: ``None`` (``none``), ``blend`` or ``flow`` with ``momentum`` (default if ``None``).

        Raises:
            ValueError: an unknown mode or a momentum outside [0, 1) (blend) or [0, 1] (flow).
            InputError: ``flow`` without OpenCV (the ``video-flow`` extra).
        """
        if self.temporal not in STRATEGIES:
            raise UsageError(f"temporal must be one of {STRATEGIES}, got {self.temporal!r}")
        if self.temporal == "none":
            return None
        kind = TemporalBlend if self.temporal == "blend" else FlowBlend
        return kind() if self.momentum is None else kind(self.momentum)

    def stabilizer(self) -> StatsStabilizer | None:
        """A fresh statistics stabiliser, or ``None`` without ``stats_momentum``."""
        return StatsStabilizer(self.stats_momentum) if self.stats_momentum > 0 else None


def check_frames(src: Path, info: VideoInfo, *, size: int, batch: int, temporal: str = "none") -> None:
    """Refuse frames that, at shorter side ``size``, are too small for the networks (a side under
    :data:`~adain.limits.MIN_SIDE`) or, ``batch`` at a time, would not fit the memory budget; before any frame is stylized.

    ``temporal="flow"`` adds the past stylized frames the flow strategy keeps (:data:`~adain.apps.temporal.MAX_SOURCES`).
    """
    h, w = resized_shape(info.height, info.width, size)
    if min(h, w) < MIN_SIDE:
        resized = f" ({w}x{h} at --size {size})" if size else ""
        raise InputError(f"{src}: frames of {info.width}x{info.height}{resized}: each side must be at least {MIN_SIDE} px")
    need, have = stylize_memory(h, w) * batch + (MAX_SOURCES * 3 * h * w if temporal == "flow" else 0), memory_budget()
    if need > have:
        raise InputError(f"{src}: {w}x{h} frames, {batch} at a time, need about {need / 2**30:.1f} GB of memory, more than the "
                         f"{have / 2**30:.1f} GB available to it: use a smaller --size or --batch")


def stylize_video(
    src: str | Path,
    dst: str | Path,
    styles: list[Tensor | StyleStats],
    opts: VideoOptions = VideoOptions(),
    *,
    stylizer: Stylizer | LiteStylizer | None = None,
    progress: bool = True,
    sources: list[dict] | None = None,
    compile: bool | None = None,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> VideoResult:
    """Stylize every frame of a video and write it atomically.

    Args:
        src: input video (anything FFmpeg reads).
        dst: output; the suffix picks the format: ``.mp4``/``.mov``/``.mkv``
            (H.264, audio copied), ``.gif``, ``.webp`` (animated, no audio).
        styles: style images ``(3, H, W)`` (or their statistics), encoded once (recoloured first
            with ``preserve_color="color"``, to the first batch of frames).
        opts: the settings (:class:`VideoOptions`).
        stylizer: the networks (default: shipped decoder, pretrained encoder), or the lite model
            (:class:`adain.lite.stylizer.LiteStylizer`).
        progress: show a progress bar.
        sources: how the output's record names each style (name and SHA-256 of its file,
            :meth:`adain.apps.plan.InputFile.entry`; default ``"style 1"``, ...).
        compile: ``torch.compile`` the networks for the frames' shape (:meth:`Stylizer.compile_for`):
            ``True`` from the first frame, ``False`` never, ``None`` when a full batch's eager time (from
            the second on) says the frames left pay for it (:class:`adain.apps.compiling.CompileRule`).
        log: gets one line when compiling starts, and a warning if compiling fails (the frames then run eagerly).

    The output records how it was made (:func:`video_record`; ``adain info OUTPUT`` prints it).

    Returns:
        :class:`VideoResult` with frame count, time and flicker numbers.

    Raises:
        InputError: unreadable input, no video stream, unknown codec, unknown
            output format, audio that cannot be copied into the output.
    """
    src, dst = Path(src), Path(dst)
    check_not_an_input(dst, {"video": src})
    output_format(dst, opts.codec)
    info = probe(src)
    check_frames(src, info, size=opts.size, batch=opts.batch, temporal=opts.temporal)
    strategy, stabilizer = opts.strategy(), opts.stabilizer()
    stylizer = stylizer or Stylizer()
    if stabilizer is not None and not isinstance(stylizer, Stylizer):
        raise UsageError("stats_momentum averages the encoder's statistics: it needs the full model")
    if compile and not can_compile(stylizer):
        raise UsageError("compile: the stylizer cannot be compiled for the frames (an ONNX Runtime backend, or compiled already)")
    meter, started = FlickerMeter(), time.perf_counter()
    style: FrameStyle | None = None
    total = min(info.frames or 0, opts.max_frames or info.frames or 0) or None
    rule = CompileRule(stylizer, compile, total, log=log, max_shapes=1)  # one shape: the frames, batch at a time
    with VideoReader(src) as reader, VideoWriter(dst, info, reader.video.time_base, codec=opts.codec, crf=opts.crf,
                                                 audio=reader.audio if opts.audio else None) as writer, \
            tqdm(total=total, unit="frame", desc=src.name, disable=not progress, leave=False) as bar:  # the bar goes before an error shows
        for frames in reader.batches(opts.batch, opts.max_frames, writer.mux_audio):
            images = fit_frames(frames_to_tensor(frames, (info.height, info.width)), opts.size, writer.even)
            if style is None:
                style = _frame_style(stylizer, images, styles, info, opts.controls)
                writer.record = video_record(
                    stylizer, src, info, style.controls, sources or [{"name": f"style {k + 1}"} for k in range(len(styles))],
                    (images.shape[-2], images.shape[-1]), style_size=opts.style_size, temporal=opts.temporal,
                    momentum=getattr(strategy, "momentum", None), stats_momentum=opts.stats_momentum, video_codec=writer.codec,
                    **({"crf": opts.crf} if writer.codec == "libx264" else {}))
            with rule.timed(tuple(images.shape), len(frames)):  # type: ignore[arg-type]
                styled = stylize_frames(stylizer, images, style, stabilizer)
            if strategy is not None:
                styled = strategy(images, styled)
            meter.update(images, styled)
            writer.write(styled, frames)
            bar.update(len(frames))
            bar.set_postfix(fps=f"{writer.frames / (time.perf_counter() - started):.2f}")
        if style is None:
            raise InputError(f"{src}: the video stream has no frames")
    cuts = (stabilizer.cuts if stabilizer else 0) + (strategy.cuts if isinstance(strategy, FlowBlend) else 0)
    return VideoResult(dst, writer.frames, time.perf_counter() - started, meter.input_change, meter.output_change,
                       meter.flicker, cuts, rule.compiled)
