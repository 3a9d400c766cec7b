"""One lifecycle for every command that writes an ``--out`` folder: check, lock, fingerprint, resume, refuse.

datatrove resumes every step of every pipeline by one mechanism (a completion file per finished task, written
by the executor, not by the step); crescent's counterpart is this module. Whatever the command (``generate``,
``eval``, ``audit``, ``train``, ``contamination``, ``improve``, ``prune``), its folder goes through the same
stages, and a command only says what is its own:

1. **check** (``RunFolder.check``): ``--out`` is a directory or does not exist yet, it is empty or holds this
   command's run (its ``marker`` file), and it is writable. Cheap, and made before any model loads.
2. **lock** (``RunFolder.hold``): one process at a time (``crescent.locking``), with the command's account
   of what an interrupt leaves saved.
3. **fingerprint** (``fingerprint``): every option but those whose role the command resumes over
   (``RESUMES_ON`` in ``crescent.config``), plus the sha256 of each input file (``input_hashes``), so a
   moved file is the same run and an edited one is not.
4. **resume or refuse** (``resumes``): a folder that holds work made with the same fingerprint resumes; one
   made with another is refused in one line; a folder that holds no work yet binds afresh.

Where the fingerprint is kept is the command's: the store's ``meta`` for the store-backed runs
(``bind_store``), a JSON record for ``train`` and ``improve``, ``summary.json`` for
``contamination`` (``read_record``/``write_record``). What counts as work is the command's too: committed
rows, a complete checkpoint, a written result.

A module of its own rather than part of ``session.py``: ``session.open_run`` is the store-backed drivers'
(executor, store, tokens meter) and builds on this module, while train, contamination, improve and prune
have no store, no executor and no session; the lifecycle is what all of them share, so it sits between the
store and the drivers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crescent import interrupts
from crescent.config import Options, check_same_config, resumable_changes
from crescent.errors import CrescentError
from crescent.locking import LOCK_NAME, create_folder, hold_folder, remove_created
from crescent.pipeline.sources import open_input
from crescent.store import STORE_NAME, RunStore, holds_files, write_atomic

InputFiles = Path | Sequence[Path] | None
"""One input file, several (``--against``), or none (a key bound to ``null``)."""


@dataclass(frozen=True)
class RunFolder:
    """A command's ``--out``; ``marker`` is the file that says the folder holds this command's run."""

    out: Path
    command: str
    marker: str

    def check(self) -> None:
        """Refuse an ``--out`` this command cannot or must not write into; creates nothing."""
        self.refuse_foreign()
        probe_writable(self.out)

    def refuse_foreign(self) -> None:
        """A file in the way, or a folder holding files crescent did not write for this command: nothing is
        ever written over them."""
        out = Path(self.out)
        if out.exists() and not out.is_dir():
            raise CrescentError(f"--out {out} is a file, not a directory; choose a directory path")
        if out.is_dir() and holds_files(out) and not (out / self.marker).exists():
            crescent_made = (out / LOCK_NAME).exists() or (out / STORE_NAME).exists()
            what = "another crescent command's run" if crescent_made else "files of its own"
            raise CrescentError(
                f"--out {out} is not empty and holds no crescent {self.command} run (it holds {what}); "
                "choose an empty or new directory"
            )

    @contextmanager
    def hold(self, saved: Callable[[], str] | None = None) -> Iterator[Path]:
        """Check ``--out``, then hold its lock until the block ends; ``saved`` says what an interrupt keeps.

        A folder this call created is taken away again when the block fails before writing anything.
        """
        self.check()
        with interrupts.reporting(saved) if saved else nullcontext(), hold_folder(self.out):
            yield self.out


def fingerprint(
    config: Options,
    inputs: Mapping[str, InputFiles] | None = None,
    *,
    ignore: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """What a run is bound to: every option but the ones its command may change on resume (and ``ignore``),
    then ``{name}_sha256`` for each of ``inputs``, in the order given."""
    skipped = resumable_changes(type(config)) | ignore
    options = {k: v for k, v in config.model_dump(mode="json").items() if k not in skipped}
    return options | input_hashes(inputs or {})


def input_hashes(inputs: Mapping[str, InputFiles]) -> dict[str, Any]:
    """``{name}_sha256`` of each input: an input binds a run by its content, never by its path."""
    hashes: dict[str, Any] = {}
    for name, files in inputs.items():
        if files is None or isinstance(files, str | Path):
            hashes[f"{name}_sha256"] = None if files is None else file_sha256(Path(files))
        else:
            hashes[f"{name}_sha256"] = [file_sha256(Path(f)) for f in files]
    return hashes


def file_sha256(path: Path) -> str:
    """Content digest: a resumed run knows it reads the very same file, wherever it was moved. A pipe is
    hashed from the bytes ``open_input`` keeps, so the digest is of the very rows the command reads."""
    digest = hashlib.sha256()
    try:
        with open_input(Path(path)) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise CrescentError(f"cannot read {path}: {exc.strerror}") from exc
    return digest.hexdigest()


def resumes(out: Path, current: dict[str, Any], earlier: dict[str, Any] | None) -> bool:
    """Does this invocation continue the run in ``out``? ``earlier`` is the fingerprint of the work the
    folder holds, ``None`` when it holds none (then the caller records ``current``: options that produced
    nothing have nothing to protect). A different fingerprint is refused in one line."""
    if earlier is None:
        return False
    check_same_config(earlier, current, out)
    return True


def bind_store(store: RunStore, current: dict[str, Any], holds_work: bool) -> bool:
    """``resumes`` for a store-backed run, whose fingerprint is the store's ``config``: recorded, or checked
    when the store holds committed work (``holds_work``, whatever ended the last process)."""
    if resumes(store.directory, current, store.get_meta("config") if holds_work else None):
        return True
    store.set_meta("config", current)
    return False


def read_record(path: Path, key: str | None = None) -> Any:
    """The fingerprint kept in the JSON file ``path`` (under ``key``, if given); ``None`` if no such file."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        return value if key is None else value.get(key)
    except (OSError, ValueError, AttributeError) as exc:
        raise CrescentError(f"{path} is unreadable ({exc}); use a new --out") from exc


def write_record(path: Path, values: dict[str, Any]) -> None:
    """Keep a run's fingerprint in a JSON file of its folder (written whole or not at all)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(values, indent=2) + "\n")
    except OSError as exc:
        raise CrescentError(
            f"cannot write to --out {path.parent}: {exc.strerror}; choose a writable path"
        ) from exc


def probe_writable(directory: Path) -> None:
    """Can ``directory`` be created and written? Checked by doing it, then undoing it (root passes every
    permission check, so asking the OS is not enough); leaves nothing behind."""
    directory = Path(directory)
    missing = create_folder(directory)
    probe = directory / ".crescent-write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CrescentError(f"--out directory {directory} is not writable: {exc.strerror}") from exc
    finally:
        remove_created(missing)
