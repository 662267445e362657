"""Video style transfer with PyAV (FFmpeg in its wheels).

Frames are decoded to RGB, stylized in batches with styles encoded once, and
encoded again keeping what the input had: frame timing (the input's time
stamps), size (cropped to even sides for H.264), the rotation of the display
matrix, and the audio stream (packets copied unchanged into mp4/mov/mkv).

Flicker is measured as the mean absolute difference between consecutive
output frames divided by the same for the input frames (1 = the output
changes as much as the input; AdaIN on independent frames is well above, as
the decoder's texture boils with small input changes). Two stabilisers:

* :class:`TemporalBlend` (``stabilize``): a motion-gated running average of the
  output frames; still regions settle, moving regions and cuts pass unchanged,
  so motion is not smeared. This is what lowers flicker.
* :class:`StatsStabilizer` (``stats_momentum``): a running average of the
  content features' channel statistics, used instead of each frame's own in
  AdaIN (restarted at scene cuts), meant against colour pumping when large
  objects enter the frame; it barely changes the flicker number (measured in
  docs/video-and-datasets.md).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from adain.apps.files import read_masks as read_file_masks
from adain.atomic import atomic_path
from adain.color import PreserveColor, color_outputs, content_inputs
from adain.controls import Controls, feature_grid, target_features
from adain.device import memory_budget
from adain.errors import InputError, UsageError
from adain.geometry import resize_shorter, resized_shape
from adain.io import check_not_an_input
from adain.ops import StyleStats, mean_std, rebase_stats
from adain.stylizer import Stylizer
from adain.tiling import stylize_memory

# output suffix → (codec, pixel format)
OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    ".mp4": ("libx264", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".gif": ("gif", "pal8"),
    ".webp": ("libwebp_anim", "yuv420p"),
}
AUDIO_SUFFIXES = (".mp4", ".mov", ".mkv")
MOTION_THRESHOLD = 0.05  # input change (0..1 scale) at which the temporal blend stops keeping the past
SCENE_CUT = 2.0  # mean |μ_t − μ̄| / σ̄ over channels above this restarts the stabiliser


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        raise InputError("video needs PyAV: pip install av") from None
    return av


# ---------------------------------------------------------------- pure functions


def frame_difference(frames: Tensor) -> Tensor:
    """Mean absolute difference of consecutive frames: ``(N, 3, H, W)`` → ``(N − 1,)``."""
    return (frames[1:] - frames[:-1]).abs().flatten(1).mean(1)


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


def read_masks(files: list[Path] | None, index_map: Path | None, n_styles: int) -> Tensor | None:
    """Mask files (one per style, one size) or an index map → ``(K, H, W)`` in [0, 1], or ``None``
    (:func:`adain.apps.files.read_masks`, the checks of ``adain stylize``)."""
    read = read_file_masks(files, index_map, n_styles)
    return None if read is None else read.masks


# ---------------------------------------------------------------- flicker and stabiliser


class FlickerMeter:
    """Accumulates frame-to-frame change of input and output over a stream of batches."""

    def __init__(self) -> None:
        self.last: tuple[Tensor, Tensor] | None = None
        self.input_sum = self.output_sum = 0.0
        self.pairs = 0

    def update(self, inputs: Tensor, outputs: Tensor) -> None:
        """Add a batch of consecutive input and output frames, both ``(N, 3, H, W)``."""
        if self.last is not None:
            inputs, outputs = torch.cat([self.last[0], inputs]), torch.cat([self.last[1], outputs])
        self.input_sum += float(frame_difference(inputs).sum())
        self.output_sum += float(frame_difference(outputs).sum())
        self.pairs += inputs.shape[0] - 1
        self.last = inputs[-1:], outputs[-1:]

    @property
    def input_change(self) -> float:
        """Mean absolute difference of consecutive input frames (0 to 1 scale)."""
        return self.input_sum / max(self.pairs, 1)

    @property
    def output_change(self) -> float:
        """Mean absolute difference of consecutive output frames (0 to 1 scale)."""
        return self.output_sum / max(self.pairs, 1)

    @property
    def flicker(self) -> float:
        """Output change / input change (NaN for a still or one-frame input)."""
        return self.output_change / self.input_change if self.input_change > 0 else math.nan


class TemporalBlend:
    """Motion-gated running average of the output frames (the stabiliser of ``--stabilize``).

    Per pixel, ``keep = momentum · clamp(1 − d/threshold, 0, 1)`` where ``d`` is
    the input's absolute change since the previous frame (mean over RGB, 5×5
    box average), and ``out_t ← keep·out_{t−1} + (1 − keep)·out_t``. Still
    regions settle (the decoder's texture stops boiling); where the input
    moves, or at a cut, ``keep`` is 0 and the new frame passes unchanged, so
    motion is not smeared.
    """

    def __init__(self, momentum: float = 0.8, threshold: float = MOTION_THRESHOLD) -> None:
        if not 0.0 <= momentum < 1.0 or threshold <= 0:
            raise UsageError(f"stabiliser momentum must be in [0, 1) and threshold > 0, got {momentum}, {threshold}")
        self.momentum, self.threshold = momentum, threshold
        self.last: tuple[Tensor, Tensor] | None = None

    def __call__(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """Consecutive input and output frames ``(N, 3, H, W)`` → blended outputs ``(N, 3, H, W)``."""
        blended = []
        for x, y in zip(inputs, outputs):
            if self.last is not None:
                change = (x - self.last[0]).abs().mean(0, keepdim=True)[None]
                change = F.avg_pool2d(change, 5, stride=1, padding=2, count_include_pad=False)[0]
                keep = self.momentum * (1 - change / self.threshold).clamp(0, 1)
                y = keep * self.last[1] + (1 - keep) * y
            self.last = x, y
            blended.append(y)
        return torch.stack(blended)


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

    stats: StyleStats
    controls: Controls = field(default_factory=Controls)


def stylize_frames(stylizer: Stylizer, frames: Tensor, style: FrameStyle, stabilizer: StatsStabilizer | None = None) -> Tensor:
    """Stylize a batch of consecutive frames ``(N, 3, H, W)`` → ``(N, 3, H, W)`` in [0, 1].

    Without a stabiliser this is :meth:`Stylizer.stylize_batch`; with one, each
    frame is normalised with the running statistics (per mask region with masks).
    """
    c = style.controls
    if stabilizer is None:
        return stylizer.stylize_batch(frames, style.stats, c)
    c.check_styles(len(style.stats), (frames.shape[-2], frames.shape[-1]))
    feats = stylizer.encode(content_inputs(frames, c.preserve_color))
    k = len(style.stats)
    grid = None if c.masks is None else feature_grid(c.masks, (feats.shape[-2], feats.shape[-1])).to(feats)
    weights = c.style_weights(k)
    stats = style.stats.to(feats)
    targets = []
    for x in feats.split(1):
        if grid is None:
            local = mean_std(x)
        else:
            region = [mean_std(x, mask=grid[i : i + 1]) for i in range(k)]
            local = torch.cat([m for m, _ in region]), torch.cat([s for _, s in region])
        rebased = rebase_stats(stats, local, stabilizer.update(*local))
        targets.append(target_features(x, rebased.mean, rebased.std, alpha=c.alpha, weights=weights, masks=grid))
    out = stylizer.decode(torch.cat(targets), (frames.shape[-2], frames.shape[-1])).cpu()
    return color_outputs(out, frames, c.preserve_color)


# ---------------------------------------------------------------- reading and writing


@dataclass
class VideoInfo:
    """What the stylized video keeps from its input."""

    width: int
    height: int
    rate: Fraction
    frames: int
    rotation: int
    codec: str
    audio: str | None


def _open_input(path: Path):
    av = _av()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a video")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a readable video ({exc.strerror or type(exc).__name__})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.is_decoder:
        container.close()
        raise InputError(f"{path}: unknown video codec, or a truncated file (FFmpeg finds no decoder for its video stream)")
    stream.thread_type = "AUTO"
    return container


def _frames_error(path: Path, exc: Exception) -> InputError:
    return InputError(f"{path}: corrupt or unreadable video data ({getattr(exc, 'strerror', None) or type(exc).__name__})")


def _to_tensor(frame, size: tuple[int, int]) -> Tensor:
    """PyAV frame → ``(3, H, W)`` float32 RGB in [0, 1] (stored orientation) of ``size``: a stream that
    changes resolution keeps its first frame's size."""
    image = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).float().div_(255.0)
    if tuple(image.shape[-2:]) != size:
        image = F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0].clamp_(0, 1)
    return image


