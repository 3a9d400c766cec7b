"""``crescent export``: rows as a loadable dataset, a card from the run's records, a faked Hub push."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from fixture_runs import SCRIPT, eval_run, generate_run
from typer.testing import CliRunner

from crescent.cli import app
from crescent.config import ExportConfig
from crescent.errors import CrescentError
from crescent.publish import export_dataset
from crescent.publish.license import model_license

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach the network: the Hub client refuses, and pushes go through ``FakeApi``.

    Each test also gets its own ``datasets`` cache: the shared one keys a local folder by its name and
    file names, so an earlier run's export to another ``ds`` folder (other columns) would be read back.
    """
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets-cache")


def card(path: Path) -> tuple[dict[str, Any], str]:
    text = (path / "README.md").read_text()
    _, front, body = text.split("---", 2)
    return yaml.safe_load(front), body


def test_parquet_loads_with_the_same_rows_and_columns_as_data_jsonl(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "run", poison=False)
    result = export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds"))
    assert (tmp_path / "ds" / "data" / "train-00000-of-00001.parquet").is_file()
    exported = datasets.load_dataset(str(tmp_path / "ds"), split="train")
    original = datasets.load_dataset("json", data_files=str(run / "data.jsonl"), split="train")
    assert result.rows == exported.num_rows == original.num_rows > 0
    assert exported.features == original.features and exported.to_list() == original.to_list()


