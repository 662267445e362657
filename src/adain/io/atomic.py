"""Atomic writes: every file adain writes goes to a temp file beside its target and is renamed over it.

So no reader ever sees half a file, an error or a signal leaves the target as it was, and temp files
of killed processes are recognisable (their pid is in the name) and removed by the next write.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from adain.errors import InputError


def make_folder(folder: str | Path) -> Path:
    """Create ``folder`` (and its parents) if needed.

    Raises:
        InputError: it cannot be created (a file in the way, no permission, …).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the folder ({exc.strerror or exc})") from None
    return folder


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: equal once links and ``..`` are resolved, or (both existing) the
    same inode, so a hard link or a bind mount counts too."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def check_not_an_input(output: str | Path, inputs: dict[str, str | Path | None]) -> None:
    """Refuse an ``output`` path that is one of the ``inputs`` (label → path): the one rule of every command
    that writes. Paths are compared after resolving symbolic links and ``..``, and by inode (hard links).

    Raises:
        InputError: writing there would destroy that input (the message names both).
    """
    target = Path(output)
    for label, path in inputs.items():
        if path is not None and _same_file(target, Path(path)):
            raise InputError(f"{output}: is also the {label} input; writing there would destroy it (choose another output)")


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def _temp_path(path: Path) -> Path:
    """``.<stem>.<pid>-<random>.tmp<suffix>`` beside ``path`` (the suffix last, for writers that pick the format from it)."""
    return path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 2**31
    return True


_TEMP_NAME = re.compile(r"^\.(?P<stem>.*)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp(?P<suffix>[^/]*)$")


def temp_target(tmp: Path) -> tuple[Path, int] | None:
    """``(target, pid)`` of a temp file named by :func:`atomic_path`, or ``None`` for any other file."""
    match = _TEMP_NAME.match(tmp.name)
    if match is None:
        return None
    return tmp.with_name(match["stem"] + match["suffix"]), int(match["pid"])


def is_stale(tmp: Path) -> bool:
    """Whether ``tmp`` is a temp file of :func:`atomic_path` whose process is gone."""
    found = temp_target(tmp)
    return found is not None and not _running(found[1])


def sweep_temps(path: str | Path) -> int:
    """Remove the temp files of ``path`` (see :func:`atomic_path`) that killed processes left; returns how many."""
    path = Path(path)
    pattern = f".{glob.escape(path.stem)}.*.tmp{glob.escape(path.suffix)}"
    stale = [t for t in path.parent.glob(pattern) if (found := temp_target(t)) is not None and found[0] == path and is_stale(t)]
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return len(stale)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write; when the block ends it is renamed onto ``path``.

    The result has the permissions of the umask (``0o666 & ~umask``, 0644 by default). On an error, a
    KeyboardInterrupt or a SIGTERM (the CLI turns it into SystemExit) the temp file is removed; one
    that a killed process left behind is removed by the next write of ``path`` (:func:`sweep_temps`).

    Raises:
        InputError: the folder cannot be created, or writing fails (permissions, disk full, …).
    """
    path = Path(path)
    try:
        make_folder(path.parent)
    except InputError as exc:
        raise InputError(f"{path}: cannot write ({exc})") from None
    sweep_temps(path)
    tmp = _temp_path(path)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)