def _to_av_frame(image: Tensor, pix_fmt: str):
    """``(3, H, W)`` in [0, 1] → PyAV frame (GIF: PIL median-cut palette, no dither)."""
    av = _av()
    arr = image.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).contiguous().numpy()
    if pix_fmt != "pal8":
        return av.VideoFrame.from_ndarray(arr, format="rgb24")
    q = Image.fromarray(arr, "RGB").quantize(256, dither=Image.Dither.NONE)
    rgb = np.asarray(q.getpalette(), np.uint8).reshape(-1, 3)
    rgb = np.concatenate([rgb, np.zeros((256 - len(rgb), 3), np.uint8)])
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), rgb], axis=1)
    return av.VideoFrame.from_ndarray((np.asarray(q), argb), format="pal8")


def _loop_webp_forever(path: Path) -> None:
    """FFmpeg's WebP muxer writes a loop count of 1; set it to 0 (loop forever) in the ANIM chunk."""
    data = bytearray(path.read_bytes())
    i = data.find(b"ANIM", 12)
    if i >= 0:
        data[i + 12 : i + 14] = b"\x00\x00"
        path.write_bytes(bytes(data))


def _add_video_stream(out, codec: str, pix_fmt: str, size: tuple[int, int], info: VideoInfo, time_base: Fraction, crf: int):
    """The output's video stream: the input's rate, time base and rotation; ``size`` is ``(H, W)``."""
    stream = out.add_stream(codec, rate=info.rate)
    stream.height, stream.width = size
    stream.pix_fmt = pix_fmt
    stream.codec_context.time_base = time_base
    if codec == "libx264":
        stream.codec_context.options = {"crf": str(crf), "preset": "medium"}
    if info.rotation:
        stream.set_display_rotation(info.rotation)
    return stream