def test_card_holds_metadata_funnel_histogram_filters_examples_and_limitations(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "run")
    export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds", format="jsonl"))
    meta, body = card(tmp_path / "ds")
    stats = json.loads((run / "stats.json").read_text())
    assert meta["license"] == "other"  # the fake backend has no license to inherit
    assert meta["task_categories"] and meta["language"] == ["en"] and meta["size_categories"] == ["n<1K"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train.jsonl"}]
    assert datasets.load_dataset(str(tmp_path / "ds"), split="train").num_rows == stats["vote"]["kept"]
    assert f"| bait samples | {stats['bait']['attempts']} |" in body
    assert f"| kept | {stats['vote']['kept']} |" in body
    for reason in stats["bait"]["rejected"]:
        assert reason in body
    for bucket, count in stats["vote"]["consensus_histogram"].items():
        assert f"| {bucket} | {count} |" in body
    for name in stats["vote"]["label_policy"]:
        assert f"| {name} |" in body
    kept = stats["vote"]["kept"]
    assert stats["export"]["depth_histogram"]["1"] == kept  # the fake backend's solutions take one step
    assert "## Reasoning depth" in body and f"| 1 | {kept} | 100% |" in body and "| 2 | 0 | 0% |" in body
    assert "No `--exclude` file was used" in body and "No label audit was given" in body
    assert body.count("<pre>") == 4  # three examples and the config
    assert "## Limitations" in body and "backend" in body and "fake" in body
    assert SCRIPT not in body and "&lt;script&gt;" in body  # model text escaped


def test_license_audit_and_contamination_reach_the_card(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        json.dumps(
            {
                "question": "Ava has 3 apples and buys 5 more. How many apples does Ava have now?",
                "answer": "8",
                "solution": "She has 3 + 5 = <<3+5=8>>8 apples.",
            }
        )
        + "\n"
    )
    run = generate_run(tmp_path / "run", exclude=[bench], poison=False)
    audit_dir = tmp_path / "audit"
    audit_dir.mkdir()
    audit = {
        "n": 40,
        "votes": 5,
        "default": {"coverage": 0.3, "precision": 0.8123, "precision_ci95": [0.6, 0.9]},
        "plain_majority": {"coverage": 0.9, "precision": 0.41, "precision_ci95": [0.3, 0.5]},
        "by_filter": {"shortcut_filter": {"coverage_without": 0.35, "precision_without": 0.7}},
    }
    (audit_dir / "audit.json").write_text(json.dumps(audit))
    export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds", license="cc-by-4.0", audit=audit_dir))
    meta, body = card(tmp_path / "ds")
    assert meta["license"] == "cc-by-4.0" and "given with --license" in body
    assert "0.8123" in body and "without shortcut_filter" in body
    assert "bench.jsonl" in body and "Only these files were checked" in body
    kept = json.loads((run / "stats.json").read_text())["vote"]["kept"]
    assert "| steps | rows | share | bench.jsonl items (share) |" in body
    assert f"| 1 | {kept} | 100% | 1 (100%) |" in body and "| 2 | 0 | 0% | 0 (0%) |" in body


def test_model_license_is_inherited() -> None:
    assert model_license(None, "llamacpp") == "apache-2.0"  # the embedded SmolLM2-135M-Instruct
    assert model_license(None, "fake") is None
    assert model_license("hf://someone/repo/model.gguf", "llamacpp") is None  # not cached, not fetched


def test_eval_export_has_predictions_and_accuracy(tmp_path: Path) -> None:
    run = eval_run(tmp_path)
    result = export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds"))
    exported = datasets.load_dataset(str(tmp_path / "ds"), split="test")
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert result.kind == "eval" and exported.num_rows == len(rows)
    assert exported["correct"] == [r["correct"] for r in rows] and exported["gold"] == [
        r["gold"] for r in rows
    ]
    results = json.loads((run / "results.json").read_text())
    _, body = card(tmp_path / "ds")
    low, high = results["ci95"]
    assert f"accuracy {results['accuracy']:.2%}" in body and f"[{low:.2%}, {high:.2%}]" in body
    assert exported["depth"] == [r["depth"] for r in rows] == [1, 2, None, 1, 2, None]
    assert (
        "## Accuracy by reasoning depth" in body
        and "| 2 | 2 | 0.00% |" in body
        and "| 4 | 0 | — | — |" in body
    )


class FakeApi:
    """The Hub boundary: records calls; ``fail`` makes the upload raise like a network error."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    fail = False

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def create_repo(self, repo_id: str, **kwargs: Any) -> None:
        FakeApi.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs: Any) -> None:
        if FakeApi.fail:
            raise ConnectionError("Max retries exceeded with url: /api/datasets\n(connection refused)")
        FakeApi.calls.append(("upload_folder", kwargs))


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> type[FakeApi]:
    import huggingface_hub

    FakeApi.calls, FakeApi.fail = [], False
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    return FakeApi


def test_push_creates_a_dataset_repo_and_uploads_the_folder(tmp_path: Path, hub: type[FakeApi]) -> None:
    run = generate_run(tmp_path / "run", poison=False)
    to = tmp_path / "ds"
    result = export_dataset(
        ExportConfig(run_dir=run, to=to, push_to_hub="alice/math", private=True, license="apache-2.0")
    )
    assert result.url == "https://huggingface.co/datasets/alice/math"
    (create, created), (upload, uploaded) = hub.calls
    assert create == "create_repo" and created["repo_type"] == "dataset" and created["private"] is True
    assert (
        upload == "upload_folder"
        and uploaded["folder_path"] == str(to)
        and uploaded["repo_id"] == "alice/math"
    )


def test_push_failures_are_one_line_and_keep_the_export(
    tmp_path: Path, hub: type[FakeApi], monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    run = generate_run(tmp_path / "run", poison=False)
    to = tmp_path / "ds"
    config = ExportConfig(run_dir=run, to=to, push_to_hub="alice/math", license="apache-2.0")
    hub.fail = True
    with pytest.raises(CrescentError, match="push to alice/math failed") as failed:
        export_dataset(config)
    assert "\n" not in str(failed.value) and "export in" in str(failed.value)
    assert (to / "README.md").is_file() and (to / "data").is_dir()
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(CrescentError, match="no Hugging Face token"):
        export_dataset(config)
    with pytest.raises(CrescentError, match="license is unknown"):
        export_dataset(config.model_copy(update={"license": None}))
    assert (to / "README.md").is_file()
    with pytest.raises(CrescentError, match="is not OWNER/NAME"):
        export_dataset(config.model_copy(update={"push_to_hub": "no-slash"}))


def test_cli_export_and_refusals(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "run", poison=False)
    result = CliRunner().invoke(app, ["export", str(run), "--to", str(tmp_path / "ds"), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    assert "license other" in result.output and result.output.strip().endswith("ds")
    with pytest.raises(CrescentError, match="run folder itself"):
        export_dataset(ExportConfig(run_dir=run, to=run))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(CrescentError, match="holds files that no export"):
        export_dataset(ExportConfig(run_dir=run, to=busy))


def test_missing_datasets_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    run = generate_run(tmp_path / "run", poison=False)
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(CrescentError, match=r"pip install 'crescent-llm\[train\]'"):
        export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds"))


def test_pairs_become_a_second_config_that_the_card_describes(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "run", poison=False, votes=5, model="accuracy=0.6")
    export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds"))
    meta, body = card(tmp_path / "ds")
    assert [c["config_name"] for c in meta["configs"]] == ["default", "pairs"]
    exported = datasets.load_dataset(str(tmp_path / "ds"), "pairs", split="train")
    original = datasets.load_dataset("json", data_files=str(run / "pairs.jsonl"), split="train")
    assert exported.to_list() == original.to_list() and exported.num_rows > 0
    assert datasets.load_dataset(str(tmp_path / "ds"), split="train").column_names[:5] == [
        "id", "question", "answer", "solution", "path",
    ]  # fmt: skip
    stats = json.loads((run / "stats.json").read_text())
    assert f"## Preference pairs (config `pairs`, {exported.num_rows} rows)" in body
    assert f"From the votes: {stats['pairs']['from_votes']}" in body and "questions by rows" in body


def test_a_run_without_pairs_exports_only_its_rows(tmp_path: Path) -> None:
    run = generate_run(tmp_path / "run", poison=False, model="accuracy=1.0")  # every vote agrees
    assert not (run / "pairs.jsonl").read_text()
    export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds", format="jsonl"))
    meta, body = card(tmp_path / "ds")
    assert [c["config_name"] for c in meta["configs"]] == ["default"] and "Preference pairs" not in body
    assert not (tmp_path / "ds" / "data" / "pairs").exists()


def test_card_says_questions_came_from_a_file_or_from_bait(tmp_path: Path) -> None:
    seed = tmp_path / "gsm8k-train.jsonl"
    seed.write_text(
        "".join(
            json.dumps(
                {"question": f"Ava has {i} pens and buys {i + 3} more. How many pens now?", "answer": "0"}
            )
            + "\n"
            for i in range(1, 7)
        )
    )
    seeded = generate_run(tmp_path / "seeded", poison=False, questions=4, questions_from=seed)
    export_dataset(ExportConfig(run_dir=seeded, to=tmp_path / "ds-seed", format="jsonl"))
    _, body = card(tmp_path / "ds-seed")
    assert "questions: 4 from gsm8k-train.jsonl (seed augmentation)" in body
    assert "| file rows read | 4 |" in body and "bait samples" not in body
    assert "The file's own answers were not used" in body

    baited = generate_run(tmp_path / "baited", poison=False, questions=4)
    export_dataset(ExportConfig(run_dir=baited, to=tmp_path / "ds-bait", format="jsonl"))
    _, body = card(tmp_path / "ds-bait")
    assert "questions: 4 from bait" in body and "seed augmentation" not in body


def test_card_of_an_improve_rounds_data_names_teacher_and_student(tmp_path: Path) -> None:
    run = tmp_path / "improve"
    data = generate_run(run / "round-2" / "data", poison=False)
    (run / "round-1" / "train").mkdir(parents=True)
    options = {"model": "teacher-1.5b.gguf", "student": "student-0.5b.gguf", "rounds": 2}
    (run / "improve_config.json").write_text(json.dumps(options))
    export_dataset(ExportConfig(run_dir=data, to=tmp_path / "ds", format="jsonl"))
    _, body = card(tmp_path / "ds")
    student = run / "round-1" / "train" / "model"  # round 2 trains what round 1 made of the student
    assert "Round 2 of a `crescent improve` run (distillation): teacher `teacher-1.5b.gguf`" in body
    assert f"student `{student}` was trained on them" in body


def test_export_warns_when_the_store_holds_work_newer_than_the_rows(
    tmp_path: Path, hub: type[FakeApi], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An extension (a bigger --questions) that is still running, or was killed before it wrote its
    outputs, leaves data.jsonl behind the store: export says so, and refuses to push such rows."""
    import crescent.pipeline.export as pipeline_export
    from crescent.config import GenerateConfig
    from crescent.pipeline.generate import generate

    run = generate_run(tmp_path / "run", poison=False)
    fresh = export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds0", format="jsonl"))
    assert fresh.stale is None and "warning" not in fresh.describe()

    def killed(*_: object) -> None:
        raise KeyboardInterrupt  # the extension dies after committing its work, before its outputs

    monkeypatch.setattr(pipeline_export, "write_atomic", killed)
    extension = GenerateConfig(out=run, backend="fake", questions=16, votes=3, quiet=True, batch_size=8)
    with pytest.raises(KeyboardInterrupt):
        generate(extension)
    monkeypatch.undo()
    result = export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds1", format="jsonl"))
    assert result.stale and "rows are stale" in result.stale and "stats.json" in result.stale
    assert "\nwarning: " in result.describe()
    with pytest.raises(CrescentError, match="not pushing stale rows"):
        export_dataset(
            ExportConfig(run_dir=run, to=tmp_path / "ds2", push_to_hub="alice/math", license="apache-2.0")
        )
    assert hub.calls == []
    generate(extension)  # the extension finishes: its rows are current again
    assert export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds3", format="jsonl")).stale is None


def test_export_and_report_of_a_damaged_store_fail_in_one_line(tmp_path: Path) -> None:
    from crescent.reports import write_run_report

    run = generate_run(tmp_path / "run", poison=False)
    for leftover in run.glob("run.sqlite-*"):
        leftover.unlink()
    (run / "run.sqlite").write_bytes(b"\0garbage" * 512)
    for attempt in (
        lambda: export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds", format="jsonl")),
        lambda: write_run_report(run),
    ):
        with pytest.raises(CrescentError, match=r"run\.sqlite is damaged \(file is not a database\)"):
            attempt()
    assert not (tmp_path / "ds").exists() and not (run / "report.html").exists()
