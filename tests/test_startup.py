"""Whole-process timings (``adain bench --whole-process``), with cheap stand-in commands."""

from __future__ import annotations

import sys

import pytest

from adain.evaluation import startup
from adain.evaluation.startup import (
    IMPORT_TORCH,
    PEER,
    ProcessTiming,
    commands,
    run_whole_process,
    time_process,
    whole_process_markdown,
)


def test_time_process_counts_the_child_cpu_time():
    wall, cpu = time_process([sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass"])
    assert cpu >= 0.2
    assert wall >= cpu * 0.5


def test_time_process_failure_names_the_command_and_its_error():
    with pytest.raises(RuntimeError, match=r"exit code 3: boom"):
        time_process([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"])


def test_commands_write_the_example_pair_at_each_size(tmp_path):
    plan = commands(tmp_path, (32, 48), peer=False)
    labels = [timing.label for timing, _ in plan]
    assert labels == [IMPORT_TORCH, "adain stylize, 32 px", "adain stylize --model lite, 32 px", "adain stylize, 48 px", "adain stylize --model lite, 48 px"]
    assert plan[2][1][-2:] == ["--model", "lite"]
    argv = plan[1][1]
    assert argv[:4] == [sys.executable, "-m", "adain.cli", "stylize"]
    assert (tmp_path / "content32.jpg").is_file() and (tmp_path / "style48.jpg").is_file()
    with_int8 = commands(tmp_path, (32,), peer=False, int8=True)
    assert [t.label for t, _ in with_int8][3] == "adain stylize --precision int8, 32 px" and with_int8[3][1][-2:] == ["--precision", "int8"]


def test_runs_are_interleaved_after_an_untimed_round(tmp_path, monkeypatch):
    log = tmp_path / "log"

    def step(name: str) -> list[str]:
        return [sys.executable, "-c", f"open({str(log)!r}, 'a').write({name!r})"]

    def fake_commands(folder, sizes, peer, int8):
        return [
            (ProcessTiming(IMPORT_TORCH, None), step("i")),
            (ProcessTiming("adain stylize, 32 px", 32), step("a")),
            (ProcessTiming(f"{PEER} x, 32 px", 32), step("p")),
        ]

    monkeypatch.setattr(startup, "commands", fake_commands)
    timings = run_whole_process(tmp_path, sizes=(32,), runs=2)
    assert log.read_text() == "iap" * 3
    assert [len(t.wall) for t in timings] == [2, 2, 2]
    table = whole_process_markdown(timings)
    assert "| adain stylize, 32 px |" in table and "median of 2 interleaved runs" in table
    row = next(line for line in table.splitlines() if line.startswith("| adain"))
    adain, peer = timings[1], timings[2]
    assert row.endswith(f"| {adain.seconds / peer.seconds:.2f} |")


def test_runs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="runs"):
        run_whole_process(tmp_path, runs=0)