def probe(path: str | Path) -> VideoInfo:
    """Read a video's size, rate, frame count, rotation, codec and audio codec.

    Raises:
        InputError: missing, not a video, no video stream, unknown codec, corrupt.
    """
    path = Path(path)
    with _open_input(path) as container:
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except _av().error.FFmpegError as exc:
            raise _frames_error(path, exc) from None
        if first is None:
            raise InputError(f"{path}: the video stream has no frames")
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        return VideoInfo(first.width, first.height, Fraction(rate), stream.frames, first.rotation, stream.codec_context.name, audio)


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

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def _batches(container, path: Path, batch: int, max_frames: int, on_audio) -> Iterator[list]:
    """Decoded video frames in lists of ``batch``; audio packets go to ``on_audio`` as they are demuxed."""
    av = _av()
    video = container.streams.video[0]
    streams = [video] + ([container.streams.audio[0]] if on_audio and container.streams.audio else [])
    buffer, count = [], 0
    try:
        for packet in container.demux(*streams):
            if packet.stream.type == "audio":
                if packet.dts is not None:
                    on_audio(packet)
                continue
            for frame in packet.decode():
                buffer.append(frame)
                count += 1
                if len(buffer) == batch or count == max_frames:
                    yield buffer
                    buffer = []
                if count == max_frames:
                    return
    except av.error.FFmpegError as exc:
        raise _frames_error(path, exc) from None
    if buffer:
        yield buffer


