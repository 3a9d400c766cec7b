"""Files crescent writes at a path the user names (``report --out``, ``eval compare --out``).

Such a path may already hold anything: a run's ``run.sqlite``, its ``data.jsonl``, a user's notes. Each
kind of output carries a signature near its start (a ``<meta name="generator">`` tag in a report, a
``kind`` key in a comparison), and an existing file is replaced only when it carries the same one: it is
an earlier output of that very kind, which the user asked to refresh.

Outputs are written beside their final path first and moved into place (``temp_beside``), and that temp
file must be crescent's own too. A writer killed with ``kill -9`` leaves its temp file behind (for a model
export, gigabytes); the next write to the same output removes it, because the name says which process on
which host made it and that process is gone.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crescent.errors import CrescentError

HEAD_BYTES = 4096  # every signature sits in the first lines of its file
TEMP_TAG = "crescent"  # in every temp name, so a leftover says who wrote it


def check_replaceable(path: Path, signature: str, option: str, what: str) -> None:
    """Refuse, in one line, to write ``path`` unless it is new or an earlier ``what`` crescent wrote."""
    path = Path(path)
    if path.is_dir():
        raise CrescentError(f"{option} {path} is a folder; pass a file path")
    if not path.exists():
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as exc:
        raise CrescentError(f"cannot read the existing {option} {path}: {exc.strerror}") from exc
    if signature.encode() not in head:
        raise CrescentError(
            f"{option} {path} exists and is not a {what} crescent wrote, so it is left alone; pass a new "
            "file path (or remove that file first)"
        )


def _host() -> str:
    """This host's name as it may appear in a file name (no dots or dashes: they separate the fields)."""
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def _temp_name(path: Path, suffix: str, pid: int, token: str) -> str:
    return f".{path.name}.{TEMP_TAG}-{_host()}-{pid}-{token}{suffix}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_dead_temps(path: Path, suffix: str = ".tmp") -> list[Path]:
    """Remove the temp files that killed writers of ``path`` left beside it; return what was removed.

    Only names of ``temp_beside``'s exact shape for this output and suffix, made on this host by a process
    that no longer runs: a live writer's file (this process's included) and anything of another shape are
    never touched. A reused pid only keeps a leftover a while longer.
    """
    path = Path(path)
    shape = re.compile(
        re.escape(f".{path.name}.{TEMP_TAG}-{_host()}-") + r"(\d+)-[0-9a-f]{12}" + re.escape(suffix) + r"\Z"
    )
    removed = []
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return removed
    for sibling in siblings:
        match = shape.match(sibling.name)
        if match and not _alive(int(match.group(1))) and sibling.is_file() and not sibling.is_symlink():
            sibling.unlink(missing_ok=True)
            removed.append(sibling)
    return removed


@contextmanager
def temp_beside(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A new, empty file in ``path``'s folder for an output to be written to and then moved onto ``path``;
    removed on the way out unless it was moved.

    Why not ``path + ".tmp"``: a fixed name may be a user's file, and writing to it (or cleaning it up)
    would destroy it. The name here is random and created with ``O_EXCL``, so it named no file before, and
    mode 0o666 lets the umask decide the final file's permissions as for any other output (``mkstemp``
    would leave every output 0600). It also carries this host and pid, so that a leftover of a killed
    writer is recognised and swept by the next write (``sweep_dead_temps``).
    """
    path = Path(path)
    sweep_dead_temps(path, suffix)
    while True:
        temp = path.with_name(_temp_name(path, suffix, os.getpid(), secrets.token_hex(6)))
        try:
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)
