"""Where ``export`` may write: never over a user's folder or the run it reads, only into its own export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixture_runs import generate_run

from crescent.config import ExportConfig
from crescent.errors import CrescentError
from crescent.locking import LOCK_NAME, hold_folder
from crescent.publish import export_dataset
from crescent.publish.target import MARKER


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.name != LOCK_NAME and not p.name.startswith("run.sqlite")  # reading a store touches its -shm
    }


def _export(run: Path, to: Path, **options: object):  # type: ignore[no-untyped-def]
    return export_dataset(ExportConfig(run_dir=run, to=to, format="jsonl", **options))


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return generate_run(tmp_path / "run", poison=False)


def test_a_folder_that_looks_like_a_dataset_is_left_alone(run: Path, tmp_path: Path) -> None:
    """Old behaviour: README.md + data/ counted as an earlier export, so data/ was deleted recursively."""
    project = tmp_path / "project"
    (project / "data" / "raw").mkdir(parents=True)
    (project / "data" / "raw" / "survey.csv").write_text("precious")
    (project / "README.md").write_text("# my project\n")
    before = _tree(project)
    with pytest.raises(CrescentError, match=r"holds files that no export of .* wrote .*--overwrite"):
        _export(run, project)
    assert _tree(project) == before


def test_a_run_named_data_survives_an_export_into_its_parent(tmp_path: Path) -> None:
    parent = tmp_path / "work"
    run = generate_run(parent / "data", poison=False)
    (parent / "README.md").write_text("# notes\n")
    before = _tree(parent)
    for overwrite in (False, True):
        with pytest.raises(CrescentError, match="contains the run folder"):
            _export(run, parent, overwrite=overwrite)
    assert _tree(parent) == before


@pytest.mark.parametrize("where", ["run", "run/ds"])
def test_overwrite_never_writes_into_the_run(run: Path, tmp_path: Path, where: str) -> None:
    before = _tree(run)
    with pytest.raises(CrescentError, match="run folder"):
        _export(run, tmp_path / where, overwrite=True)
    assert _tree(run) == before


def test_the_audit_folder_is_protected_too(run: Path, tmp_path: Path) -> None:
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "audit.json").write_text("{}")
    with pytest.raises(CrescentError, match="--audit folder"):
        _export(run, tmp_path / "audit", audit=tmp_path / "audit", overwrite=True)


def test_a_re_export_of_the_same_run_replaces_its_own_files(run: Path, tmp_path: Path) -> None:
    to = tmp_path / "ds"
    _export(run, to)
    assert json.loads((to / MARKER).read_text()) == {"run": str(run.resolve())}
    (to / "data" / "stale.jsonl").write_text("from an older export\n")
    _export(run, to)
    assert not (to / "data" / "stale.jsonl").exists() and (to / "data" / "train.jsonl").is_file()


def test_another_runs_export_needs_overwrite(run: Path, tmp_path: Path) -> None:
    other = generate_run(tmp_path / "other", poison=False, seed=1)
    to = tmp_path / "ds"
    _export(run, to)
    with pytest.raises(CrescentError, match="no export of"):
        _export(other, to)
    _export(other, to, overwrite=True)
    assert json.loads((to / MARKER).read_text()) == {"run": str(other.resolve())}


def test_an_interrupted_export_is_finished_by_its_rerun(run: Path, tmp_path: Path) -> None:
    """The marker is written first: an export stopped before its data still counts as this run's."""
    to = tmp_path / "ds"
    to.mkdir()
    (to / MARKER).write_text(json.dumps({"run": str(run.resolve())}))
    (to / "data").mkdir()  # half written
    _export(run, to)
    assert (to / "README.md").is_file() and (to / "data" / "train.jsonl").is_file()


def test_an_empty_folder_and_a_new_one_are_fine_and_a_held_one_is_refused(run: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _export(run, tmp_path / "empty")
    _export(run, tmp_path / "new" / "ds")
    with hold_folder(tmp_path / "held", "--to"), pytest.raises(CrescentError, match="in use by process"):
        _export(run, tmp_path / "held")