def check_settings(dst: Path, *, batch: int, crf: int, codec: str | None) -> tuple[str, str]:
    """Check the output's format and the encoding options before any work; returns ``(codec, pixel format)``.

    Raises:
        InputError: an unknown output format or codec.
        UsageError: ``batch`` under 1, ``crf`` outside 0..51.
    """
    if batch < 1:
        raise UsageError(f"batch must be at least 1, got {batch}")
    if not 0 <= crf <= 51:
        raise UsageError(f"crf must be in 0..51 (0 lossless, 51 worst), got {crf}")
    suffix = dst.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputError(f"{dst}: unknown video format '{dst.suffix}' (use {', '.join(OUTPUT_FORMATS)})")
    codec_name, pix_fmt = OUTPUT_FORMATS[suffix]
    if codec:
        codec_name, pix_fmt = codec, "yuv420p"
    if codec_name not in _av().codecs_available:
        raise InputError(f"unknown video codec '{codec_name}' (not in PyAV's FFmpeg)")
    return codec_name, pix_fmt


def check_memory(src: Path, info: VideoInfo, *, size: int, batch: int) -> None:
    """Refuse frames that, ``batch`` at a time at shorter side ``size``, would not fit the memory budget."""
    h, w = resized_shape(info.height, info.width, size)
    need, have = stylize_memory(h, w) * batch, memory_budget()
    if need > have:
        raise InputError(f"{src}: {w}x{h} frames, {batch} at a time, need about {need / 2**30:.1f} GB of memory, more than the "
                         f"{have / 2**30:.1f} GB available to it: use a smaller --size or --batch")


