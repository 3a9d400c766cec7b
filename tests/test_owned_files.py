"""``report --out`` and ``eval compare --out`` replace only an earlier output of their own kind; temp files
beside an output are crescent's own and never outlive a killed writer for long."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_runs import eval_run, generate_run

from crescent.config import CompareConfig
from crescent.errors import CrescentError
from crescent.eval.compare import compare
from crescent.owned_files import check_replaceable, temp_beside
from crescent.reports import write_run_report
from crescent.store import write_atomic


def test_only_a_file_with_the_signature_may_be_replaced(tmp_path: Path) -> None:
    check_replaceable(tmp_path / "new.txt", "SIG", "--out", "thing")
    (tmp_path / "ours.txt").write_text("header SIG\nbody")
    check_replaceable(tmp_path / "ours.txt", "SIG", "--out", "thing")
    (tmp_path / "theirs.txt").write_text("notes")
    with pytest.raises(CrescentError, match=r"--out .*theirs.txt exists and is not a thing crescent wrote"):
        check_replaceable(tmp_path / "theirs.txt", "SIG", "--out", "thing")
    with pytest.raises(CrescentError, match="is a folder"):
        check_replaceable(tmp_path, "SIG", "--out", "thing")


def test_report_out_refreshes_a_report_and_never_overwrites_run_files(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "run", poison=False)
    page = tmp_path / "page.html"
    write_run_report(run, page)
    write_run_report(run, page)  # its own earlier report: refreshed
    for victim in ("run.sqlite", "data.jsonl", "stats.json"):
        before = (run / victim).read_bytes()
        with pytest.raises(CrescentError, match="not a report crescent wrote"):
            write_run_report(run, run / victim)
        assert (run / victim).read_bytes() == before


def test_compare_out_refreshes_a_comparison_and_never_overwrites_run_files(tmp_path: Path) -> None:
    run = eval_run(tmp_path)
    out = tmp_path / "ab.json"
    config = CompareConfig(baseline=run, candidate=run, out=out)
    compare(config)
    assert json.loads(out.read_text())["kind"] == "crescent eval compare"
    compare(config)
    for victim in ("predictions.jsonl", "results.json"):
        before = (run / victim).read_bytes()
        with pytest.raises(CrescentError, match="not a comparison crescent wrote"):
            compare(CompareConfig(baseline=run, candidate=run, out=run / victim))
        assert (run / victim).read_bytes() == before


def test_writing_through_a_temp_file_never_touches_a_users_file_of_a_temp_like_name(tmp_path: Path) -> None:
    """``data.jsonl.tmp`` was once crescent's fixed temp name: a user's file so named must survive."""
    for name in ("out.json.tmp", "out.json.partial", ".out.json.tmp"):
        (tmp_path / name).write_text("user notes")
    write_atomic(tmp_path / "out.json", "{}")
    assert (tmp_path / "out.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.json", "out.json.tmp", "out.json.partial", ".out.json.tmp"]
    )
    assert all((tmp_path / n).read_text() == "user notes" for n in ("out.json.tmp", ".out.json.tmp"))


def test_a_temp_file_is_removed_when_the_write_fails_and_the_output_keeps_umask_permissions(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeError), temp_beside(tmp_path / "out.json") as temp:
        assert temp.parent == tmp_path and temp.exists() and temp.name != "out.json"
        temp.write_text("half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "out.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o644


def test_a_killed_writers_temp_file_is_swept_by_the_next_write_and_nothing_else_is(tmp_path: Path) -> None:
    """kill -9 mid-write leaves the temp file behind (gigabytes for a model export): the next write to the
    same output removes it, and leaves a live writer's temp and every other file alone."""
    out = tmp_path / "out.json"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from crescent.owned_files import temp_beside\n"
            "with temp_beside(sys.argv[1]) as t:\n"
            "    t.write_text('half'); print(t.name, flush=True); time.sleep(120)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    leftover = tmp_path / writer.stdout.readline().strip()
    writer.kill()
    writer.wait()
    assert leftover.read_text() == "half" and "crescent" in leftover.name

    live = tmp_path / leftover.name.replace(f"-{writer.pid}-", f"-{os.getpid()}-")
    live.write_text("a live writer's")
    others = {
        ".out.json.crescent-elsewhere-1-0123456789ab.tmp": "another host's",
        leftover.name.replace(".tmp", ".partial"): "another suffix",
        leftover.name.replace("out.json", "notes.txt"): "another output",
        leftover.name + ".bak": "a user's copy",
    }
    for name, text in others.items():
        (tmp_path / name).write_text(text)

    write_atomic(out, "{}")

    assert not leftover.exists() and out.read_text() == "{}"
    assert live.read_text() == "a live writer's"
    assert all((tmp_path / name).read_text() == text for name, text in others.items())
