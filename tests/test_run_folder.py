"""The run-folder lifecycle every writing command shares: check, lock, fingerprint, resume or refuse.

The commands' own tests (and ``test_bad_inputs.py``) show each command refusing through it; here each stage
is tested once, and the last tests show that no command has a lifecycle of its own beside this one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from crescent import interrupts
from crescent.config import EvalConfig
from crescent.errors import ConfigMismatch, CrescentError
from crescent.locking import LOCK_NAME
from crescent.run_folder import (
    RunFolder,
    bind_store,
    file_sha256,
    fingerprint,
    input_hashes,
    read_record,
    resumes,
    write_record,
)
from crescent.store import STORE_NAME, RunStore

SRC = Path(__file__).resolve().parents[1] / "src" / "crescent"
HOME = SRC / "run_folder.py"
BENCH = '{"question": "Ava has 3 apples and buys 5 more. How many now?", "answer": "8"}\n'


def _sources() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in sorted(SRC.rglob("*.py"))}


def _folder(out: Path) -> RunFolder:
    return RunFolder(out, "test", "record.json")


# check


def test_a_file_in_the_way_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(CrescentError) as refused:
        _folder(tmp_path / "afile").check()
    assert (
        str(refused.value)
        == f"--out {tmp_path / 'afile'} is a file, not a directory; choose a directory path"
    )
    assert (tmp_path / "afile").read_text() == "mine"


def test_a_folder_of_other_files_is_refused_and_says_whose_they_are(tmp_path: Path) -> None:
    foreign, other_run = tmp_path / "foreign", tmp_path / "other"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    other_run.mkdir()
    (other_run / LOCK_NAME).write_text("")
    (other_run / "results.json").write_text("{}")
    with pytest.raises(CrescentError) as refused:
        _folder(foreign).check()
    assert str(refused.value) == (
        f"--out {foreign} is not empty and holds no crescent test run (it holds files of its own); "
        "choose an empty or new directory"
    )
    with pytest.raises(
        CrescentError, match=r"holds no crescent test run \(it holds another crescent command's"
    ):
        _folder(other_run).check()
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_a_new_folder_an_empty_one_and_the_commands_own_run_pass_and_nothing_is_created(
    tmp_path: Path,
) -> None:
    _folder(tmp_path / "new" / "run").check()
    assert not (tmp_path / "new").exists()  # the write probe leaves nothing behind
    only_lock, own = tmp_path / "only-lock", tmp_path / "own"
    only_lock.mkdir()
    (only_lock / LOCK_NAME).write_text("")  # what any finished or failed command leaves
    own.mkdir()
    (own / "record.json").write_text("{}")
    (own / "model.bin").write_text("")
    _folder(only_lock).check()
    _folder(own).check()


def test_an_unwritable_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(CrescentError, match=r"/proc/crescent-test-run"):
        _folder(Path("/proc/crescent-test-run")).check()


# lock


def test_hold_locks_reports_what_is_saved_and_takes_away_a_folder_it_made(tmp_path: Path) -> None:
    out = tmp_path / "new" / "run"
    watch = interrupts.Interrupts(report=lambda message: None)
    watch.received = signal.SIGINT
    with _folder(out).hold(lambda: "saved 3 rows") as held:
        assert held == out and (out / LOCK_NAME).read_text().strip() == str(os.getpid())
        assert watch.message() == "interrupted by SIGINT; saved 3 rows: rerun the same command to resume"
        with (
            pytest.raises(CrescentError, match=f"in use by process {os.getpid()}; wait for it"),
            _folder(out).hold(),
        ):
            pass
    assert watch.message() == "interrupted by SIGINT"  # the run no longer speaks once it is closed
    with pytest.raises(RuntimeError), _folder(tmp_path / "failed").hold():
        raise RuntimeError("fails before writing anything")
    assert not (tmp_path / "failed").exists()
    (tmp_path / "afile").write_text("")
    with pytest.raises(CrescentError, match="is a file"), _folder(tmp_path / "afile").hold():
        pytest.fail("the block must not run")


# fingerprint


def test_the_fingerprint_leaves_out_the_resumable_options_and_binds_inputs_by_content(tmp_path: Path) -> None:
    data, moved = tmp_path / "bench.jsonl", tmp_path / "elsewhere" / "bench.jsonl"
    data.write_text(BENCH)
    moved.parent.mkdir()
    shutil.copy(data, moved)
    first = EvalConfig(out=tmp_path / "a", data=data, threads=1)
    rerun = EvalConfig(out=tmp_path / "b", data=moved, threads=2, limit=5)  # location, input, runtime, extent
    assert fingerprint(first, {"data": first.data}) == fingerprint(rerun, {"data": rerun.data})
    bound = fingerprint(first, {"data": data, "fewshot": None, "against": [data, moved]})
    assert list(bound)[-3:] == ["data_sha256", "fewshot_sha256", "against_sha256"]  # in the order given
    assert bound["data_sha256"] == file_sha256(data) == bound["against_sha256"][1]
    assert bound["fewshot_sha256"] is None and "out" not in bound and "threads" not in bound
    assert fingerprint(first, ignore=frozenset({"votes"})).keys() == bound.keys() - {
        "votes",
        "data_sha256",
        "fewshot_sha256",
        "against_sha256",
    }
    moved.write_text(BENCH.replace("5 more", "6 more"))
    assert input_hashes({"data": moved}) != input_hashes({"data": data})
    assert fingerprint(EvalConfig(out=tmp_path, data=data, votes=3)) != fingerprint(first)  # votes bind
    with pytest.raises(CrescentError, match=r"cannot read .*missing\.jsonl"):
        input_hashes({"data": tmp_path / "missing.jsonl"})


# resume or refuse


def test_same_fingerprint_resumes_another_is_refused_and_no_work_binds_afresh(tmp_path: Path) -> None:
    assert not resumes(tmp_path, {"a": 1}, None)
    assert resumes(tmp_path, {"a": 1, "s": {"b": 2}}, {"s": {"b": 2}, "a": 1})
    with pytest.raises(ConfigMismatch) as refused:
        resumes(tmp_path, {"a": 1, "s": {"b": 3}}, {"a": 1, "s": {"b": 2}})
    assert str(refused.value) == (
        f"{tmp_path} holds a run with a different config (s.b: 2 -> 3); "
        "rerun with the original options or use a new --out directory"
    )


def test_a_json_record_round_trips_and_an_unreadable_one_is_one_line(tmp_path: Path) -> None:
    record = tmp_path / "run" / "record.json"
    assert read_record(record) is None
    write_record(record, {"a": 1})
    assert record.read_text() == '{\n  "a": 1\n}\n' and read_record(record) == {"a": 1}
    (tmp_path / "summary.json").write_text(json.dumps({"n": 3, "fingerprint": {"a": 1}}))
    assert read_record(tmp_path / "summary.json", "fingerprint") == {"a": 1}
    record.write_text("{half")
    with pytest.raises(CrescentError, match=r"record\.json is unreadable \(.*\); use a new --out"):
        read_record(record)


def test_a_store_binds_when_it_holds_no_work_and_checks_when_it_does(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "", kind="test")
    try:
        assert not bind_store(store, {"a": 1}, holds_work=False)
        assert not bind_store(store, {"a": 2}, holds_work=False)  # nothing produced: rebinds
        assert store.get_meta("config") == {"a": 2}
        assert bind_store(store, {"a": 2}, holds_work=True)
        with pytest.raises(ConfigMismatch, match=r"different config \(a: 2 -> 3\)"):
            bind_store(store, {"a": 3}, holds_work=True)
        assert store.get_meta("config") == {"a": 2}
    finally:
        store.close()
    assert (tmp_path / STORE_NAME).is_file()


# one home


def test_the_is_a_file_refusal_is_written_once() -> None:
    homes = {path: text.count("is a file, not a directory") for path, text in _sources().items()}
    assert {path: n for path, n in homes.items() if n} == {HOME: 1}


def test_input_files_are_hashed_into_a_fingerprint_in_one_place_only() -> None:
    """Only run_folder.py builds a ``*_sha256`` key, hashes a file, or compares a run's fingerprint."""
    rules = {
        "builds a *_sha256 key": re.compile(r"""["']\w+_sha256["']\s*(?::|\]\s*=)"""),
        "hashes a file": re.compile(r"def file_sha256\b|hashlib\.sha256\("),
        "compares a fingerprint": re.compile(r"(?<!def )check_same_config\("),
    }
    # catalog.py checks downloaded model parts against their published sha256, which binds no run
    allowed = {"hashes a file": {Path("catalog.py")}}
    found = {
        (path.relative_to(SRC), rule)
        for path, text in _sources().items()
        for rule, pattern in rules.items()
        if pattern.search(text) and path != HOME and path.relative_to(SRC) not in allowed.get(rule, set())
    }
    assert found == set()
    home = HOME.read_text()
    assert all(pattern.search(home) for rule, pattern in rules.items() if rule != "builds a *_sha256 key")
    assert 'f"{name}_sha256"' in home


def test_every_command_that_writes_a_folder_locks_it_through_the_lifecycle() -> None:
    """``hold_folder`` is called only by ``RunFolder.hold`` (and by export for its ``--to`` dataset
    folder, whose checks are publish/target.py's); each writing command holds a ``RunFolder``."""
    callers = {path.relative_to(SRC) for path, text in _sources().items() if "hold_folder(" in text}
    assert callers == {Path("locking.py"), Path("run_folder.py"), Path("publish/__init__.py")}
    drivers = ["session.py", "train/run.py", "eval/contamination.py", "train/improve.py", "train/prune.py"]
    for driver in drivers:
        assert "RunFolder(" in (SRC / driver).read_text(), driver
    for driver in ["pipeline/generate.py", "eval/run.py", "eval/audit.py"]:  # store-backed: through open_run
        assert "open_run(" in (SRC / driver).read_text(), driver