def stylize_video(
    src: str | Path,
    dst: str | Path,
    styles: list[Tensor | StyleStats],
    *,
    stylizer: Stylizer | None = None,
    alpha: float = 1.0,
    weights: list[float] | None = None,
    masks: Tensor | None = None,
    preserve_color: PreserveColor | None = None,
    stabilize: float = 0.0,
    stats_momentum: float = 0.0,
    batch: int = 4,
    size: int = 0,
    crf: int = 18,
    codec: str | None = None,
    audio: bool = True,
    max_frames: int = 0,
    progress: bool = True,
) -> VideoResult:
    """Stylize every frame of a video and write it atomically.

    Args:
        src: input video (anything FFmpeg reads).
        dst: output; the suffix picks the format: ``.mp4``/``.mov``/``.mkv``
            (H.264, audio copied), ``.gif``, ``.webp`` (animated, no audio).
        styles: style images ``(3, H, W)``, encoded once (recoloured first
            with ``preserve_color="color"``, to the first batch of frames).
        stylizer: the networks (default: shipped decoder, pretrained encoder).
        alpha, weights, preserve_color: as in :meth:`Stylizer.stylize`.
        masks: ``(K, H, W)`` in [0, 1], one per style, drawn on the video as
            displayed (rotation applied); resized to the frames.
        stabilize: momentum of the motion-gated temporal blend of the output
            frames (:class:`TemporalBlend`; 0: off; 0.8 is a good start).
        stats_momentum: momentum of the running average of the content
            statistics (:class:`StatsStabilizer`; 0: off).
        batch: frames per forward pass.
        size: shorter side of the processed frames (0 keeps the input size).
        crf: H.264 quality (0 lossless … 51 worst).
        codec: override the video encoder (e.g. ``mpeg4``).
        audio: copy the first audio stream (mp4/mov/mkv only).
        max_frames: stop after this many frames (0: all).

    Returns:
        :class:`VideoResult` with frame count, time and flicker numbers.

    Raises:
        InputError: unreadable input, no video stream, unknown codec, unknown
            output format, audio that cannot be copied into the output, an output
            that is the input, frames that would not fit the memory budget.
        UsageError: ``batch`` or ``crf`` out of range.
    """
    src, dst = Path(src), Path(dst)
    controls = Controls(alpha=alpha, weights=weights, masks=masks, preserve_color=preserve_color)
    check_not_an_input(dst, {"video": src})
    codec_name, pix_fmt = check_settings(dst, batch=batch, crf=crf, codec=codec)
    info = probe(src)
    check_memory(src, info, size=size, batch=batch)
    av = _av()
    suffix = dst.suffix.lower()
    stylizer = stylizer or Stylizer()
    stabilizer = StatsStabilizer(stats_momentum) if stats_momentum > 0 else None
    blend = TemporalBlend(stabilize) if stabilize > 0 else None
    meter = FlickerMeter()
    even = pix_fmt.startswith("yuv420")
    frames_done, started = 0, time.perf_counter()
    total = min(info.frames or 0, max_frames or info.frames or 0) or None
    with atomic_path(dst) as tmp:
        try:
            with _open_input(src) as inp, av.open(str(tmp), "w") as out:
                in_video = inp.streams.video[0]
                copy_audio = audio and suffix in AUDIO_SUFFIXES and bool(inp.streams.audio)
                out_audio = None
                if copy_audio:
                    try:
                        out_audio = out.add_stream_from_template(inp.streams.audio[0])
                    except (av.error.FFmpegError, ValueError) as exc:
                        raise InputError(f"{src}: its audio cannot be copied into {suffix} ({exc}); try --no-audio") from None

                pending: list = []  # audio demuxed before the video stream exists (the header is written at the first mux)

                def mux_audio(packet) -> None:
                    packet.stream = out_audio
                    if out_video is None:
                        pending.append(packet)
                    else:
                        out.mux(packet)

                out_video = None
                style: FrameStyle | None = None
                first_pts = None
                from tqdm import tqdm

                bar = tqdm(total=total, unit="frame", desc=src.name, disable=not progress, leave=False)
                for frames in _batches(inp, src, batch, max_frames, mux_audio if copy_audio else None):
                    images = fit_frames(torch.stack([_to_tensor(f, (info.height, info.width)) for f in frames]), size, even)
                    if style is None:  # set up on the first batch: its frames are the colour reference
                        h, w = images.shape[-2:]
                        reference = images.permute(1, 0, 2, 3).reshape(3, -1, w)
                        frame_masks = None if masks is None else masks_for_frames(masks, info.rotation, (h, w))
                        stats = stylizer.style_stats(list(styles), preserve_color=controls.preserve_color, reference=reference)
                        style = FrameStyle(stats, dataclasses.replace(controls, masks=frame_masks))
                        out_video = _add_video_stream(out, codec_name, pix_fmt, (h, w), info, in_video.time_base, crf)
                        for packet in pending:
                            out.mux(packet)
                    styled = stylize_frames(stylizer, images, style, stabilizer)
                    if blend is not None:
                        styled = blend(images, styled)
                    meter.update(images, styled)
                    for source, image in zip(frames, styled):
                        frame = _to_av_frame(image, pix_fmt)
                        if first_pts is None:
                            first_pts = source.pts or 0
                        frame.pts = source.pts - first_pts if source.pts is not None else round(frames_done / (info.rate * in_video.time_base))
                        frame.time_base = in_video.time_base
                        frames_done += 1
                        for packet in out_video.encode(frame):
                            out.mux(packet)
                    bar.update(len(frames))
                    bar.set_postfix(fps=f"{frames_done / (time.perf_counter() - started):.2f}")
                bar.close()
                if out_video is None:
                    raise InputError(f"{src}: the video stream has no frames")
                for packet in out_video.encode():
                    out.mux(packet)
            if suffix == ".webp":
                _loop_webp_forever(tmp)
        except av.error.FFmpegError as exc:
            raise InputError(f"{dst}: cannot write the video ({exc.strerror or type(exc).__name__})") from None
    return VideoResult(
        dst, frames_done, time.perf_counter() - started, meter.input_change, meter.output_change, meter.flicker,
        stabilizer.cuts if stabilizer else 0,
    )
