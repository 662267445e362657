"""atomic_path: a finished file appears whole under its name; a failed write leaves nothing behind."""

from __future__ import annotations

import pytest

from adain.io.atomic import atomic_path


def test_the_file_appears_only_when_the_write_succeeds(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("done")
        assert not target.exists() and tmp.parent == target.parent and tmp.suffix == ".txt"
    assert target.read_text() == "done" and list(target.parent.iterdir()) == [target]


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
