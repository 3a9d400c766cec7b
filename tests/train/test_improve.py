"""``crescent improve`` on the tiny random model with the fake engine: 2 rounds, killed mid-round, resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from crescent.config import ImproveConfig
from crescent.errors import ConfigMismatch
from crescent.train.improve import _bind, improve


def _eval_data(path: Path) -> Path:
    rows = [
        {
            "id": f"e{i}",
            "question": f"Ava has {i} coins and buys {i + 2} more. How many now?",
            "answer": str(2 * i + 2),
        }
        for i in range(1, 9)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(tiny_model_dir: Path, tmp_path: Path, out: Path) -> dict:
    return {
        "out": str(out),
        "model": str(tiny_model_dir),
        "rounds": 2,
        "questions": 4,
        "votes": 3,
        "eval_data": str(_eval_data(tmp_path / "bench.jsonl")),
        "max_steps": 2,
        "train_batch_size": 2,
        "generate_backend": "fake",
        "quiet": True,
        "threads": 1,
    }


def _shape(value):
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k != "loss_curve"}
    if isinstance(value, list):
        return [type(v).__name__ for v in value]
    return type(value).__name__


@pytest.mark.slow
def test_two_rounds_then_kill_and_resume(tiny_model_dir: Path, tmp_path: Path) -> None:
    reference = improve(ImproveConfig(**_config(tiny_model_dir, tmp_path, tmp_path / "ref")))
    rounds = json.loads(reference.rounds_path.read_text())
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert {"eval", "data", "train", "vs_round_0"} <= set(rounds[2])
    assert rounds[1]["train"]["steps"] == 2 and rounds[1]["data"]["rows"] > 0
    assert 0.0 <= rounds[2]["eval"]["accuracy"] <= 1.0
    assert (tmp_path / "ref" / "round-2" / "train" / "model").is_dir()
    page = reference.report_path.read_text()
    assert page.count("<img") == 3 and "data:image/png;base64," in page

    cfg_path = tmp_path / "improve.yaml"
    out = tmp_path / "killed"
    cfg_path.write_text(yaml.safe_dump(_config(tiny_model_dir, tmp_path, out)))
    cmd = [sys.executable, "-m", "crescent", "improve", "--config", str(cfg_path), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (out / "round-1" / "data" / "data.jsonl").exists():  # killed inside round 1, after its data
        assert proc.poll() is None, proc.stderr.read().decode()[-800:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "round-2").exists()
    subprocess.run(cmd, check=True, capture_output=True)
    resumed = json.loads((out / "rounds.json").read_text())
    assert _shape(resumed) == _shape(rounds)
    assert resumed[1]["data"] == rounds[1]["data"] | {"tokens_per_s": resumed[1]["data"]["tokens_per_s"]}


def test_contradicting_rerun_stops(tiny_model_dir: Path, tmp_path: Path) -> None:
    values = _config(tiny_model_dir, tmp_path, tmp_path / "run")
    (tmp_path / "run").mkdir()
    _bind(ImproveConfig(**{**values, "rounds": 5}))
    with pytest.raises(ConfigMismatch, match="rounds"):
        improve(ImproveConfig(**values))
