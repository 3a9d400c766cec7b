"""Where ``export`` may write: a new or empty folder, or one that an earlier export of the same run made.

An export replaces ``--to/README.md`` and ``--to/data/`` wholesale, so a folder that merely looks like a
dataset (any README.md and data/, a user's project) must not qualify. Each export leaves a marker naming
its run; without one, only ``--overwrite`` lets export replace those two entries, and even then it never
writes into, above or over the folders it reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from crescent.config import ExportConfig
from crescent.errors import CrescentError
from crescent.store import holds_files, write_atomic

MARKER = ".crescent-export.json"
"""Written into ``--to`` before anything else, so an interrupted export is recognised by its rerun."""


def check_target(config: ExportConfig) -> None:
    """A one-line refusal unless ``config.to`` is a folder this export may fill."""
    to = config.to
    for label, source in (("run folder", config.run_dir), ("--audit folder", config.audit)):
        if source is not None:
            _keep_apart(to, Path(source), label)
    if to.exists() and not to.is_dir():
        raise CrescentError(f"--to {to} is a file; pass a folder for the dataset")
    if not to.is_dir() or not holds_files(to) or config.overwrite:
        return
    if exported_from(to) == _identity(config.run_dir):
        return
    names = sorted(p.name for p in to.iterdir())
    raise CrescentError(
        f"--to {to} holds files that no export of {config.run_dir} wrote ({', '.join(names[:3])}); pass an "
        "empty or new folder, or --overwrite to replace its README.md and data/"
    )


def mark_export(to: Path, run_dir: Path) -> None:
    write_atomic(to / MARKER, json.dumps({"run": _identity(run_dir)}) + "\n")


def exported_from(to: Path) -> str | None:
    """The run an earlier export into ``to`` came from, if a readable marker says so."""
    try:
        marker = json.loads((to / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker.get("run") if isinstance(marker, dict) else None


def _identity(run_dir: Path) -> str:
    return str(Path(run_dir).resolve())


def _keep_apart(to: Path, source: Path, label: str) -> None:
    """``--overwrite`` or not, export never replaces a folder it reads, one inside it or one above it."""
    target, read = to.resolve(), source.resolve()
    if target == read:
        where = f"is the {label} itself"
    elif read.is_relative_to(target):
        where = f"contains the {label} {source}"
    elif target.is_relative_to(read):
        where = f"is inside the {label} {source}"
    else:
        return
    raise CrescentError(f"--to {to} {where}; pass a new folder for the dataset, outside it")
