"""Video: tiny synthetic clips made with PyAV; timing, size, rotation and audio kept; flicker and stabiliser; bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from adain.apps.temporal import TemporalBlend
from adain.apps.video import (
    FrameStyle,
    StatsStabilizer,
    VideoOptions,
    masks_for_frames,
    stylize_frames,
    stylize_video,
)
from adain.apps.video_io import probe
from adain.apps.video_metrics import FlickerMeter, frame_difference
from adain.cli import main
from adain.controls import Controls
from adain.io.images import InputError
from adain.stylizer import Stylizer
from helpers import RATE, make_video, read_frames

HOKUSAI = str(Path(__file__).resolve().parents[1] / "src" / "adain" / "examples" / "style" / "hokusai.jpg")
STYLE = [torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(7))]


@pytest.fixture(scope="module")
def stylizer(lively_stylizer) -> Stylizer:
    return lively_stylizer


def audio_payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def test_mp4_keeps_timing_size_rotation_and_audio(tmp_path: Path, stylizer: Stylizer):
    src = make_video(tmp_path / "in.mp4", size=(50, 34), rotation=90)
    result = stylize_video(src, tmp_path / "out.mp4", STYLE, VideoOptions(batch=4), stylizer=stylizer, progress=False)
    info_in, info_out = probe(src), probe(tmp_path / "out.mp4")
    assert result.frames == info_out.frames == 6
    assert (info_out.width, info_out.height) == (50, 34) and info_out.rotation == 90 and info_out.rate == RATE
    frames_in, _ = read_frames(src)
    frames_out, n_audio = read_frames(tmp_path / "out.mp4")
    assert [f.time for f in frames_out] == pytest.approx([f.time for f in frames_in])
    assert n_audio == 1 and audio_payloads(tmp_path / "out.mp4") == audio_payloads(src), "audio must be copied unchanged"
    assert info_in.audio == info_out.audio == "aac"
    assert 0 < result.output_change and result.flicker == pytest.approx(result.output_change / result.input_change)
    out = torch.from_numpy(frames_out[3].to_ndarray(format="rgb24")).float()
    assert float(out.std()) > 3, "the stylized frames should not be flat"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp file left behind"


def test_odd_size_without_audio_and_max_frames(tmp_path: Path, stylizer: Stylizer):
    src = make_video(tmp_path / "in.mkv", size=(45, 31), audio=False, codec="mpeg4", frames=5)
    result = stylize_video(src, tmp_path / "out.mp4", STYLE, VideoOptions(batch=2, max_frames=3), stylizer=stylizer, progress=False)
    info = probe(tmp_path / "out.mp4")
    assert (info.width, info.height, info.frames, info.audio) == (44, 30, 3, None)
    assert result.frames == 3


def test_gif_and_webp(tmp_path: Path, stylizer: Stylizer):
    src = make_video(tmp_path / "in.mp4", frames=4)
    stylize_video(src, tmp_path / "out.gif", STYLE, VideoOptions(size=24), stylizer=stylizer, progress=False)
    stylize_video(src, tmp_path / "out.webp", STYLE, stylizer=stylizer, progress=False)
    with Image.open(tmp_path / "out.gif") as gif:
        assert gif.n_frames == 4 and gif.info["duration"] in (80, 90)  # 1/12 s in GIF's 10 ms steps
        assert min(gif.size) == 24
    with Image.open(tmp_path / "out.webp") as webp:
        assert webp.n_frames == 4 and webp.size == (48, 32) and webp.info["loop"] == 0


def test_controls_masks_and_stabiliser(tmp_path: Path, stylizer: Stylizer):
    """Masks drawn on the displayed (rotated) video; stabiliser on; preserve colour."""
    src = make_video(tmp_path / "in.mp4", size=(48, 32), rotation=90, audio=False)
    masks = torch.zeros(2, 48, 32)  # displayed: 32 wide, 48 high
    masks[0, :24], masks[1, 24:] = 1, 1
    styles = [STYLE[0], STYLE[0].flip(0)]
    opts = VideoOptions(Controls(masks=masks, preserve_color="color", alpha=0.8), temporal="blend", stats_momentum=0.9)
    result = stylize_video(src, tmp_path / "out.mp4", styles, opts, stylizer=stylizer, progress=False)
    assert result.frames == 6 and probe(tmp_path / "out.mp4").rotation == 90


def test_flow_strategy_with_every_control_keeps_timing_and_audio(tmp_path: Path, stylizer: Stylizer):
    """--temporal flow with masks on a rotated video, two styles, α and colour preservation; audio and time stamps kept."""
    src = make_video(tmp_path / "in.mp4", size=(48, 32), rotation=90, frames=7)
    masks = torch.zeros(2, 48, 32)
    masks[0, :24], masks[1, 24:] = 1, 1
    styles = [STYLE[0], STYLE[0].flip(0)]
    out = tmp_path / "out.mp4"
    for color in ("color", "luminance"):
        opts = VideoOptions(Controls(masks=masks, preserve_color=color, alpha=0.8), temporal="flow", momentum=0.7, batch=3)  # type: ignore[arg-type]
        result = stylize_video(src, out, styles, opts, stylizer=stylizer, progress=False)
        assert result.frames == 7 and probe(out).rotation == 90
    assert [f.time for f in read_frames(out)[0]] == pytest.approx([f.time for f in read_frames(src)[0]])
    assert audio_payloads(out) == audio_payloads(src)
    for method in ("wct", "efdm"):  # the transfer methods go through the same Stylizer
        opts = VideoOptions(Controls(method=method, weights=[1, 3]), temporal="flow")  # type: ignore[arg-type]
        assert stylize_video(src, out, styles, opts, stylizer=stylizer, progress=False).frames == 7
    with pytest.raises(ValueError, match="temporal must be one of"):
        stylize_video(src, out, STYLE, VideoOptions(temporal="smooth"), stylizer=stylizer, progress=False)


def test_stabilize_is_an_alias_of_temporal_blend(tmp_path: Path, capsys, monkeypatch):
    src = make_video(tmp_path / "in.mp4", frames=3, size=(32, 32), audio=False)
    seen = []
    monkeypatch.setattr("adain.apps.video.stylize_video", lambda *a, **k: seen.append((a[3].temporal, a[3].momentum)) or _result())
    monkeypatch.setattr("adain.cli.video.stylizer_from_args", lambda args: None)  # the networks are not needed here
    for args in (["--stabilize"], ["--stabilize", "0.6"], ["--temporal", "blend", "--momentum", "0.6"], ["--temporal", "flow"], []):
        assert main(["video", str(src), str(tmp_path / "o.mp4"), "--style", HOKUSAI, *args]) == 0
    assert seen == [("blend", 0.8), ("blend", 0.6), ("blend", 0.6), ("flow", None), ("none", None)]
    capsys.readouterr()
    assert main(["video", str(src), str(tmp_path / "o.mp4"), "--style", HOKUSAI, "--stabilize", "--temporal", "flow"]) == 2
    assert main(["video", str(src), str(tmp_path / "o.mp4"), "--style", HOKUSAI, "--temporal", "flow", "--momentum", "1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--stabilize" in err[0] and "momentum" in err[1]


def _result():
    from adain.apps.video import VideoResult

    return VideoResult(Path("o.mp4"), 3, 1.0, 0.1, 0.1, 1.0, 0)


def test_masks_follow_the_rotation():
    display = torch.zeros(1, 6, 4)
    display[0, 0, 0] = 1  # top-left of the displayed picture
    stored = masks_for_frames(display, rotation=90, size=(4, 6))
    # the displayed picture is the stored one turned 90° counter-clockwise: its top-left was the stored top-right
    assert stored.shape == (1, 4, 6) and float(stored[0, 0, -1]) == 1 and float(stored.sum()) == 1
    assert torch.equal(masks_for_frames(display, 0, (6, 4)), display)


def test_flicker_meter_over_batches():
    frames = torch.rand(7, 3, 4, 5)
    out = frames * 0.5
    meter = FlickerMeter()
    for chunk_in, chunk_out in zip(frames.split(3), out.split(3)):
        meter.update(chunk_in, chunk_out)
    assert meter.input_change == pytest.approx(float(frame_difference(frames).mean()), rel=1e-6)
    assert meter.flicker == pytest.approx(0.5, rel=1e-5)


def test_stabiliser_smooths_and_restarts_at_cuts():
    stab = StatsStabilizer(0.9)
    gen = torch.Generator().manual_seed(0)
    means = [torch.ones(1, 4, 1, 1) + 0.1 * torch.randn(1, 4, 1, 1, generator=gen) for _ in range(30)]
    std = torch.ones(1, 4, 1, 1)
    smoothed = [stab.update(m, std)[0] for m in means]
    assert torch.stack(smoothed[10:]).std(0).mean() < 0.5 * torch.stack(means[10:]).std(0).mean()
    assert stab.cuts == 0
    cut = stab.update(torch.full((1, 4, 1, 1), 9.0), std)[0]
    assert stab.cuts == 1 and torch.equal(cut, torch.full((1, 4, 1, 1), 9.0))
    with pytest.raises(ValueError):
        StatsStabilizer(1.0)


def test_stats_stabiliser_off_equals_plain_batches(stylizer: Stylizer):
    """Momentum 0 passes each frame's own statistics as ``content_stats`` and must give :meth:`Stylizer.stylize_batch`'s frames."""
    gen = torch.Generator().manual_seed(3)
    frames = (torch.rand(1, 3, 32, 40, generator=gen) * (1 + 0.3 * torch.rand(4, 1, 1, 1, generator=gen))).clamp(0, 1)
    masks = torch.zeros(2, 32, 40)
    masks[0, :, :20], masks[1, :, 20:] = 1, 1
    for style in (FrameStyle(stylizer.style_stats(STYLE), Controls(alpha=0.7)),
                  FrameStyle(stylizer.style_stats(STYLE * 2), Controls(masks=masks))):
        plain = stylize_frames(stylizer, frames, style)
        torch.testing.assert_close(stylize_frames(stylizer, frames, style, StatsStabilizer(0.0)), plain, rtol=0, atol=1e-4)


def test_temporal_blend_settles_still_regions_and_passes_motion():
    gen = torch.Generator().manual_seed(0)
    inputs = torch.full((6, 3, 24, 24), 0.5)
    inputs[:, :, :, 12:] = torch.rand(6, 3, 24, 12, generator=gen)  # right half changes a lot: motion
    outputs = torch.rand(6, 3, 24, 24, generator=gen)  # the decoder's boiling texture
    blend = TemporalBlend(0.8)
    blended = torch.cat([blend(i, o) for i, o in zip(inputs.split(4), outputs.split(4))])
    still, moving = (slice(None), slice(None), slice(None), slice(0, 8)), (slice(None), slice(None), slice(None), slice(16, None))
    raw_change, new_change = frame_difference(outputs[still]).mean(), frame_difference(blended[still]).mean()
    assert new_change < 0.5 * raw_change, "still regions should settle"
    torch.testing.assert_close(blended[moving], outputs[moving])  # moving regions are not smeared
    torch.testing.assert_close(blended[0], outputs[0])


# ---------------------------------------------------------------- bad input


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        sound = out.add_stream("aac", rate=8000)
        for k in range(4):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            af.sample_rate, af.pts = 8000, k * 1024
            for packet in sound.encode(af):
                out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    return path


def _junk(path: Path) -> Path:
    path.write_bytes(b"\x00" * 64 + b"not a video" * 40)
    return path


def _unknown_codec(tmp_path: Path) -> Path:
    """A Matroska file whose codec ID names no codec FFmpeg knows."""
    src = make_video(tmp_path / "known.mkv", codec="mpeg4", audio=False, frames=2)
    data = src.read_bytes()
    assert data.count(b"V_MPEG4/ISO/ASP") == 1
    path = tmp_path / "unknown.mkv"
    path.write_bytes(data.replace(b"V_MPEG4/ISO/ASP", b"V_XXXXX/ISO/ASP"))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: _audio_only(d / "sound.m4a"), "has no video stream"),
        (lambda d: d / "missing.mp4", "no such file"),
        (lambda d: _junk(d / "junk.mp4"), "not a readable video"),
        (_unknown_codec, "unknown video codec"),
    ],
)
def test_bad_input_one_line_error_exit_2(tmp_path: Path, capsys, make, message: str):
    src = make(tmp_path)
    out = tmp_path / "out" / "x.mp4"
    assert main(["video", str(src), str(out), "--style", HOKUSAI]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("adain video: error: ") and message in err and src.name in err and "\n" not in err
    assert not out.exists() and not (out.parent.exists() and list(out.parent.iterdir()))


def test_bad_output_format_and_codec(tmp_path: Path, stylizer: Stylizer):
    src = make_video(tmp_path / "in.mp4", frames=2, audio=False)
    with pytest.raises(InputError, match="unknown video format"):
        stylize_video(src, tmp_path / "out.avi", STYLE, stylizer=stylizer, progress=False)
    with pytest.raises(InputError, match="unknown video codec 'nope'"):
        stylize_video(src, tmp_path / "out.mp4", STYLE, VideoOptions(codec="nope"), stylizer=stylizer, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_bundled_style_name_with_wct_is_its_painting(tmp_path: Path, monkeypatch):
    src = make_video(tmp_path / "in.mp4", frames=2, size=(32, 32), audio=False)
    seen = []
    monkeypatch.setattr("adain.apps.video.stylize_video", lambda *a, **k: seen.append((a[2], a[3].controls.method)) or _result())
    monkeypatch.setattr("adain.cli.video.stylizer_from_args", lambda args: None)  # the networks are not needed here
    assert main(["video", str(src), str(tmp_path / "o.mp4"), "--style", "hokusai", "--method", "wct"]) == 0
    (styles, method), = seen
    assert method == "wct" and isinstance(styles[0], torch.Tensor) and styles[0].shape[0] == 3  # the painting, not statistics


def test_cli_masks_are_drawn_as_displayed_at_any_size_and_one_fewer(tmp_path: Path, capsys, monkeypatch):
    """``adain video --mask`` follows the rule of ``adain stylize`` on the video as displayed (here turned 90°): one mask
    fewer than styles, at half the size, is accepted; a mask of the stored frames' shape is refused."""
    src = make_video(tmp_path / "in.mp4", frames=2, size=(48, 32), audio=False, rotation=90)
    seen = []
    monkeypatch.setattr("adain.apps.video.stylize_video", lambda *a, **k: seen.append(a[3].controls.masks) or _result())
    monkeypatch.setattr("adain.cli.video.stylizer_from_args", lambda args: None)  # the networks are not needed here
    top = np.zeros((24, 16), np.uint8)  # half of the 32x48 the video shows
    top[:12] = 255
    Image.fromarray(top).save(tmp_path / "top.png")
    Image.fromarray(np.full((32, 48), 255, np.uint8)).save(tmp_path / "stored.png")
    args = ["video", str(src), str(tmp_path / "o.mp4"), "--style", HOKUSAI, HOKUSAI, "--mask"]
    assert main([*args, str(tmp_path / "top.png")]) == 0
    (masks,) = seen
    assert masks.shape == (2, 48, 32)  # as displayed; style 1 takes the rest
    torch.testing.assert_close(masks.sum(0), torch.ones(48, 32))
    assert float(masks[1, :20].min()) == 1 and float(masks[1, 28:].max()) == 0
    capsys.readouterr()
    assert main([*args, str(tmp_path / "stored.png"), str(tmp_path / "top.png")]) == 2
    assert "stored.png: 48x32 does not have the content's aspect ratio (32x48)" in capsys.readouterr().err


