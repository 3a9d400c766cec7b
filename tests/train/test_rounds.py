"""Who teaches whom: the models of each improve round, from the options alone."""

from __future__ import annotations

from pathlib import Path

from crescent.train.rounds import data_round, round_models


def test_self_improvement_hands_each_round_the_last_rounds_model(tmp_path: Path) -> None:
    options = {"model": "base.gguf", "student": None}
    assert round_models(options, tmp_path, 1) == {"teacher": "base.gguf", "student": "base.gguf"}
    trained = tmp_path / "round-1" / "train"
    assert round_models(options, tmp_path, 2) == {
        "teacher": str(trained / "model"),  # no GGUF written: the HF folder generates
        "student": str(trained / "model"),
    }
    trained.mkdir(parents=True)
    (trained / "model.gguf").write_bytes(b"GGUF")
    assert round_models(options, tmp_path, 2)["teacher"] == str(trained / "model.gguf")


def test_distillation_keeps_the_teacher_and_trains_the_student_on(tmp_path: Path) -> None:
    options = {"model": "teacher.gguf", "student": "student.gguf"}
    assert round_models(options, tmp_path, 1) == {"teacher": "teacher.gguf", "student": "student.gguf"}
    assert round_models(options, tmp_path, 3) == {
        "teacher": "teacher.gguf",
        "student": str(tmp_path / "round-2" / "train" / "model"),
    }


def test_only_a_rounds_data_folder_of_an_improve_run_has_a_round(tmp_path: Path) -> None:
    (tmp_path / "improve_config.json").write_text('{"model": null, "student": "s.gguf"}')
    assert data_round(tmp_path / "round-1" / "data") == {
        "round": 1,
        "distillation": True,
        "teacher": "embedded SmolLM2-135M-Instruct (Q4_1 GGUF)",
        "student": "s.gguf",
    }
    assert data_round(tmp_path / "round-1" / "eval") is None
    assert data_round(tmp_path / "elsewhere" / "data") is None
    assert data_round(tmp_path / "x" / "round-1" / "data") is None  # no improve run around it
