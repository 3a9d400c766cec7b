"""Files crescent writes at a path the user names (``report --out``, ``eval compare --out``).

Such a path may already hold anything: a run's ``run.sqlite``, its ``data.jsonl``, a user's notes. Each
kind of output carries a signature near its start (a ``<meta name="generator">`` tag in a report, a
``kind`` key in a comparison), and an existing file is replaced only when it carries the same one: it is
an earlier output of that very kind, which the user asked to refresh.

Outputs are written beside their final path first and moved into place (``temp_beside``), and that temp
file must be crescent's own too.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crescent.errors import CrescentError

HEAD_BYTES = 4096  # every signature sits in the first lines of its file


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


@contextmanager
def temp_beside(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A new, empty file in ``path``'s folder for an output to be written to and then moved onto ``path``;
    removed on the way out unless it was moved.

    Why not ``path + ".tmp"``: a fixed name may be a user's file, and writing to it (or cleaning it up)
    would destroy it. The name here is random and created with ``O_EXCL``, so it named no file before, and
    mode 0o666 lets the umask decide the final file's permissions as for any other output (``mkstemp``
    would leave every output 0600).
    """
    path = Path(path)
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
        try:
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)
