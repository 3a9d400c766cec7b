"""Files crescent writes at a path the user names (``report --out``, ``eval compare --out``).

Such a path may already hold anything: a run's ``run.sqlite``, its ``data.jsonl``, a user's notes. Each
kind of output carries a signature near its start (a ``<meta name="generator">`` tag in a report, a
``kind`` key in a comparison), and an existing file is replaced only when it carries the same one: it is
an earlier output of that very kind, which the user asked to refresh.
"""

from __future__ import annotations

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
