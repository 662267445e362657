"""`adain stylize` through its entry point: pair and folder modes, the grid, every bad input of the issue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain.cli import main
from helpers import BAD_FILES, assert_bad_input, bomb_png, exif_rotated_jpeg, lively_nets, png_bytes, run, write_image

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- working runs


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["stylize", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--index-map" in out and "--preserve-color" in out


def test_pair_output_has_the_input_size(pair, fast_models, capsys):
    code, out, err = run(["--content", pair["content"], "--style", pair["a"], "--output", pair["out"], "--decoder", fast_models], capsys)
    assert code == 0, err
    assert f"wrote {pair['out']}" in out
    assert Image.open(pair["out"]).size == (45, 37) and Image.open(pair["out"]).mode == "RGB"


@pytest.mark.parametrize(
    "extra",
    [
        ["--alpha", "0.5", "--preserve-color", "color"],
        ["--preserve-color", "luminance", "--content-size", "20", "--crop"],
        ["--weights", "1", "3"],
        ["--mask", "{left}", "{right}"],
        ["--index-map", "{index}"],
        ["--method", "wct", "--weights", "1", "3", "--preserve-color", "color"],
        ["--method", "efdm", "--mask", "{left}", "{right}", "--alpha", "0.7"],
        ["--style-scale", "0.5", "--method", "efdm"],
    ],
    ids=["alpha-color", "luminance-size-crop", "weights", "masks", "index-map", "wct-weights-color", "efdm-masks-alpha", "style-scale"],
)
def test_pair_controls(pair, fast_models, capsys, extra):
    styles = [pair["a"], pair["b"]] if any(x in extra for x in ("--weights", "--mask", "--index-map")) else [pair["a"]]
    extra = [x.format(**{k: v for k, v in pair.items()}) for x in extra]
    code, _, err = run(["-c", pair["content"], "-s", *styles, "-o", pair["out"], "--decoder", fast_models, *extra], capsys)
    assert code == 0, err
    assert Image.open(pair["out"]).size == ((20, 20) if "--crop" in extra else (45, 37))


def test_masks_of_the_contents_aspect_ratio_at_any_size_and_one_fewer(tmp_path, pair, fast_models, monkeypatch, capsys):
    """Half-size masks and one mask fewer than styles (style 1 takes the rest) are accepted; with the edge inside one
    8 px block of the relu4_1 grid, they give the full-size masks' output exactly."""
    monkeypatch.setattr("adain.networks.Encoder", lambda **settings: lively_nets()[0])  # outputs that vary with the inputs
    content = write_image(tmp_path / "c.png", (64, 48), seed=1)
    left, small = np.zeros((48, 64), np.uint8), np.zeros((24, 32), np.uint8)
    left[:, :28], small[:, :14] = 255, 255  # resized, the half-size edge averages to the same grid values
    files = {"left": left, "right": 255 - left, "small left": small, "small right": 255 - small}
    for name, arr in files.items():
        Image.fromarray(arr, "L").save(tmp_path / f"{name}.png")
    runs = {"full": ["left", "right"], "half": ["small left", "small right"], "one fewer": ["right"],
            "half, one fewer": ["small right"], "swapped": ["right", "left"]}
    outputs = {}
    for name, masks in runs.items():
        out = tmp_path / "out" / f"{name}.png"
        code, _, err = run(["-c", content, "-s", pair["a"], pair["b"], "-o", out, "--decoder", fast_models,
                            "--mask", *(tmp_path / f"{m}.png" for m in masks)], capsys)
        assert code == 0, err
        outputs[name] = np.asarray(Image.open(out), np.int16)
    for name in ("half", "one fewer", "half, one fewer"):
        assert np.array_equal(outputs[name], outputs["full"]), name
    assert np.abs(outputs["swapped"] - outputs["full"]).max() > 10  # the masks place the styles


def test_exif_rotated_content_gives_an_upright_output(tmp_path, pair, fast_models, capsys):
    path, _ = exif_rotated_jpeg(tmp_path / "rotated.jpg", (48, 32))
    code, _, err = run(["-c", path, "-s", pair["a"], "-o", pair["out"], "--decoder", fast_models], capsys)
    assert code == 0, err
    assert Image.open(pair["out"]).size == (32, 48)


