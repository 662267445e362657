"""Optical flow, warping, the occlusion check, the warping-error metric and flow-guided blending, on clips with known motion."""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch
import torch.nn.functional as F

from adain.apps.flow import FlowEstimator, flow_to_previous, gray_u8, inside, occlusion, warp
from adain.apps.temporal import FLOW_SLACK, PATCH_SHARE, FlowBlend, TemporalBlend, fragmented, gradient, least_used
from adain.apps.video_io import read_frames
from adain.apps.video_metrics import WarpMeter, frame_style_loss, measure_video, pair_warp_error
from adain.cli import main
from adain.errors import InputError

W, H, STEP = 96, 64, 2  # the pan moves the picture STEP px to the left per frame


def scene(width: int = 160, height: int = H, seed: int = 0) -> torch.Tensor:
    """A still picture with texture at several scales ``(3, height, width)`` in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(1, 3, height // 8, width // 8, generator=gen), size=(height, width), mode="bicubic")
    fine = F.interpolate(torch.rand(1, 3, height // 2, width // 2, generator=gen), size=(height, width), mode="bilinear")
    return (0.6 * coarse + 0.4 * fine)[0].clamp(0, 1)


def pan(frames: int = 8, seed: int = 0) -> torch.Tensor:
    """A camera pan over a still picture: ``(frames, 3, H, W)``, frame t is the window at x = STEP·t."""
    still = scene(seed=seed)
    return torch.stack([still[:, :, STEP * t : STEP * t + W] for t in range(frames)])


def write_clip(path: Path, frames: torch.Tensor) -> Path:
    """Frames ``(N, 3, H, W)`` → near-lossless H.264 at 12 fps."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(12))
        stream.height, stream.width = frames.shape[-2:]
        stream.pix_fmt = "yuv444p"
        stream.codec_context.options = {"crf": "0"}
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f.mul(255).round().byte().permute(1, 2, 0).numpy(), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def boiling(frames: torch.Tensor, amount: float = 0.15, seed: int = 1) -> torch.Tensor:
    """A stand-in for per-frame stylization: the frames plus texture that re-forms on every frame."""
    gen = torch.Generator().manual_seed(seed)
    noise = F.interpolate(torch.rand(frames.shape[0], 3, H // 2, W // 2, generator=gen), size=(H, W), mode="bilinear")
    return (frames + amount * (noise - 0.5)).clamp(0, 1)


def test_warp_follows_a_known_shift():
    image = scene()[None]
    flow = torch.zeros(1, 2, H, 160)
    flow[:, 0] = 3.0  # every pixel is found 3 px to the right
    warped = warp(image, flow)
    torch.testing.assert_close(warped[..., :-3], image[..., 3:], rtol=0, atol=1e-5)
    assert inside(flow)[0, 0, :, :-3].all() and not inside(flow)[0, 0, :, -3:].any()


def test_occlusion_keeps_a_consistent_pan_and_drops_what_leaves_the_frame():
    forward = torch.zeros(1, 2, H, W)
    forward[:, 0] = -STEP
    occluded = occlusion(forward, -forward)
    assert occluded[..., :STEP].all(), "pixels that come from outside the frame are occluded"
    assert not occluded[..., STEP + 1 :].any()
    wrong = -forward.clone()
    wrong[..., 20:40, 30:60] = 5.0  # the backward flow disagrees here: the round trip fails
    assert occlusion(forward, wrong)[..., 25:35, 40:50].all()


def test_dis_finds_the_pan_and_the_input_warps_onto_itself():
    frames = pan(2)
    flow, occluded = flow_to_previous(FlowEstimator("medium"), *gray_u8(frames))
    kept = ~occluded[0, 0]
    assert kept.float().mean() > 0.8
    # frame 1 shows at x what frame 0 showed at x + STEP
    assert flow[0, 0][kept].median() == pytest.approx(STEP, abs=0.1) and flow[0, 1][kept].abs().median() < 0.1
    err = pair_warp_error(frames[:1], frames[1:], flow, occluded)
    assert err is not None and err[0] < 0.01


def test_warp_meter_pan_scores_zero_shuffled_scores_badly():
    frames = pan(8)
    still = WarpMeter(FlowEstimator("medium"))
    still.update(frames[:5], frames[:5])  # over two batches
    still.update(frames[5:], frames[5:])
    good = still.result()
    assert good["warp_error"] < 0.01 and good["warp_error"] == pytest.approx(good["input_warp_error"])
    assert 0.0 < good["occluded"] < 0.2 and still.pairs == 7
    shuffled = WarpMeter(FlowEstimator("medium"))
    shuffled.update(frames, frames[torch.tensor([0, 4, 1, 6, 2, 7, 3, 5])])
    assert shuffled.result()["warp_error"] > 5 * good["warp_error"] + 0.03


def test_measure_video_on_files(tmp_path: Path, tiny_encoder):
    frames = pan(6)
    src = write_clip(tmp_path / "in.mp4", frames)
    same = measure_video(src, src, frames[0], encoder=tiny_encoder)
    assert same.frames == 6 and same.size == (H, W) and same.flow == "farneback"
    assert same.warp_error < 0.01 and same.flicker == pytest.approx(1.0) and same.style_loss > 0
    # a half-size output: the input is resized to it; boiling texture raises the error, not the input's own
    small = write_clip(tmp_path / "small.mp4", F.interpolate(boiling(frames, 0.3), scale_factor=0.5, mode="area"))
    worse = measure_video(src, small)
    assert worse.size == (H // 2, W // 2) and worse.style_loss is None
    assert worse.warp_error > 3 * worse.input_warp_error and worse.flicker > 1.5
    assert '"warp_error"' in worse.to_json() and "warping error" in worse.to_text()


def test_style_loss_on_every_nth_frame_across_batches(tmp_path: Path, tiny_encoder):
    src = write_clip(tmp_path / "in.mp4", pan(6))
    out = write_clip(tmp_path / "out.mp4", boiling(pan(6), 0.4))
    style = scene(seed=3)
    decoded = torch.cat(list(read_frames(out)))
    with torch.no_grad():
        per_frame = frame_style_loss(tiny_encoder, decoded, tiny_encoder(style[None]))
    every = measure_video(src, out, style, encoder=tiny_encoder, style_every=2, batch=4)  # frames 0, 2 | 4
    assert every.style_loss == pytest.approx(float(per_frame[::2].mean()), rel=1e-4) and every.style_every == 2
    assert measure_video(src, out, style, encoder=tiny_encoder).style_loss == pytest.approx(float(per_frame.mean()), rel=1e-4)


def test_measure_video_needs_two_frames(tmp_path: Path):
    one = write_clip(tmp_path / "one.mp4", pan(1))
    with pytest.raises(InputError, match="at least 2"):
        measure_video(one, one)


def test_missing_opencv_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(InputError, match=r"adain\[video-flow\]"):
        FlowEstimator()


def test_flow_blend_follows_the_pan_beats_the_motion_gated_blend_and_restarts_at_cuts():
    frames = pan(10)
    styled = boiling(frames)

    def score(out: torch.Tensor) -> float:
        meter = WarpMeter(FlowEstimator("medium"))
        meter.update(frames, out)
        return meter.result()["warp_error"]

    per_frame = score(styled)
    strategy = FlowBlend()  # one strategy over batches of 4: the past carries over
    flow = score(torch.cat([strategy(i, o) for i, o in zip(frames.split(4), styled.split(4))]))
    blend = score(TemporalBlend(0.8)(frames, styled))
    assert flow < 0.5 * per_frame and flow < 0.7 * blend
    cut = torch.cat([frames[:4], pan(4, seed=5)])  # another scene from frame 4 on
    strategy = FlowBlend()
    out = strategy(cut, boiling(cut))
    assert strategy.cuts == 1
    torch.testing.assert_close(out[4], boiling(cut)[4])
    with pytest.raises(ValueError):
        FlowBlend(1.01)


def test_flow_blend_carries_the_texture_without_washing_it_out():
    frames = pan(10)
    styled = boiling(frames)
    out = FlowBlend()(frames, styled)
    texture = (styled - frames)[-1].std()
    assert (out - frames)[-1].std() > 0.9 * texture  # a running average of independent textures keeps ~ a third
    assert (FlowBlend(0.5)(frames, styled) - frames)[-1].std() < 0.8 * texture  # what a partial weight does


def test_flow_blend_tolerates_a_residual_in_proportion_to_the_texture():
    still = scene()[None]
    shift = torch.zeros(1, 2, H, 160)
    frames = torch.cat([warp(still, shift + 0.6 * t)[..., :W] for t in range(6)])  # a sub-pixel pan over fine texture
    styled = boiling(frames)
    kept = {}
    for slack in (0.0, FLOW_SLACK):
        strategy = FlowBlend(threshold=0.005, slack=slack)
        out = strategy(frames, styled)
        kept[slack] = float(((out - styled).abs().mean(1) > 1e-6).float().mean())
    assert kept[0.0] < 0.5 < kept[FLOW_SLACK]  # resampling the texture leaves more than the flat-region threshold


def test_flow_blend_samples_carried_texture_once_so_it_stays_sharp():
    still = scene()[None]
    frames = torch.cat([warp(still, torch.full((1, 2, H, 160), 0.5 * t), "bicubic")[..., :W] for t in range(9)])  # half a pixel a frame
    styled = (frames + 0.2 * (torch.rand(frames.shape, generator=torch.Generator().manual_seed(2)) - 0.5)).clamp(0, 1)
    out = FlowBlend()(frames, styled)
    sharpness = gradient(out - frames).mean((1, 2, 3)) / gradient(styled - frames).mean((1, 2, 3))
    # warping the last output again each frame blurs it: 0.53 on average over these frames
    assert sharpness[1:].mean() > 0.7


def test_patchwork_of_sources_is_restyled_and_memory_is_bounded():
    stripes = (torch.arange(W) // 2).float().expand(1, 1, H, W)  # a new source every 2 px, as where a pan brings in the picture
    assert fragmented(stripes, 31, PATCH_SHARE)[..., 16:-16].all()
    island = torch.zeros(1, 1, H, W)
    island[..., 20:30, 40:50] = 3
    assert not fragmented(island, 31, PATCH_SHARE).any()
    back = torch.tensor([1.0, 1, 1, 2, 2, 3]).view(1, 1, 1, 6)
    assert least_used(back, back > 0, 2).tolist() == [[[[False] * 5 + [True]]]]
    frames = pan(8)
    strategy = FlowBlend(max_sources=2)
    strategy(frames, boiling(frames))
    assert len(strategy.frames) <= 2


def test_video_metrics_cli(tmp_path: Path, capsys):
    src = write_clip(tmp_path / "in.mp4", pan(4))
    out = write_clip(tmp_path / "out.mp4", boiling(pan(4)))
    style = Path(__file__).resolve().parents[1] / "src" / "adain" / "examples" / "style" / "hokusai.jpg"
    assert main(["video-metrics", str(src), str(out), "--style", str(style), "--style-size", "64", "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["frames"] == 4 and numbers["warp_error"] > numbers["input_warp_error"] and numbers["style_loss"] > 0
    assert main(["video-metrics", str(src), str(src)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("4 frames at 96x64: warping error 0.00") and "style loss" not in line
    assert main(["video-metrics", str(tmp_path / "missing.mp4"), str(src)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("adain video-metrics: error: ") and "missing.mp4: no such file" in err and "\n" not in err
