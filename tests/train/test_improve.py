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
        "generate": {"backend": "fake", "questions": 4, "votes": 3},
        "train": {"max_steps": 2, "batch_size": 2},
        "eval": {"backend": "fake", "data": str(_eval_data(tmp_path / "bench.jsonl"))},
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
    assert page.count("<svg") == 3 and "<img" not in page

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


def test_every_section_option_reaches_its_step(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """Options only ``generate``/``train``/``eval`` know (filters, thresholds, bait prompt) get there."""
    import crescent.eval.run
    import crescent.pipeline.generate
    import crescent.train.run
    from crescent.config import GenerateConfig, TrainConfig

    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    def fake_generate(config: GenerateConfig):
        seen["generate"] = config
        raise Stop

    def fake_eval(config):
        seen["eval"] = config
        out = config.out
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps({"accuracy": 0.0, "n": 1, "ci95": [0, 1]}))

    monkeypatch.setattr(crescent.pipeline.generate, "generate", fake_generate)
    monkeypatch.setattr(crescent.eval.run, "evaluate", fake_eval)
    values = _config(tiny_model_dir, tmp_path, tmp_path / "run")
    values["generate"] |= {"dedup_threshold": 0.9, "min_consensus": 0.7, "bait_prompt": "Write a puzzle."}
    values["generate"] |= {"arithmetic_check": False, "seed": 5}
    with pytest.raises(Stop):
        improve(ImproveConfig(**values))
    generated = seen["generate"]
    assert isinstance(generated, GenerateConfig)
    assert (generated.dedup_threshold, generated.min_consensus, generated.bait_prompt) == (
        0.9,
        0.7,
        "Write a puzzle.",
    )
    assert not generated.arithmetic_check and generated.seed == 6  # seed + round
    assert generated.out == tmp_path / "run" / "round-1" / "data"
    assert Path(values["eval"]["data"]) in generated.exclude and generated.threads == 1
    assert seen["eval"].limit is None and seen["eval"].backend == "fake"
    assert TrainConfig(**{**values["train"], "data": "x", "out": "y"}).max_steps == 2


def test_improve_cli_takes_dotted_section_flags(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crescent.cli import app

    result = CliRunner().invoke(app, ["improve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--generate.dedup-threshold", "--generate.min-consensus", "--train.lora", "--eval.limit"):
        assert flag in result.output
    assert "--generate.out" not in result.output and "--train.data" not in result.output


def test_contradicting_rerun_stops(tiny_model_dir: Path, tmp_path: Path) -> None:
    values = _config(tiny_model_dir, tmp_path, tmp_path / "run")
    (tmp_path / "run").mkdir()
    _bind(ImproveConfig(**{**values, "rounds": 5}))
    with pytest.raises(ConfigMismatch, match="rounds"):
        improve(ImproveConfig(**values))


def test_dpo_rounds_train_on_the_pairs_next_to_the_data(tiny_model_dir: Path, tmp_path: Path) -> None:
    from crescent.errors import CrescentError
    from crescent.train.improve import _train

    from .conftest import write_chat_rows, write_pairs

    values = _config(tiny_model_dir, tmp_path, tmp_path / "run")
    values["train"] |= {"method": "dpo", "max_steps": 1, "gguf": False}
    config = ImproveConfig(**values)
    data = write_chat_rows(tmp_path / "data.jsonl")
    with pytest.raises(CrescentError, match=r"holds no pairs\.jsonl: --train\.method dpo needs"):
        _train(config, str(tiny_model_dir), data, tmp_path / "train-a")
    write_pairs(tmp_path / "pairs.jsonl")
    trained = _train(config, str(tiny_model_dir), data, tmp_path / "train-b")
    stats = json.loads((trained / "train_stats.json").read_text())
    assert stats["method"] == "dpo" and stats["rows"] == 4 and stats["steps"] == 1
