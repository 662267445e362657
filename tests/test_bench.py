"""adain.bench: FLOP counts against hand counts, the report's fields, the CLI at a tiny size (no timed assertions)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from adain.cli import main
from adain.decoder import LAYOUT, Decoder
from adain.evaluation import bench
from adain.stylizer import Stylizer

# VGG-19 convolutions up to relu4_1: (in, out, downsampling factor of the layer's grid)
VGG_TO_RELU4_1 = [(3, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 2), (128, 256, 4), (256, 256, 4), (256, 256, 4), (256, 256, 4), (256, 512, 8)]


def conv3x3_flops(cin: int, cout: int, h: int, w: int) -> int:
    """2 FLOPs per multiply-add of a 3x3 convolution with same-size output."""
    return 2 * cin * cout * 9 * h * w


@pytest.fixture(scope="module")
def tiny_stylizer(tiny_encoder) -> Stylizer:
    torch.manual_seed(0)
    return Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu", bf16=False)


@pytest.fixture
def small_peaks(monkeypatch):
    """Tiny matrices for the peak, so the CLI stays fast."""
    monkeypatch.setattr(bench, "PEAK_SIZES_CPU", (64,))


def test_count_flops_of_one_conv_matches_the_hand_count():
    net = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(3, 4, 3), nn.ReLU())
    assert bench.count_flops(lambda: net(torch.rand(2, 3, 8, 6))) == 2 * conv3x3_flops(3, 4, 8, 6)


def test_stylize_flops_match_the_hand_count_and_scale_with_pixels(tiny_stylizer):
    side = bench.FLOP_PROBE
    encoder = sum(conv3x3_flops(cin, cout, side // f, side // f) for cin, cout, f in VGG_TO_RELU4_1)
    decoder, grid = 0, side // 8
    for item in LAYOUT:
        if item == "up":
            grid *= 2
            continue
        cin, cout = item
        cin = cin if cin == 512 else round(cin * 0.0625)
        cout = cout if cout == 3 else round(cout * 0.0625)
        decoder += conv3x3_flops(cin, cout, grid, grid)
    assert bench.stylize_probe_flops(tiny_stylizer, with_style=False) == encoder + decoder
    assert bench.stylize_probe_flops(tiny_stylizer, with_style=True, batch=3) == 4 * encoder + 3 * decoder
    # scaling from the probe is exact: compare with a count at the real size (24x40 pads to 24x40, 20x20 to 24x24)
    x = torch.rand(1, 3, 24, 40)
    measured = bench.count_flops(lambda: tiny_stylizer.decoder(tiny_stylizer.encoder.encode(x)))
    assert bench.scale_flops(encoder + decoder, 24, 40) == measured
    assert bench.scale_flops(encoder + decoder, 20, 20) == bench.scale_flops(encoder + decoder, 24, 24)


def test_train_step_flops_cover_forward_and_backward(tiny_stylizer):
    step = bench.train_step_fn(tiny_stylizer, batch=1, size=bench.FLOP_PROBE)
    forward_only = 3 * bench.stylize_probe_flops(tiny_stylizer, with_style=False)  # content, style, output encoded; one decode
    assert bench.count_flops(step) > forward_only


def test_report_fields_markdown_and_json(tiny_stylizer, native_bf16):
    lines = []
    report = bench.run_bench(
        tiny_stylizer, sizes=(16, 24), runs=2, warmup=0, batch=2, train_batch=1, accuracy=True, video=(40, 20), peak_sizes=(64,), progress=lines.append,
        lite=False,
    )
    assert [(c.size, c.case, c.images) for c in report.cases[:4]] == [
        ("16", "stylize", 1), ("16", "cached style", 1), ("16", "batch of 2", 2), ("16", "train step (batch 1)", 1)
    ]
    assert len(report.cases) == 9 and len(lines) == 1 + 9 + 2
    for c in report.cases:
        assert len(c.runs) == 2 and c.seconds == pytest.approx(sum(c.runs) / 2)
        assert c.flops > 0 and c.gflops > 0 and c.peak_memory_bytes > 2**20 and c.dtype == "fp32"
    by_case = {(c.size, c.case): c for c in report.cases}
    assert by_case[("16", "batch of 2")].flops == 2 * by_case[("16", "cached style")].flops
    assert by_case[("24", "cached style")].flops * 16**2 == by_case[("16", "cached style")].flops * 24**2
    assert by_case[("40x20", "video frames (batch 2)")].flops * 16**2 == 2 * by_case[("16", "cached style")].flops * 40 * 24
    assert set(report.peak_gflops) == ({"fp32", "bf16"} if native_bf16 else {"fp32"}) and min(report.peak_gflops.values()) > 0
    assert set(report.accuracy) == {16, 24} and report.accuracy[16]["max"] < 1e-4  # fp32 against fp32
    data = json.loads(report.to_json())
    assert {"ms", "images_per_s", "gflops", "peak_ratio", "peak_memory_bytes"} <= set(data["cases"][0])
    assert data["cases"][0]["peak_ratio"] == pytest.approx(report.ratio(report.cases[0]))
    table = report.to_markdown()
    assert "| size | case | ms / call |" in table and "| 24 | train step (batch 1) |" in table and "max abs diff vs fp32" in table


def test_bad_sizes_and_runs_are_rejected(tiny_stylizer):
    with pytest.raises(ValueError, match="multiples of 8"):
        bench.run_bench(tiny_stylizer, sizes=(20,), peak_sizes=(64,))
    with pytest.raises(ValueError, match="runs"):
        bench.time_calls(lambda: None, torch.device("cpu"), runs=0)


def test_compare_variants_side_by_side(tiny_stylizer, native_bf16):
    """Every variant side by side where bf16 is native; the bf16 ones left out (and said so) where it is not."""
    variants = {k: bench.VARIANTS[k] for k in ("fp32", "fp32, channels_last", "bf16, channels_last")}
    results, peaks = bench.compare_variants(tiny_stylizer, sizes=(16,), variants=variants, runs=1, warmup=0, peak_sizes=(64,))
    assert [r.variant for r in results] == list(variants)[: 3 if native_bf16 else 2]
    assert set(peaks) == ({"fp32", "bf16"} if native_bf16 else {"fp32"})
    assert results[0].max_diff == 0 and results[1].max_diff < 1e-4
    assert all(r.seconds > 0 for r in results)
    assert results[0].peak_ratio == pytest.approx(results[0].gflops / peaks["fp32"])  # each against its own precision's peak
    table = bench.variants_markdown(results, peaks, torch.device("cpu"))
    if native_bf16:
        assert results[2].peak_ratio == pytest.approx(results[2].gflops / peaks["bf16"])
        assert "| 16 | bf16, channels_last |" in table
    else:
        assert "bf16, channels_last" not in table and "bf16 not measured (not native here)" in table
    assert tiny_stylizer.decoder.net[1].weight.is_contiguous(memory_format=torch.channels_last)  # copies left the original alone


def test_without_native_bf16_no_bf16_is_run(tiny_stylizer, monkeypatch):
    monkeypatch.setattr(bench, "auto_bf16", lambda device: False)
    assert set(bench.measure_peaks(torch.device("cpu"), (64,))) == {"fp32"}
    variants = {k: bench.VARIANTS[k] for k in ("fp32", "bf16, channels_last")}
    results, peaks = bench.compare_variants(tiny_stylizer, sizes=(16,), variants=variants, runs=1, warmup=0, peak_sizes=(64,))
    assert [r.variant for r in results] == ["fp32"] and set(peaks) == {"fp32"}
    assert "bf16 not measured (not native here)" in bench.variants_markdown(results, peaks, torch.device("cpu"))
    forced = Stylizer(tiny_stylizer.decoder, encoder=tiny_stylizer.encoder, device="cpu", bf16=True)
    report = bench.run_bench(forced, sizes=(16,), runs=1, warmup=0, batch=1, train=False, peak_sizes=(64,))
    assert report.ratio(report.cases[0]) is None and "| – (bf16) |" in report.to_markdown()


def test_peak_skips_sizes_over_the_time_budget(monkeypatch):
    sizes = []
    monkeypatch.setattr(bench, "time_calls", lambda fn, device, runs, warmup: sizes.append(1) or [1.0] * runs)  # 1 s per product
    # 64³·2 FLOP in 1 s: a 4096 product would take 64³ times longer, far over the budget; 128 (8 s for 4 calls) too
    assert bench.matmul_peak(torch.device("cpu"), torch.float32, (4096, 64, 128), runs=3, budget_s=2.0) == pytest.approx(2 * 64**3 / 1e9)
    assert len(sizes) == 1


def test_cli_bench_quick(small_peaks, monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(bench, "QUICK_PEAK_SIZES", (64,))

    def fake_run_bench(stylizer, **kwargs):
        seen.update(kwargs)
        return bench.BenchReport("cpu", "x", "t", 1, False, True, False, 1, 0, {"fp32": 1.0}, [])

    monkeypatch.setattr(bench, "run_bench", fake_run_bench)
    assert main(["bench", "--quick", "--device", "cpu"]) == 0
    assert seen["sizes"] == (256,) and seen["runs"] == 3 and seen["train"] is False and seen["batch"] == 2 and seen["peak_sizes"] == (64,)


def test_cli_bench_whole_process(monkeypatch, capsys):
    from adain.evaluation import startup

    seen = []

    def fake(folder, *, sizes, runs, int8, progress):
        seen.append(int8)
        return [startup.ProcessTiming(startup.IMPORT_TORCH, None, [1.0], [0.9]), startup.ProcessTiming("adain stylize, 64 px", 64, [1.5], [1.4])]

    monkeypatch.setattr(startup, "run_whole_process", fake)
    assert main(["bench", "--whole-process", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "| adain stylize, 64 px | 1.50 | 1.40 | 1.50 | – |" in out and "torch" in out
    assert main(["bench", "--whole-process", "--runs", "1", "--int8"]) == 0
    assert seen == [False, True]


def test_cli_bench_tiny(small_peaks, capsys):
    assert main(["bench", "--sizes", "16", "--runs", "1", "--warmup", "0", "--batch", "2", "--no-train", "--device", "cpu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    lite = ["lite: stylize", "lite: cached style"] if bench.LITE_PATH.is_file() else []
    assert [c["case"] for c in data["cases"]] == ["stylize", "cached style", "batch of 2", *lite]
    assert data["device"] == "cpu" and data["channels_last"] is True and data["compile"] is False


def test_cli_bench_bad_size_is_a_one_line_error(capsys):
    assert main(["bench", "--sizes", "30", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("adain bench: error:") and "multiples of 8" in err and "\n" not in err


@pytest.mark.skipif(not bench.LITE_PATH.is_file(), reason="no shipped lite weights")
def test_lite_rows_at_every_size_and_for_video_frames():
    lines = []
    cases = bench.lite_cases((16, 24), (40, 20), runs=2, warmup=0, say=lines.append)
    assert [(c.size, c.case) for c in cases] == [
        ("16", "lite: stylize"), ("16", "lite: cached style"), ("24", "lite: stylize"), ("24", "lite: cached style"), ("40x20", "lite: cached style"),
    ]
    assert all(c.flops > 0 and c.dtype == "fp32" and len(c.runs) == 2 for c in cases) and len(lines) == 5
    assert cases[0].flops > cases[1].flops  # a new style is encoded too
