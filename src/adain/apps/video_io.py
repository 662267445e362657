"""Reading and writing videos with PyAV (FFmpeg in its wheels).

* :func:`probe`: size, rate, frame count, rotation, codecs of a video.
* :class:`VideoReader`: decoded frames in batches, the first audio stream's
  packets handed on as they are demuxed.
* :class:`VideoWriter`: frames with the input's time stamps, rate and rotation,
  audio packets copied unchanged (mp4/mov/mkv), GIF and animated WebP, with the
  record of how the video was made (:mod:`adain.io.provenance`); written to a
  hidden temp file next to the output and renamed at the end, so a failure or
  Ctrl-C leaves nothing.
* :func:`describe_video`: what ``adain info`` shows of a video.

Frames are converted to RGB by FFmpeg (no BGR mix-up) and handed over as
``(N, 3, H, W)`` float tensors in [0, 1], in the stored orientation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from adain.errors import InputError
from adain.io.atomic import atomic_path
from adain.io.provenance import gif_with_comment, parse_record, record_text, to_xmp, webp_with_xmp

# output suffix → (codec, pixel format)
OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    ".mp4": ("libx264", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".gif": ("gif", "pal8"),
    ".webp": ("libwebp_anim", "yuv420p"),
}
AUDIO_SUFFIXES = (".mp4", ".mov", ".mkv")  # containers: audio copied, the record in their comment tag


def _av() -> Any:
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        raise InputError("video needs PyAV: pip install av") from None
    return av


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


def _open_input(path: Path) -> Any:
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


def describe_video(path: str | Path) -> dict:
    """What ``adain info`` shows of a video: container, size, rate, frames, codecs, and the record of how
    adain made it (the container's ``comment`` tag; ``None`` if there is none).

    Raises:
        InputError: missing, not a video (a still image), no video stream.
    """
    path = Path(path)
    with _open_input(path) as container:
        if container.format.name == "image2" or container.format.name.endswith("_pipe"):  # FFmpeg's still-image readers
            raise InputError(f"{path}: a still image, not a video")
        stream = container.streams.video[0]
        tags = {k.lower(): v for k, v in container.metadata.items()}
        rate = stream.average_rate or stream.guessed_rate
        return {
            "file": str(path), "format": container.format.name, "size": [stream.codec_context.width, stream.codec_context.height],
            "rate": str(rate) if rate else None, "frames": stream.frames or None,
            "seconds": round(float(container.duration) / 1e6, 3) if container.duration else None,
            "codec": stream.codec_context.name, "audio": container.streams.audio[0].codec_context.name if container.streams.audio else None,
            "made_by": parse_record(tags.get("comment")),
        }


def frames_to_tensor(frames: list[Any], size: tuple[int, int] | None = None) -> Tensor:
    """PyAV frames → ``(N, 3, H, W)`` float32 RGB in [0, 1] (stored orientation).

    ``size`` ``(H, W)``: frames of another size (a stream that changes resolution) are resized to it.
    """
    images = [torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1).float().div_(255.0) for f in frames]
    size = size or (images[0].shape[-2], images[0].shape[-1])
    return torch.stack([image if tuple(image.shape[-2:]) == size else
                        F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0].clamp_(0, 1)
                        for image in images])


class VideoReader:
    """An open input video (a context manager); :meth:`batches` decodes it.

    Raises:
        InputError: missing, not a video, no video stream, unknown codec.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.container = _open_input(self.path)
        self.video = self.container.streams.video[0]
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()

    def batches(self, batch: int, max_frames: int = 0, on_audio: Callable[[Any], None] | None = None) -> Iterator[list[Any]]:
        """Decoded frames in lists of ``batch`` (the last may be shorter), at most ``max_frames`` (0: all).

        With ``on_audio``, the first audio stream's packets go to it as they are demuxed.

        Raises:
            InputError: corrupt data.
        """
        av = _av()
        streams = [self.video] + ([self.audio] if on_audio and self.audio is not None else [])
        buffer: list[Any] = []
        count = 0
        try:
            for packet in self.container.demux(*streams):
                if packet.stream.type == "audio":
                    if on_audio is not None and packet.dts is not None:
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
            raise _frames_error(self.path, exc) from None
        if buffer:
            yield buffer


def read_frames(path: str | Path, batch: int = 8, max_frames: int = 0) -> Iterator[Tensor]:
    """The frames of a video as ``(N, 3, H, W)`` tensors in [0, 1], ``batch`` at a time."""
    with VideoReader(path) as reader:
        for frames in reader.batches(batch, max_frames):
            yield frames_to_tensor(frames)


def output_format(dst: Path, codec: str | None = None) -> tuple[str, str]:
    """The encoder and pixel format for an output file: ``(codec, pix_fmt)``.

    Raises:
        InputError: an unknown suffix, or a codec PyAV's FFmpeg does not have.
    """
    suffix = dst.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputError(f"{dst}: unknown video format '{dst.suffix}' (use {', '.join(OUTPUT_FORMATS)})")
    codec_name, pix_fmt = (codec, "yuv420p") if codec else OUTPUT_FORMATS[suffix]
    if codec_name not in _av().codecs_available:
        raise InputError(f"unknown video codec '{codec_name}' (not in PyAV's FFmpeg)")
    return codec_name, pix_fmt


def _to_av_frame(image: Tensor, pix_fmt: str) -> Any:
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


def _loop_webp_forever(data: bytes) -> bytes:
    """FFmpeg's WebP muxer writes a loop count of 1; set it to 0 (loop forever) in the ANIM chunk."""
    i = data.find(b"ANIM", 12)
    return data if i < 0 else data[: i + 12] + b"\x00\x00" + data[i + 14 :]


def _finish_image_file(path: Path, suffix: str, record: dict | None, size: tuple[int, int]) -> None:
    """What FFmpeg's GIF and WebP muxers do not write into ``path`` (a ``suffix`` file of frames ``size`` ``(W, H)``):
    WebP's endless loop; the record (a GIF comment, a WebP XMP chunk)."""
    data = path.read_bytes()
    if suffix == ".webp":
        data = _loop_webp_forever(data)
        if record is not None:
            data = webp_with_xmp(data, to_xmp(record), size)
    elif suffix == ".gif" and record is not None:
        data = gif_with_comment(data, record_text(record, ascii=True))
    path.write_bytes(data)


class VideoWriter:
    """Writes a video atomically (a context manager): a hidden temp file next to ``dst``, renamed on success.

    The video stream is created with the first frames (their size), with the
    input's rate, time base and rotation; frames keep their source frames' time
    stamps (shifted to start at 0). Audio packets given to :meth:`mux_audio`
    before that are held back, since the header is written at the first mux.

    Args:
        dst: output path; the suffix picks the format (:data:`OUTPUT_FORMATS`).
        info: the input's :func:`probe`.
        time_base: the input video stream's time base.
        codec: override the encoder (e.g. ``mpeg4``).
        crf: H.264 quality (0 lossless … 51 worst).
        audio: the input's audio stream to copy (mp4/mov/mkv only), or ``None``.
        record: how the video was made (:mod:`adain.io.provenance`): the container's ``comment``
            tag (mp4/mov/mkv), a GIF comment, a WebP XMP chunk; ``None``: none. The attribute
            may be set until the first frames are written.

    Raises:
        InputError: unknown format or codec, audio that cannot go into this container,
            or FFmpeg failing to write.
    """

    def __init__(self, dst: str | Path, info: VideoInfo, time_base: Fraction, *, codec: str | None = None,
                 crf: int = 18, audio: Any = None, record: dict | None = None) -> None:
        av = _av()
        self.dst = Path(dst)
        self.codec, self.pix_fmt = output_format(self.dst, codec)
        self.info, self.time_base, self.crf, self.record = info, time_base, crf, record
        self._file = ExitStack()  # the temp file: renamed over dst when closed, removed on an error
        self.tmp = self._file.enter_context(atomic_path(self.dst))
        self.out = av.open(str(self.tmp), "w")
        self.video: Any = None
        self.audio: Any = None
        self.pending: list[Any] = []
        self.frames = 0
        self.first_pts: int | None = None
        self.last_pts: int | None = None
        if audio is not None and self.dst.suffix.lower() in AUDIO_SUFFIXES:
            try:
                self.audio = self.out.add_stream_from_template(audio)
            except (av.error.FFmpegError, ValueError) as exc:
                self._abort()
                raise InputError(f"{audio.container.name}: its audio cannot be copied into {self.dst.suffix} ({exc}); try --no-audio") from None

    @property
    def even(self) -> bool:
        """Whether frames must have even sides (4:2:0 chroma)."""
        return self.pix_fmt.startswith("yuv420")

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._finish()
        else:
            self._abort()

    def _mux(self, packets: Iterable[Any]) -> None:
        try:
            for packet in packets:
                self.out.mux(packet)
        except _av().error.FFmpegError as exc:
            raise InputError(f"{self.dst}: cannot write the video ({exc.strerror or type(exc).__name__})") from None

    def mux_audio(self, packet: Any) -> None:
        """Copy one demuxed audio packet (ignored when the output takes no audio)."""
        if self.audio is None:
            return
        packet.stream = self.audio
        if self.video is None:
            self.pending.append(packet)
        else:
            self._mux([packet])

    def _open_video(self, height: int, width: int) -> None:
        if self.record is not None and self.dst.suffix.lower() in AUDIO_SUFFIXES:
            self.out.metadata["comment"] = record_text(self.record)  # written with the header, at the first packet
        stream = self.out.add_stream(self.codec, rate=self.info.rate)
        stream.height, stream.width = height, width
        stream.pix_fmt = self.pix_fmt
        stream.codec_context.time_base = self.time_base
        if self.codec == "libx264":
            stream.codec_context.options = {"crf": str(self.crf), "preset": "medium"}
        if self.info.rotation:
            stream.set_display_rotation(self.info.rotation)
        self.video = stream
        self._mux(self.pending)
        self.pending = []

    def write(self, images: Tensor, sources: list[Any]) -> None:
        """Encode frames ``(N, 3, H, W)`` in [0, 1] with the time stamps of their N source frames (made strictly
        increasing: a stream spliced from pieces may go back in time, which no container can store)."""
        if self.video is None:
            self._open_video(*images.shape[-2:])
        for source, image in zip(sources, images, strict=True):
            frame = _to_av_frame(image, self.pix_fmt)
            if self.first_pts is None:
                self.first_pts = source.pts or 0
            if source.pts is not None:
                frame.pts = source.pts - self.first_pts
            else:
                frame.pts = round(self.frames / (self.info.rate * self.time_base))
            if self.last_pts is not None and frame.pts <= self.last_pts:  # time stamps that go back (spliced streams): one frame on
                frame.pts = self.last_pts + max(1, round(1 / (self.info.rate * self.time_base)))
            self.last_pts = frame.pts
            frame.time_base = self.time_base
            self.frames += 1
            self._mux(self.video.encode(frame))

    def _finish(self) -> None:
        av = _av()
        try:
            if self.video is None:
                raise InputError(f"{self.dst}: no frames to write")
            self._mux(self.video.encode())
            self.out.close()
            if self.dst.suffix.lower() in (".gif", ".webp"):
                _finish_image_file(self.tmp, self.dst.suffix.lower(), self.record, (self.video.width, self.video.height))
            self._file.close()
        except av.error.FFmpegError as exc:
            self._abort()
            raise InputError(f"{self.dst}: cannot write the video ({exc.strerror or type(exc).__name__})") from None
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        try:
            self.out.close()
        except Exception:  # noqa: BLE001 - the temp file goes anyway
            pass
        self._file.__exit__(InputError, InputError("aborted"), None)
