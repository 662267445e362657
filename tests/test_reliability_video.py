"""Video and data-set runs under hostile input: resolution changes, outputs, signals, skipped files (sizes: tests/test_limits.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from adain.cli import main
from helpers import segment, short_clip, write_image

pytestmark = pytest.mark.usefixtures("one_thread")
HOKUSAI = str(Path(__file__).resolve().parents[1] / "src" / "adain" / "examples" / "style" / "hokusai.jpg")


@pytest.fixture
def fast_models(monkeypatch, tiny_encoder, tmp_path) -> Path:
    from adain.decoder import Decoder, save_decoder

    monkeypatch.setattr("adain.networks.Encoder", lambda **settings: tiny_encoder)
    path = tmp_path / "tiny.safetensors"
    save_decoder(Decoder(width=0.0625), path, {"steps": 0})
    return path


def video(args: list, capsys) -> tuple[int, str]:
    code = main(["video", *map(str, args), "--style-size", "32"])
    return code, capsys.readouterr().err


def one_line(code: int, err: str, *names: object, command: str = "video") -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"adain {command}: error: "), err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def test_resolution_change_mid_stream_keeps_the_first_size(tmp_path, fast_models, capsys):
    clip = tmp_path / "clip.ts"
    clip.write_bytes(segment(tmp_path / "a.ts", (48, 32), 4) + segment(tmp_path / "b.ts", (64, 48), 4, start=4))
    out = tmp_path / "out.mp4"
    code, err = video([clip, out, "-s", HOKUSAI, "--decoder", fast_models], capsys)
    assert code == 0, err
    with av.open(str(out)) as c:
        sizes = {(f.width, f.height) for f in c.decode(video=0)}
    assert sizes == {(48, 32)}


def test_time_stamps_that_go_back_are_written_in_order(tmp_path, fast_models, capsys):
    """Two pieces spliced with overlapping time stamps (and another size): the output is written, not blamed."""
    clip = tmp_path / "clip.ts"
    clip.write_bytes(segment(tmp_path / "a.ts", (48, 32), 6) + segment(tmp_path / "b.ts", (64, 48), 6, start=2))
    out = tmp_path / "out.mp4"
    code, err = video([clip, out, "-s", HOKUSAI, "--decoder", fast_models], capsys)
    assert code == 0, err
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    stamps = [f.pts for f in frames]
    assert len(frames) >= 10 and stamps == sorted(set(stamps)) and {(f.width, f.height) for f in frames} == {(48, 32)}


def test_video_metrics_names_the_file_with_one_frame(tmp_path, capsys):
    clip = tmp_path / "clip.ts"
    clip.write_bytes(short_clip(tmp_path))
    photo = write_image(tmp_path / "photo.jpg", (48, 32))
    for args, blamed, role in (([photo, clip], photo, "input"), ([clip, photo], photo, "output")):
        code = main(["video-metrics", *map(str, args)])
        line = one_line(code, capsys.readouterr().err, blamed, f"the {role} has 1 frame", command="video-metrics")
        assert str(clip) not in line


def test_output_equal_to_an_input_is_refused(tmp_path, capsys):
    clip = tmp_path / "clip.ts"
    data = short_clip(tmp_path)
    clip.write_bytes(data)
    code, err = video([clip, tmp_path / "." / "clip.ts", "-s", HOKUSAI], capsys)
    one_line(code, err, "input")
    assert clip.read_bytes() == data
    style = tmp_path / "style.gif"
    write_image(style, (32, 32))
    code, err = video([clip, style, "-s", style], capsys)
    one_line(code, err, "input")


@pytest.mark.parametrize("extra, message", [(["--crf", "99"], "crf"), (["--batch", "0"], "batch")])
def test_bad_video_options_are_one_line(tmp_path, capsys, extra, message):
    clip = tmp_path / "clip.ts"
    clip.write_bytes(short_clip(tmp_path))
    code, err = video([clip, tmp_path / "out.mp4", "-s", HOKUSAI, *extra], capsys)
    one_line(code, err, message)


def test_unwritable_output_folder_is_one_line(tmp_path, fast_models, capsys):
    clip = tmp_path / "clip.ts"
    clip.write_bytes(short_clip(tmp_path))
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out.mp4"
    code, err = video([clip, out, "-s", HOKUSAI, "--decoder", fast_models], capsys)
    one_line(code, err, out)


def test_sigterm_leaves_no_temp_file_and_stale_ones_are_swept(tmp_path):
    clip = tmp_path / "clip.ts"
    clip.write_bytes(segment(tmp_path / "a.ts", (64, 48), 600))
    out = tmp_path / "out" / "result.mp4"
    out.parent.mkdir()
    stale = out.parent / f".result.{2**22 + 7}-0123abcd.tmp.mp4"  # left by a killed run (no such process)
    stale.write_bytes(b"x")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "adain.cli", "video", str(clip), str(out), "-s", HOKUSAI, "--style-size", "32"],
                            env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not [p for p in out.parent.iterdir() if p != stale]:
        time.sleep(0.1)
    assert not stale.exists()  # swept at the start
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode != 0 and "Traceback" not in err, err
    assert list(out.parent.iterdir()) == []


def test_dataset_skipped_files_give_a_count_and_exit_2(tmp_path, fast_models, capsys):
    for i in range(2):
        write_image(tmp_path / "src" / f"c{i}.png", (40, 32), seed=i)
        write_image(tmp_path / "styles" / f"s{i}.png", (32, 32), seed=9 + i)
    (tmp_path / "src" / "broken.jpg").write_bytes(b"not a jpeg")
    folders = [str(tmp_path / "src"), str(tmp_path / "styles"), str(tmp_path / "out")]
    code = main(["stylize-dataset", *folders, "--style-size", "32", "--decoder", str(fast_models)])
    captured = capsys.readouterr()
    assert code == 2
    assert "1 of 3" in captured.err.strip().splitlines()[-1]
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


def test_dataset_into_an_unwritable_folder_is_one_line(tmp_path, fast_models, capsys):
    write_image(tmp_path / "src" / "c.png", (40, 32))
    write_image(tmp_path / "styles" / "s.png", (32, 32))
    (tmp_path / "file").write_text("x")
    code = main(["stylize-dataset", str(tmp_path / "src"), str(tmp_path / "styles"), str(tmp_path / "file" / "out"), "--decoder", str(fast_models)])
    one_line(code, capsys.readouterr().err, tmp_path / "file", command="stylize-dataset")