def test_cli_smoke_real_weights(tmp_path: Path, capsys):
    """The shipped networks through the CLI on a tiny clip: one line with frames/s and flicker."""
    src = make_video(tmp_path / "in.mp4", frames=3, size=(64, 48))
    out = tmp_path / "out.mp4"
    assert main(["video", str(src), str(out), "--style", HOKUSAI, "--style-size", "64",
                 "--stabilize"]) == 0
    line = capsys.readouterr().out
    assert "3 frames" in line and "frames/s" in line and "flicker" in line
    assert probe(out).frames == 3
    assert main(["info", str(out)]) == 0  # the record of how it was made, as for pictures
    shown = capsys.readouterr().out
    digest = hashlib.sha256(Path(HOKUSAI).read_bytes()).hexdigest()
    assert f'styles: [{{"name": "hokusai.jpg", "sha256": "{digest}", "weight": 1.0}}]' in shown
    assert "temporal: blend" in shown and "momentum: 0.8" in shown and "style_size: 64" in shown and "software: adain" in shown


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".gif", ".webp"])
def test_outputs_record_how_they_were_made(tmp_path: Path, stylizer: Stylizer, suffix: str, capsys):
    """The record of adain.io.provenance in the container (mp4/mkv: comment tag; GIF: comment; WebP: XMP);
    the files stay what they were (frames, loop)."""
    src = make_video(tmp_path / "in.mp4", frames=4, audio=False)
    out = tmp_path / f"out{suffix}"
    styles = [STYLE[0], STYLE[0].flip(-1)]
    names = [{"name": "a.png", "sha256": "a" * 64}, {"name": "b.png", "sha256": "b" * 64}]
    opts = VideoOptions(Controls(weights=[3, 1], alpha=0.7, preserve_color="luminance"), temporal="blend", momentum=0.5, style_size=256)
    stylize_video(src, out, styles, opts, stylizer=stylizer, sources=names, progress=False)
    assert main(["info", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]["made_by"]
    assert record["styles"] == [{**names[0], "weight": 0.75}, {**names[1], "weight": 0.25}]
    assert (record["alpha"], record["preserve_color"], record["method"], record["temporal"], record["momentum"]) == (0.7, "luminance", "adain", "blend", 0.5)
    assert record["content"]["name"] == "in.mp4" and record["content"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert record["output_size"] == [48, 32] and record["style_size"] == 256 and record["software"].startswith("adain ")
    assert len(record["decoder"]) == 16 and record["encoder"].startswith("vgg19-relu4_1:")
    if suffix in (".gif", ".webp"):
        with Image.open(out) as img:
            assert img.n_frames == 4 and img.info["loop"] == 0
    else:
        assert probe(out).frames in (0, 4)


def test_methods_and_their_limits(tmp_path: Path, stylizer: Stylizer):
    src = make_video(tmp_path / "in.mp4", size=(48, 32), audio=False, frames=3)
    plain = stylize_video(src, tmp_path / "adain.webp", STYLE, stylizer=stylizer, progress=False)
    wct = stylize_video(src, tmp_path / "wct.webp", STYLE, VideoOptions(Controls(method="wct")), stylizer=stylizer, progress=False)
    assert plain.frames == wct.frames == 3
    with Image.open(tmp_path / "adain.webp") as a, Image.open(tmp_path / "wct.webp") as b:
        assert np.asarray(a.convert("RGB")).tolist() != np.asarray(b.convert("RGB")).tolist()
    with pytest.raises(ValueError, match="does not work with method"):
        stylize_video(src, tmp_path / "x.mp4", STYLE, VideoOptions(Controls(method="efdm"), stats_momentum=0.9), stylizer=stylizer, progress=False)
    with pytest.raises(ValueError, match="unknown method"):
        stylize_video(src, tmp_path / "x.mp4", STYLE, VideoOptions(Controls(method="gatys")), stylizer=stylizer, progress=False)  # type: ignore[arg-type]
    assert not (tmp_path / "x.mp4").exists()
