"""One process at a time per output folder: an exclusive OS lock on a file inside it.

Every command that writes a folder (``generate``, ``eval``, ``audit``, ``train``, ``contamination``,
``improve``, ``prune``: through ``crescent.run_folder``; the ``export`` target) holds it through
``hold_folder`` while it runs. ``flock`` locks are
released by the kernel when the process ends in any way, kill -9 included, so a crashed run never leaves
a folder locked; a second process is refused at once, with the holder's PID (written into the lock file),
instead of racing the first one into the same store. Python's standard library has the OS call and no
well-kept package adds more than this file does, so it is written here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crescent.errors import CrescentError

LOCK_NAME = ".crescent.lock"
"""The lock file: it stays in the folder after the run (removing it would race a process opening it)."""


def create_folder(directory: Path, option: str = "--out") -> list[Path]:
    """``mkdir -p directory``, a failure as one line naming ``option``; returns the folders it made,
    deepest first, so that a command that then fails can take them away again (``remove_created``)."""
    missing = [d for d in (directory, *directory.absolute().parents) if not d.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CrescentError(
            f"cannot create {option} directory {directory}: {exc.strerror}; choose a writable path"
        ) from exc
    return missing


@contextmanager
def hold_folder(directory: Path, option: str = "--out") -> Iterator[Path]:
    """Create ``directory`` if needed and hold its lock until the block ends.

    On an error, a folder this call created is removed again when only the lock file is left in it, so
    a command that fails before writing anything leaves no trace.
    """
    directory = Path(directory)
    missing = create_folder(directory, option)
    lock = directory / LOCK_NAME
    created_lock = not lock.exists()
    try:
        fd = _acquire(directory, option)
    except BaseException:
        remove_created(missing)
        raise
    try:
        yield directory
    except BaseException:
        if created_lock and _only_the_lock_left(directory):
            lock.unlink(missing_ok=True)  # still held, so nobody else is using it
            os.close(fd)
            fd = -1
            remove_created(missing)
        raise
    finally:
        if fd >= 0:
            os.close(fd)  # closing the only descriptor releases the lock


def _acquire(directory: Path, option: str) -> int:
    path = directory / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CrescentError(
                f"cannot write the lock file {path}: {exc.strerror}; choose a writable {option}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise CrescentError(
                f"{directory} is in use by process {holder}; wait for it or use another {option}"
            ) from None
        except OSError as exc:  # a file system without locks (some network mounts)
            os.close(fd)
            raise CrescentError(
                f"cannot lock {path}: {exc.strerror}; use an {option} folder on a local disk"
            ) from exc
        # A holder that failed early may have removed the file between our open and our lock: then we
        # hold a lock on a file nobody else will ever open, so start again on the current one.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            directory.mkdir(parents=True, exist_ok=True)
            continue
        mine = os.fstat(fd)
        if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd


def _only_the_lock_left(directory: Path) -> bool:
    try:
        return [p.name for p in directory.iterdir()] == [LOCK_NAME]
    except OSError:
        return False


def remove_created(missing: list[Path]) -> None:
    """Take away the folders ``create_folder`` made, where they are still empty."""
    for created in missing:  # deepest first
        with contextlib.suppress(OSError):
            created.rmdir()
