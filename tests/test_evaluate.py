"""adain eval: pairing of the release files, the metrics, reports, metadata, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from adain.cli import main
from adain.decoder import Decoder, read_metadata, save_decoder
from adain.encoder import Encoder
from adain.evaluation.evaluate import evaluate
from adain.evaluation.pairs import diagonal_order, full_pairs, release_pairs
from adain.io.images import InputError, load_image, save_image
from adain.losses import image_metrics
from helpers import write_image

RELEASE_NAMES = {
    "avril_stylized_impronte_d_artista": ("avril_cropped.jpg", "impronte_d_artista_cropped.jpg"),
    "chicago_stylized_asheville": ("chicago_cropped.jpg", "ashville_cropped.jpg"),
    "sailboat_stylized_sketch": ("sailboat_cropped.jpg", "sketch_cropped.png"),
}


@pytest.fixture(scope="module")
def encoder5() -> Encoder:
    torch.manual_seed(0)
    return Encoder(last="relu5_1", weights="random")


def _release_folder(root: Path, size: int = 40) -> Path:
    """Fake ``examples/`` with the three pairs of RELEASE_NAMES plus files that are not pairs."""
    folder = root / "examples"
    for seed, (result, (content, style)) in enumerate(RELEASE_NAMES.items()):
        write_image(folder / content, (size, size), seed=seed)
        write_image(folder / style, (size, size), seed=10 + seed)
        write_image(folder / f"{result}.jpg", (size, size), seed=20 + seed)
    write_image(folder / "newyork_brushstrokes_preservecolor.jpg", (size, size), seed=30)
    write_image(folder / "architecture.jpg", (size, size), seed=31)
    return root


def _tiny_decoder(path: Path) -> Path:
    torch.manual_seed(0)
    save_decoder(Decoder(width=0.0625), path, {"steps": 7, "total_steps": 19})  # a run from --init
    return path


def test_release_pairs_from_file_names(tmp_path: Path):
    pairs = release_pairs(_release_folder(tmp_path) / "examples")
    assert {p.name: (p.content.name, p.style.name) for p in pairs} == RELEASE_NAMES
    assert all(p.reference.name == f"{p.name}.jpg" for p in pairs)
    (tmp_path / "examples" / "sketch_cropped.png").unlink()
    with pytest.raises(InputError, match="sailboat_stylized_sketch.jpg: no style image 'sketch_cropped"):
        release_pairs(tmp_path / "examples")


def test_release_pairs_of_the_shared_data(shared_data: Path):
    pairs = release_pairs(shared_data / "eval" / "examples")
    assert len(pairs) == 6
    got = {p.name: (p.content.name, p.style.name) for p in pairs}
    for name, files in RELEASE_NAMES.items():
        assert got[name] == files
    assert got["cornell_stylized_woman_with_hat_matisse"] == ("cornell_cropped.jpg", "woman_with_hat_matisse_cropped.jpg")


@pytest.mark.parametrize("n_content, n_style", [(11, 21), (4, 6), (3, 3), (1, 5)])
def test_diagonal_order_covers_every_pair_once(n_content: int, n_style: int):
    order = diagonal_order(n_content, n_style)
    assert len(order) == len(set(order)) == n_content * n_style
    prefix = order[: max(n_content, n_style)]
    assert {c for c, _ in prefix} == set(range(n_content)) and {s for _, s in prefix} == set(range(n_style))


def test_full_pairs_limit_is_a_prefix(image_dir: Path):
    everything = full_pairs(image_dir)
    assert len(everything) == 9 and full_pairs(image_dir, 4) == everything[:4]
    assert everything[0].name == "c0_stylized_s0" and everything[1].name == "c1_stylized_s1"
    with pytest.raises(ValueError, match="limit"):
        full_pairs(image_dir, -1)


def test_metrics_are_zero_for_identical_images_and_grow_with_a_change(encoder5: Encoder):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 48, 48)
    y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    same = image_metrics(encoder5, x, x, x)
    assert same == {"content": 0.0, "style": 0.0, "gram": 0.0}
    # output == style: no style or Gram loss, but a content loss against another content image
    m = image_metrics(encoder5, x, y, x)
    assert m["content"] > 0 and m["style"] == 0.0 and m["gram"] == 0.0
    # output == content: no content loss
    m = image_metrics(encoder5, x, x, y)
    assert m["content"] == 0.0 and m["style"] > 0 and m["gram"] > 0
    far = image_metrics(encoder5, x, x, (x + 0.4 * torch.randn_like(x)).clamp(0, 1))
    assert far["style"] > m["style"]


def test_metrics_need_relu5_and_matching_sizes(encoder5: Encoder, tiny_encoder: Encoder):
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="relu5_1"):
        image_metrics(tiny_encoder, x, x, x)
    with pytest.raises(ValueError, match="same size"):
        image_metrics(encoder5, x, torch.rand(1, 3, 32, 40), x)


def test_eval_release_report_json_and_metadata(tmp_path: Path, capsys):
    """The smoke test with the real VGG-19 (64 px): the whole command, report, JSON, metadata round trip."""
    data = _release_folder(tmp_path, size=64)
    decoder = _tiny_decoder(tmp_path / "dec.safetensors")
    weights_before = load_file(str(decoder))
    argv = ["eval", "--set", "release", "--data", str(data), "--decoder", str(decoder), "--device", "cpu"]
    code = main(argv + ["--report", str(tmp_path / "report"), "--json", str(tmp_path / "n.json"), "--write-metadata"])
    assert code == 0
    results = json.loads((tmp_path / "n.json").read_text())
    assert results == json.loads((tmp_path / "report" / "results.json").read_text())
    assert results["pairs_evaluated"] == 3 and results["decoder_steps"] == 19
    for p in results["pairs"]:
        for k in ("content", "style", "gram"):
            assert p["ratio"][k] == pytest.approx(p["ours"][k] / p["reference"][k])
        assert p["ours"]["seconds"] > 0 and p["reference"]["content"] > 0
    mean_ratio = sum(p["ratio"]["style"] for p in results["pairs"]) / 3
    assert results["mean_ratio"]["style"] == pytest.approx(mean_ratio)
    assert results["target"]["met"] == (results["mean_ratio"]["content"] <= 1 and mean_ratio <= 1)
    report = (tmp_path / "report" / "report.md").read_text()
    assert "chicago_stylized_asheville" in report and "grid.jpg" in report and "--set release" in report
    grid = load_image(tmp_path / "report" / "grid.jpg")
    assert grid.shape == (3, 22 + 3 * 256, 4 * 256)
    meta = read_metadata(decoder)
    assert meta["steps"] == 7 and meta["width"] == 0.0625
    assert meta["eval_release"]["mean"] == pytest.approx(results["mean"])
    assert meta["eval_release"]["mean_ratio"] == pytest.approx(results["mean_ratio"])
    weights_after = load_file(str(decoder))
    assert all(torch.equal(weights_before[k], weights_after[k]) for k in weights_before)
    assert "target met" in capsys.readouterr().out


def test_eval_full_compares_with_the_baseline_on_common_pairs(image_dir: Path, tmp_path: Path, encoder5: Encoder):
    decoder = _tiny_decoder(tmp_path / "dec.safetensors")
    pairs = full_pairs(image_dir)
    baseline = tmp_path / "base.json"
    cached = {name: {"content": 2.0, "style": 4.0, "gram": 8.0, "seconds": 1.0} for name in (pairs[0].name, pairs[2].name)}
    baseline.write_text(json.dumps({"config": {"size": 32}, "pairs": cached}))
    results, images = evaluate("full", data=image_dir, decoder=decoder, limit=3, baseline=baseline, size=32, device="cpu", encoder=encoder5, progress=False)
    assert [p["name"] for p in results["pairs"]] == [p.name for p in pairs[:3]] and len(images) == 3
    assert images[0][2].shape == images[0][0].shape and min(images[0][0].shape[1:]) == 32
    b = results["baseline"]
    assert b["pairs_compared"] == 2
    ours_style = (results["pairs"][0]["ours"]["style"] + results["pairs"][2]["ours"]["style"]) / 2
    assert b["ratio_of_means"]["style"] == pytest.approx(ours_style / 4.0)
    assert b["target"]["met"] == (b["ratio_of_means"]["style"] <= 1.5 and b["ratio_of_means"]["content"] <= 1.0)
    # a baseline made at another size is not compared
    other, _ = evaluate("full", data=image_dir, decoder=decoder, limit=1, baseline=baseline, size=40, device="cpu", encoder=encoder5, progress=False)
    assert other["baseline"]["pairs_compared"] == 0 and other["baseline"]["size_mismatch"]


def test_eval_cli_errors(tmp_path: Path, image_dir: Path, capsys):
    decoder = _tiny_decoder(tmp_path / "dec.safetensors")
    cases = [
        (["--data", str(tmp_path / "nowhere")], "nowhere/examples: not a folder"),
        (["--data", str(image_dir), "--set", "full", "--limit", "-1"], "--limit must be ≥ 0"),
        (["--data", str(_release_folder(tmp_path)), "--decoder", str(tmp_path / "none.safetensors")], "none.safetensors: decoder weights not found"),
    ]
    for extra, message in cases:
        code = main(["eval", "--decoder", str(decoder), *extra, "--report", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code = main(["eval", "--set", "full", "--data", str(image_dir), "--limit", "1", "--size", "32",
                 "--decoder", str(decoder), "--baseline", str(bad), "--device", "cpu"])
    assert code == 2 and "bad.json: not a baseline file" in capsys.readouterr().err


def test_reference_of_another_size_is_an_error(tmp_path: Path, encoder5: Encoder):
    data = _release_folder(tmp_path, size=40)
    save_image(torch.rand(3, 40, 48), data / "examples" / "avril_stylized_impronte_d_artista.jpg")
    with pytest.raises(InputError, match="avril_stylized_impronte_d_artista.jpg: 48x40 but the content is 40x40"):
        evaluate("release", data=data, decoder=_tiny_decoder(tmp_path / "d.safetensors"), device="cpu", encoder=encoder5, progress=False)


def test_shown_path_is_relative_below_the_working_directory(tmp_path: Path, monkeypatch):
    from adain.evaluation.evaluate import shown_path

    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "runs" / "d.safetensors") == str(Path("runs") / "d.safetensors")
    assert shown_path("runs/d.safetensors") == str(Path("runs") / "d.safetensors")
    outside = tmp_path.parent / "elsewhere.safetensors"
    assert shown_path(outside) == str(outside.resolve())


def test_methods_side_by_side_report(image_dir: Path, tmp_path: Path, encoder5: Encoder, capsys):
    from adain.evaluation.evaluate import compare_methods
    from adain.evaluation.report import write_report

    decoder = _tiny_decoder(tmp_path / "dec.safetensors")
    results, images = compare_methods("full", ["adain", "efdm"], data=image_dir, decoder=decoder, limit=2, size=32,
                                      baseline=None, device="cpu", encoder=encoder5, progress=False)
    assert list(results["methods"]) == ["adain", "efdm"]
    assert all(r["method"] == m and r["pairs_evaluated"] == 2 for m, r in results["methods"].items())
    assert len(images) == 2 and len(images[0]) == 4  # content, style, one output per method
    report = write_report(tmp_path / "r", results, images, "adain eval --set full --method adain efdm").read_text()
    for m in ("adain", "efdm"):
        assert f"| {m} | {results['methods'][m]['mean']['content']:.4g} |" in report
    assert load_image(tmp_path / "r" / "grid.jpg").shape == (3, 22 + 2 * 256, 4 * 256)
    assert "AVX" in report or "cpus" in report  # the report names the machine the times come from
    with pytest.raises(ValueError, match="each method once"):
        compare_methods("full", ["wct", "wct"], data=image_dir)
    code = main(["eval", "--set", "full", "--data", str(image_dir), "--method", "wct", "--write-metadata", "--decoder", str(decoder)])
    assert code == 2 and "--write-metadata stores the adain numbers" in capsys.readouterr().err


def test_the_eval_data_folder_comes_from_the_option_or_the_environment(monkeypatch, tmp_path, capsys):
    from adain.errors import UsageError
    from adain.evaluation.pairs import eval_data

    monkeypatch.delenv("ADAIN_EVAL_DATA", raising=False)
    with pytest.raises(UsageError, match="ADAIN_EVAL_DATA"):
        eval_data()
    assert main(["eval", "--set", "release", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.startswith("adain eval: error: no eval data folder: give --data")
    monkeypatch.setenv("ADAIN_EVAL_DATA", str(tmp_path))
    assert eval_data() == tmp_path and eval_data("elsewhere") == Path("elsewhere")


def test_the_methods_grid_shows_every_pair_of_the_table(image_dir: Path, tmp_path: Path, encoder5: Encoder):
    """All 9 pairs (more than 8) in one grid, in smaller cells, each row the same pair for every method."""
    from adain.evaluation.evaluate import compare_methods
    from adain.evaluation.report import grid_cell, write_report

    results, images = compare_methods("full", ["adain", "efdm"], data=image_dir, decoder=_tiny_decoder(tmp_path / "d.safetensors"),
                                      size=32, baseline=None, device="cpu", encoder=encoder5, progress=False)
    assert results["methods"]["adain"]["pairs_evaluated"] == 9 and len(images) == 9
    assert not torch.equal(images[0][0], images[1][0]) and not torch.equal(images[0][1], images[1][1])
    report = write_report(tmp_path / "r", results, images, "adain eval --set full --method adain efdm").read_text()
    cell = grid_cell(9, 4)
    assert 128 <= cell < 256 and grid_cell(21, 5) == 128 and grid_cell(3, 4) == 256
    assert load_image(tmp_path / "r" / "grid.jpg").shape == (3, 22 + 9 * cell, 4 * cell)
    assert "Grid (every pair" in report and "| 9 | " in report
