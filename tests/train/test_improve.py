"""``crescent improve`` on the tiny random model with the fake engine: 2 rounds, killed mid-round, resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from crescent.config import ImproveConfig
from crescent.errors import ConfigMismatch
from crescent.results.eval import EvalResults
from crescent.train.improve import _bind, improve


def _eval_data(path: Path) -> Path:
    """Eight sum questions; the odd ones have a one-step GSM8K-style solution, the others none."""
    rows = [
        {
            "id": f"e{i}",
            "question": f"Ava has {i} coins and buys {i + 2} more. How many now?",
            "answer": str(2 * i + 2),
        }
        | ({"solution": f"{i} + {i + 2} = <<{i}+{i + 2}={2 * i + 2}>>{2 * i + 2}"} if i % 2 else {})
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
    for r in rounds:  # accuracy by depth per round: 4 one-step items, 4 without a solution
        assert {b["depth"]: b["n"] for b in r["eval"]["by_depth"] if b["n"]} == {"1": 4, "unknown": 4}
    paired = rounds[2]["vs_round_0"]["by_depth"]
    assert [b["depth"] for b in paired] == ["1", "unknown"] and sum(b["n"] for b in paired) == 8
    assert isinstance(rounds[2]["vs_round_0"]["worse_depths"], list)
    histogram = rounds[1]["data"]["depth_histogram"]
    assert sum(histogram.values()) == rounds[1]["data"]["rows"]
    page = reference.report_path.read_text()
    assert page.count("<svg") == 4 and "<img" not in page
    assert "Depth profile: benchmark vs training data" in page

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
        config.out.mkdir(parents=True, exist_ok=True)
        figures = {"accuracy": 0.0, "correct": 0, "n": 1, "ci95": [0, 1], "extraction_failure_rate": 0.0}
        results = EvalResults.from_json(figures | {"tokens": 0, "wall_s": 0.0, "tokens_per_s": 0.0})
        results.to_dir(config.out)
        return SimpleNamespace(results=results)

    monkeypatch.setattr(crescent.pipeline.generate, "generate", fake_generate)
    monkeypatch.setattr(crescent.eval.run, "evaluate", fake_eval)
    values = _config(tiny_model_dir, tmp_path, tmp_path / "run")
    values["generate"] |= {"dedup_threshold": 0.9, "min_consensus": 0.7, "bait_prompt": "Write a puzzle."}
    values["generate"] |= {
        "arithmetic_check": False,
        "seed": 5,
        "questions_from": str(tmp_path / "seed.jsonl"),
    }
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
    assert generated.questions_from == tmp_path / "seed.jsonl"
    assert generated.out == tmp_path / "run" / "round-1" / "data"
    assert Path(values["eval"]["data"]) in generated.exclude and generated.threads == 1
    assert seen["eval"].limit is None and seen["eval"].backend == "fake"
    assert TrainConfig(**{**values["train"], "data": "x", "out": "y"}).max_steps == 2


def test_improve_cli_takes_dotted_section_flags(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crescent.cli import app

    result = CliRunner().invoke(app, ["improve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    flags = ("--generate.dedup-threshold", "--generate.min-consensus", "--train.lora", "--eval.limit")
    for flag in (*flags, "--generate.questions-from"):
        assert flag in result.output
    assert "--generate.out" not in result.output and "--train.data" not in result.output


def test_distill_is_improve_with_a_required_student(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    from crescent.cli import main
    from crescent.config import DistillConfig

    argv = ["crescent", "distill", "--out", str(tmp_path / "d"), "--eval.data", "x.jsonl"]
    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as stopped:
        patch.setattr(sys, "argv", argv)
        main()
    assert stopped.value.code != 0 and not (tmp_path / "d").exists()
    assert capsys.readouterr().err.strip() == "error: invalid option student: Field required"
    values = _config(tiny_model_dir, tmp_path, tmp_path / "run") | {"student": str(tiny_model_dir)}
    assert DistillConfig(**values).model_dump() == ImproveConfig(**values).model_dump()


def test_a_round_without_kept_rows_stops_with_one_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    from crescent.errors import CrescentError

    values = _config(tiny_model_dir, tmp_path, tmp_path / "run")
    values["generate"] |= {"min_consensus": 0.0, "max_consensus": 0.0}  # every label is dropped
    with pytest.raises(CrescentError, match=r"round 1: the teacher kept no rows in .*round-1/data"):
        improve(ImproveConfig(**values))
    assert not (tmp_path / "run" / "round-1" / "train").exists()


def test_a_file_or_a_foreign_folder_is_refused_before_round_0(tiny_model_dir: Path, tmp_path: Path) -> None:
    from crescent.errors import CrescentError

    (tmp_path / "afile").write_text("mine")
    with pytest.raises(CrescentError, match="is a file, not a directory"):
        improve(ImproveConfig(**_config(tiny_model_dir, tmp_path, tmp_path / "afile")))
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(CrescentError, match="not empty and holds no crescent improve run"):
        improve(ImproveConfig(**_config(tiny_model_dir, tmp_path, tmp_path / "foreign")))
    assert [p.name for p in (tmp_path / "foreign").iterdir()] == ["notes.txt"]


def test_contradicting_rerun_stops(tiny_model_dir: Path, tmp_path: Path) -> None:
    values = _config(tiny_model_dir, tmp_path, tmp_path / "run")
    (tmp_path / "run").mkdir()
    _bind(ImproveConfig(**{**values, "rounds": 5}))
    with pytest.raises(ConfigMismatch, match="rounds"):
        improve(ImproveConfig(**values))


@pytest.mark.slow
def test_distill_the_embedded_gguf_into_a_different_gguf_student_with_lora(tmp_path: Path) -> None:
    """The real path of the teacher -> student run: a GGUF teacher on llama.cpp writes and labels the data
    (here from a seed file), a GGUF student of another architecture (qwen2, as the real run) is loaded from
    its GGUF, trained with LoRA, merged, written back to GGUF and evaluated on llama.cpp; a rerun redoes
    nothing; every record says who taught whom."""
    from tiny_model import build_tiny_model

    from crescent.backends.hf_loading import load_model
    from crescent.config import DistillConfig, ExportConfig
    from crescent.publish import export_dataset
    from crescent.train.gguf_export import export_gguf

    loaded = load_model(str(build_tiny_model(tmp_path, architecture="qwen2")))
    student = export_gguf(loaded.model, tmp_path / "student.gguf", tokenizer=loaded.tokenizer)
    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        "".join(
            json.dumps(
                {"question": f"Tom has {n} apples and eats 1. How many apples are left?", "answer": "x"}
            )
            + "\n"
            for n in (5, 6, 7)
        )
    )
    loose = {"drop_unfinished_votes": False, "shortcut_filter": False, "arithmetic_check": False}
    loose |= {"drop_ties": False, "min_consensus": 0.0, "min_valid_votes": 1}
    config = DistillConfig(
        out=tmp_path / "run",
        student=str(student),
        threads=1,
        quiet=True,
        generate={"questions_from": str(seed), "questions": 2, "votes": 2, "vote_max_tokens": 48}
        | {"n_ctx": 512}
        | loose,
        train={"lora": True, "max_steps": 1, "batch_size": 1, "max_length": 192},
        eval={"data": str(_eval_data(tmp_path / "bench.jsonl")), "limit": 2, "max_tokens": 16, "n_ctx": 512},
    )
    result = improve(config)
    run = tmp_path / "run"
    teacher = "embedded SmolLM2-135M-Instruct (Q4_1 GGUF)"
    assert (result.rounds[1].teacher, result.rounds[1].student) == (teacher, str(student))
    assert result.rounds[1].data.source == f"questions: 2 from {seed.name} (seed augmentation)"
    data_stats = json.loads((run / "round-1" / "data" / "stats.json").read_text())
    assert data_stats["config"]["model"] is None and data_stats["config"]["backend"] == "llamacpp"
    assert result.rounds[1].data.rows > 0
    train_stats = json.loads((run / "round-1" / "train" / "train_stats.json").read_text())
    assert (train_stats["method"], train_stats["weights"], train_stats["steps"]) == ("sft", "lora", 1)
    evaluated = [json.loads((run / f"round-{r}" / "eval" / "results.json").read_text()) for r in (0, 1)]
    trained = run / "round-1" / "train" / "model.gguf"
    assert [e["config"]["model"] for e in evaluated] == [str(student), str(trained)]
    assert train_stats["gguf"] == "model.gguf"  # relative to the run folder
    assert {e["config"]["backend"] for e in evaluated} == {"llamacpp"}
    assert f"{teacher} → {student}" in result.report_path.read_text()

    pytest.importorskip("datasets")
    export_dataset(ExportConfig(run_dir=run / "round-1" / "data", to=tmp_path / "ds", format="jsonl"))
    card = (tmp_path / "ds" / "README.md").read_text()
    assert f"(distillation): teacher `{teacher}`" in card and f"student `{student}`" in card

    trained = run / "round-1" / "train" / "train_stats.json"
    stamp = trained.stat().st_mtime_ns
    again = improve(config)  # every step finds its work done: no sample drawn, no step trained
    assert again.rounds == result.rounds and trained.stat().st_mtime_ns == stamp
    redone = json.loads((run / "round-1" / "data" / "stats.json").read_text())
    assert (redone["sessions"], redone["tokens_generated"]) == (
        data_stats["sessions"],
        data_stats["tokens_generated"],
    )


@pytest.mark.slow
def test_distill_killed_while_training_resumes_from_its_checkpoint(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """``crescent distill`` killed with SIGKILL inside the train step: the rerun keeps the teacher's data,
    resumes the student's training from its newest checkpoint and finishes the round."""
    out = tmp_path / "run"
    values = _config(tiny_model_dir, tmp_path, out) | {"rounds": 1, "student": str(tiny_model_dir)}
    values["train"] = {"max_steps": 6, "batch_size": 1, "save_steps": 1}
    cfg_path = tmp_path / "distill.yaml"
    cfg_path.write_text(yaml.safe_dump(values))
    cmd = [sys.executable, "-m", "crescent", "distill", "--config", str(cfg_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = out / "round-1" / "train" / "checkpoints" / "checkpoint-1" / "trainer_state.json"
    deadline = time.monotonic() + 300
    while not first.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-800:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    data = (out / "round-1" / "data" / "data.jsonl").read_text()
    assert not (out / "round-1" / "train" / "train_stats.json").exists()

    subprocess.run(cmd, check=True, capture_output=True)
    stats = json.loads((out / "round-1" / "train" / "train_stats.json").read_text())
    assert stats["resumed_from"] and "checkpoint-" in stats["resumed_from"] and stats["steps"] == 6
    assert (out / "round-1" / "data" / "data.jsonl").read_text() == data
    rounds = json.loads((out / "rounds.json").read_text())
    assert rounds[1]["student"] == str(tiny_model_dir) and rounds[1]["train"]["steps"] == 6


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
    trained, returned = _train(config, str(tiny_model_dir), data, tmp_path / "train-b")
    stats = json.loads((trained / "train_stats.json").read_text())
    assert stats["method"] == "dpo" and stats["rows"] == 4 and stats["steps"] == 1
    assert returned.as_json() == stats  # what improve records is what train wrote