def save_mode(path: Path, mode: str) -> Path:
    """The same picture in another mode: L, RGBA, CMYK, P, or 16-bit grey/RGB PNG (``I;16``, ``RGB;16``)."""
    rgb = Image.open(write_image(path.with_suffix(".src.png"), (40, 32), seed=5))
    if mode.endswith(";16"):
        arr = np.asarray(rgb.convert("L") if mode == "I;16" else rgb).astype(np.uint16) * 257
        path.write_bytes(png_bytes(arr))
    else:
        rgb.convert(mode).save(path)
    return path


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("RGBA", ".png"), ("CMYK", ".jpg"), ("P", ".png"), ("I;16", ".png"), ("RGB;16", ".png")])
def test_any_image_mode_is_accepted(tmp_path, pair, fast_models, capsys, mode, suffix):
    path = save_mode(tmp_path / f"m{suffix}", mode)
    for args in (["-c", path, "-s", pair["a"]], ["-c", pair["content"], "-s", path]):
        code, _, err = run([*args, "-o", pair["out"], "--decoder", fast_models], capsys)
        assert code == 0, err
        assert Image.open(pair["out"]).size == Image.open(args[1]).size


def test_folder_mode_writes_every_combination_and_a_grid(image_dir, tmp_path, fast_models, capsys):
    out, grid = tmp_path / "out", tmp_path / "grid.png"
    args = ["-c", image_dir / "content", "-s", image_dir / "style", "-o", out, "--decoder", fast_models]
    code, stdout, err = run([*args, "--grid", grid, "--grid-height", "32"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(f"c{i}_s{j}.jpg" for i in range(3) for j in range(3))
    assert all(Image.open(p).size == (48, 40) for p in out.iterdir())
    assert "wrote 9 images" in stdout
    # header row + 3 rows of 32 px; 4 columns 38 px wide (48x40 at 32 high; the 40x48 styles are narrower); 4 px gaps
    assert Image.open(grid).size == (4 * 38 + 5 * 4, 4 * 32 + 5 * 4)


def test_one_content_with_a_folder_of_styles(image_dir, tmp_path, fast_models, capsys):
    code, _, err = run(["-c", image_dir / "content" / "c0.png", "-s", image_dir / "style", "-o", tmp_path / "o", "--decoder", fast_models], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["c0_s0.jpg", "c0_s1.jpg", "c0_s2.jpg"]


def test_folder_mode_skips_bad_files_and_exits_2(image_dir, tmp_path, fast_models, capsys):
    (image_dir / "content" / "broken.jpg").write_text("not a picture")
    bomb_png(image_dir / "style" / "bomb.png")
    out = tmp_path / "out"
    code, stdout, err = run(["-c", image_dir / "content", "-s", image_dir / "style", "-o", out, "--decoder", fast_models], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in err
    assert any(str(image_dir / "content" / "broken.jpg") in line and "(skipped)" in line for line in lines)
    assert any(str(image_dir / "style" / "bomb.png") in line and "over the limit" in line for line in lines)
    assert lines[-1].startswith("adain stylize: error: 2 input file(s) skipped")
    assert len(list(out.iterdir())) == 9 and not any("broken" in p.name or "bomb" in p.name for p in out.iterdir())


def test_folder_mode_refuses_colliding_names(image_dir, tmp_path, capsys):
    write_image(image_dir / "content" / "c0.jpg")  # c0.png is there too: both would write c0_s0.jpg
    out = tmp_path / "out" / "x"
    code, _, err = run(["-c", image_dir / "content", "-s", image_dir / "style", "-o", out], capsys)
    assert_bad_input(code, err, out, "c0_s0.jpg", "rename")


@pytest.mark.parametrize(
    "extra, message",
    [(["--weights", "1"], "--weights"), (["--mask", "m.png"], "--mask"), (["--grid-height", "4"], "--grid-height")],
)
def test_folder_mode_option_errors(image_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "out" / "x"
    code, _, err = run(["-c", image_dir / "content", "-s", image_dir / "style", "-o", out, *extra], capsys)
    assert_bad_input(code, err, out, message)


# ---------------------------------------------------------------- each input read once to plan, once to decode


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """The paths opened (``open``, ``Path.open``, Pillow's ``Image.open`` of a file name) while the test runs."""
    import builtins
    import io

    paths: list[str] = []
    real = builtins.open

    def counting(file, *args, **kwargs):
        paths.append(str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(io, "open", counting)
    return paths


def test_each_input_is_opened_twice_at_most(pair, fast_models, capsys, opened, tmp_path):
    """Once to plan it (the header: sizes checked before anything is decoded), once to decode it and hash its bytes."""
    code, _, err = run(["-c", pair["content"], "-s", pair["a"], pair["b"], "-o", pair["out"], "--decoder", fast_models], capsys)
    assert code == 0, err
    assert {name: opened.count(str(pair[name])) for name in ("content", "a", "b")} == {"content": 2, "a": 2, "b": 2}
    contents, styles = tmp_path / "contents", tmp_path / "styles"
    for folder, names in ((contents, ("content", "left")), (styles, ("a", "b"))):
        folder.mkdir()
        for name in names:
            (folder / pair[name].name).write_bytes(pair[name].read_bytes())
    opened.clear()
    code, _, err = run(["-c", contents, "-s", styles, "-o", tmp_path / "folder", "--decoder", fast_models], capsys)
    assert code == 0, err
    counts = {p.name: opened.count(str(p)) for p in [*contents.iterdir(), *styles.iterdir()]}
    assert counts == dict.fromkeys(counts, 2)


def test_alpha_is_checked_once_per_image(pair, fast_models, capsys, monkeypatch):
    """The controls are checked where the run's options are made; the job, the Stylizer and the feature maths trust them."""
    import adain.controls

    checked: list[float] = []
    real = adain.controls.check_alpha
    monkeypatch.setattr(adain.controls, "check_alpha", lambda alpha: checked.append(alpha) or real(alpha))
    code, _, err = run(["-c", pair["content"], "-s", pair["a"], "-o", pair["out"], "--decoder", fast_models, "--alpha", "0.5"], capsys)
    assert code == 0, err
    assert checked == [0.5]


# ---------------------------------------------------------------- every bad input of the issue


@pytest.mark.parametrize("kind", list(BAD_FILES))
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_image_files(pair, tmp_path, capsys, kind, role):
    make, message = BAD_FILES[kind]
    bad = make(tmp_path / f"{kind}.png")
    args = {"content": pair["content"], "style": pair["a"], role: bad}
    code, _, err = run(["-c", args["content"], "-s", args["style"], "-o", pair["out"]], capsys)
    assert_bad_input(code, err, pair["out"], bad, message)


@pytest.mark.parametrize(
    "extra, names",
    [
        (["--mask", "{left}", "{black}"], ["{black}", "covers nothing"]),
        (["--mask", "{left}", "{a}"], ["{a}", "40x30 does not have the content's aspect ratio (45x37)"]),
        (["--mask", "{left}", "{right}", "{left}"], ["3 masks given for 2 styles"]),
        (["--index-map", "{content}"], ["{content}", "palette or greyscale"]),
        (["--index-map", "{a}"], ["{a}", "40x30 does not have the content's aspect ratio (45x37)"]),
        (["--index-map", "{left}"], ["{left}", "value 255", "0..1"]),
        (["--index-map", "{black}"], ["{black}", "no pixel has value 1", "b.png"]),
        (["--mask", "{left}", "{right}", "--index-map", "{index}"], ["not both"]),
        (["--mask", "{left}", "{right}", "--weights", "1", "1"], ["weights"]),
        (["--alpha", "1.5"], ["alpha must be in [0, 1], got 1.5"]),
        (["--alpha", "-0.1"], ["alpha must be in [0, 1]"]),
        (["--weights", "1", "-1"], ["≥ 0"]),
        (["--weights", "0", "0"], ["all zero"]),
        (["--weights", "1", "2", "3"], ["3 style weights given for 2 styles"]),
        (["--content-size", "8"], ["content size"]),
        (["--quality", "101"], ["quality"]),
        (["--grid", "g.jpg"], ["--grid needs a folder"]),
        (["--style-scale", "20"], ["style scale must be 0 (off) or in 0.05..8, got 20.0"]),
        (["--method", "wct", "--tile", "64"], ["--tile works with --method adain only"]),
    ],
)
def test_bad_options_and_masks(pair, capsys, extra, names):
    extra = [x.format(**pair) for x in extra]
    code, _, err = run(["-c", pair["content"], "-s", pair["a"], pair["b"], "-o", pair["out"], *extra], capsys)
    assert_bad_input(code, err, pair["out"], *(n.format(**pair) for n in names))


def test_bad_output_paths(pair, tmp_path, capsys):
    out = tmp_path / "out" / "result.txt"
    code, _, err = run(["-c", pair["content"], "-s", pair["a"], "-o", out], capsys)
    assert_bad_input(code, err, out, out, "unknown image format")
    code, _, err = run(["-c", pair["content"], "-s", pair["a"], "-o", tmp_path], capsys)
    assert code == 2 and "is a folder" in err and len(err.strip().splitlines()) == 1


def test_bad_decoder_file(pair, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    for path, message in ((bad, "not a valid safetensors"), (tmp_path / "none.safetensors", "not found")):
        code, _, err = run(["-c", pair["content"], "-s", pair["a"], "-o", pair["out"], "--decoder", path], capsys)
        assert_bad_input(code, err, pair["out"], path, message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu(pair, capsys):
    code, _, err = run(["-c", pair["content"], "-s", pair["a"], "-o", pair["out"], "--device", "cuda"], capsys)
    assert_bad_input(code, err, pair["out"], "no CUDA GPU")


def test_style_scale_sizes_the_style_to_the_content(pair, tmp_path):
    from adain.apps.files import StylizeOptions, load_pair

    job = load_pair(pair["content"], [pair["a"], pair["b"]], StylizeOptions(style_scale=0.5))
    assert [min(s.shape[-2:]) for s in job.styles] == [18, 18]  # half of the content's 37 px
    job = load_pair(pair["content"], [pair["a"]], StylizeOptions(style_scale=2.0, content_size=20))
    assert min(job.styles[0].shape[-2:]) == 40  # twice the resized content's shorter side


def test_folder_mode_with_method_and_style_scale(image_dir, tmp_path, fast_models, capsys):
    out = tmp_path / "out"
    code, _, err = run(["-c", image_dir / "content", "-s", image_dir / "style", "-o", out, "--decoder", fast_models,
                        "--method", "wct", "--style-scale", "1"], capsys)
    assert code == 0, err
    assert len(list(out.iterdir())) == 9


def test_flat_style_is_a_one_line_error(pair, tmp_path, fast_models, capsys):
    red = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (200, 20, 20)).save(red)
    code, _, err = run(["-c", pair["content"], "-s", red, "-o", pair["out"], "--decoder", fast_models, "--method", "efdm"], capsys)
    assert_bad_input(code, err, pair["out"], red, "flat image")


# ---------------------------------------------------------------- adain texture


def texture(args: list, capsys) -> tuple[int, str, str]:
    code = main(["texture", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("extra", [[], ["--tileable", "--method", "wct"], ["--refine", "2", "--method", "efdm"]], ids=["plain", "tileable-wct", "refine-efdm"])
def test_texture_has_the_asked_size(pair, tmp_path, fast_models, capsys, extra):
    out = tmp_path / "t.png"
    code, stdout, err = texture(["-s", pair["a"], "--size", "40x24", "-o", out, "--decoder", fast_models, "--style-size", "0", *extra], capsys)
    assert code == 0, err
    assert Image.open(out).size == (40, 24) and f"wrote {out}" in stdout


def test_texture_of_a_bundled_style_uses_its_painting(tmp_path, fast_models, capsys):
    out = tmp_path / "t.png"
    code, _, err = texture(["-s", "hokusai", "--size", "32x32", "-o", out, "--decoder", fast_models, "--style-size", "32"], capsys)
    assert code == 0, err
    assert Image.open(out).size == (32, 32)


def test_texture_seed_changes_the_texture(pair, tmp_path, fast_models, capsys):
    outs = []
    for seed in (0, 0, 1):
        outs.append(tmp_path / f"t{len(outs)}.png")
        assert texture(["-s", pair["a"], "--size", "32x32", "-o", outs[-1], "--decoder", fast_models, "--style-size", "0", "--seed", seed], capsys)[0] == 0
    a, b, c = (np.asarray(Image.open(p)) for p in outs)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--size", "41x24", "--tileable"], "multiples of 8, got 41x24 (try 48x24)"),
        (["--size", "40x24", "--refine", "-1"], "--refine must be in 0..1000, got -1"),
    ],
)
def test_texture_bad_input(pair, tmp_path, capsys, extra, message):
    out = tmp_path / "t.png"
    code, _, err = texture(["-s", pair["a"], "-o", out, *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
