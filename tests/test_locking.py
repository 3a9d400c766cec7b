"""One process per output folder: every writing command refuses a folder another process holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run_cli

from crescent.errors import CrescentError
from crescent.locking import LOCK_NAME, hold_folder

BENCH = [{"question": "Ava has 3 apples and buys 5 more. How many now?", "answer": "8"}]
CHAT = {"messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]}


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    with hold_folder(tmp_path / "run"):
        assert (tmp_path / "run" / LOCK_NAME).read_text().strip() == str(os.getpid())
        with (
            pytest.raises(
                CrescentError,
                match=rf"run is in use by process {os.getpid()}; wait for it or use another --out",
            ),
            hold_folder(tmp_path / "run"),
        ):
            pass
    with hold_folder(tmp_path / "run"):  # released on exit
        pass


def test_a_folder_made_for_a_failed_command_is_removed_again(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), hold_folder(tmp_path / "new" / "run"):
        raise RuntimeError("fails before writing anything")
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    with pytest.raises(RuntimeError), hold_folder(kept):
        (kept / "work.txt").write_text("saved")
        raise RuntimeError("fails after writing")
    assert (kept / "work.txt").read_text() == "saved"


def test_the_kernel_releases_the_lock_of_a_killed_process(tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"from crescent.locking import hold_folder\nimport time\nwith hold_folder({str(run)!r}):\n"
         "    print('held', flush=True)\n    time.sleep(600)"],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(CrescentError, match=f"in use by process {holder.pid};"), hold_folder(run):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with hold_folder(run):
        pass


def test_two_generate_runs_on_one_out_do_not_race(tmp_path: Path) -> None:
    """The first holds --out; the second stops at once with one line naming it, and the first finishes."""
    out = tmp_path / "run"
    argv = ["generate", "--backend", "fake", "--model", "delay=0.5", "--questions", "6", "--votes", "3",
            "--quiet", "--out", str(out)]  # fmt: skip
    first = subprocess.Popen(
        [sys.executable, "-m", "crescent", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / "run.sqlite").exists():
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    second = subprocess.run([sys.executable, "-m", "crescent", *argv], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    assert second.returncode == 2
    assert second.stderr.strip() == (
        f"error: {out} is in use by process {first.pid}; wait for it or use another --out"
    )
    assert (out / "stats.json").is_file()


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    (tmp_path / "bench.jsonl").write_text(json.dumps(BENCH[0]) + "\n")
    (tmp_path / "chat.jsonl").write_text(json.dumps(CHAT) + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["generate", "--backend", "fake", "--questions", "2", "--out", "{R}/held"], "--out"),
        (["eval", "--backend", "fake", "--data", "{R}/bench.jsonl", "--out", "{R}/held"], "--out"),
        (["audit", "--backend", "fake", "--data", "{R}/bench.jsonl", "--out", "{R}/held"], "--out"),
        (["train", "--data", "{R}/chat.jsonl", "--out", "{R}/held"], "--out"),
        (["contamination", "--no-embeddings", "--data", "{R}/bench.jsonl", "--against", "{R}/bench.jsonl",
          "--out", "{R}/held"], "--out"),
        (["improve", "--eval.backend", "fake", "--eval.data", "{R}/bench.jsonl", "--out", "{R}/held"],
         "--out"),
    ],
    ids=["generate", "eval", "audit", "train", "contamination", "improve"],
)  # fmt: skip
def test_every_writing_command_refuses_a_held_folder(
    inputs: Path, argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    held = inputs / "held"
    with hold_folder(held):  # another open file description: conflicts even within this process
        code, _, err = run_cli([a.replace("{R}", str(inputs)) for a in [*argv, "--quiet"]], capsys)
    assert code == 2
    assert (
        err.strip()
        == f"error: {held} is in use by process {os.getpid()}; wait for it or use another {option}"
    )
    assert [p.name for p in held.iterdir()] == [LOCK_NAME]  # nothing written
