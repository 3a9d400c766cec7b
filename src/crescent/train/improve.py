"""``crescent improve``: rounds of generate -> train -> eval, each step resumable.

Round 0 evaluates the starting model. Round r generates data with the current
model (or with the fixed teacher when distilling into ``--student``), fine-tunes
the current model on it, evaluates the result, and hands its GGUF to round r+1.
Each step writes into its own folder with its own run store or checkpoint, so a
killed run reruns the same command and continues inside the step where it
stopped; a finished step is recognised by its output file and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crescent.config import EvalConfig, GenerateConfig, ImproveConfig, TrainConfig
from crescent.errors import CrescentError
from crescent.eval.compare import compare_runs
from crescent.results.compare import Comparison
from crescent.results.eval import EvalResults
from crescent.results.generate import GenerateStats
from crescent.results.improve import Round, RoundComparison, RoundData, RoundEval, Rounds, RoundTrain
from crescent.results.train import TrainStats
from crescent.run_folder import RunFolder, fingerprint, read_record, resumes, write_record
from crescent.train.rounds import CONFIG_FILE, label, round_models, trained_model
from crescent.train.rows import PAIRS_FILE


@dataclass
class ImproveResult:
    out: Path
    rounds_path: Path
    report_path: Path
    rounds: list[Round]

    def stdout(self) -> str:
        return str(self.report_path)

    def describe(self) -> str:
        lines = []
        for r in self.rounds:
            vs = r.vs_round_0
            delta = f", vs round 0 {vs.difference:+.3f} {vs.difference_ci95}" if vs else ""
            if vs and vs.worse_depths:  # a gain overall can hide a significant loss at some depth
                delta += f"; significantly worse at depth {', '.join(vs.worse_depths)}"
            lines.append(f"round {r.round}: accuracy {r.eval.accuracy:.3f} {r.eval.ci95}{delta}")
        return "\n".join(lines)


def improve(config: ImproveConfig) -> ImproveResult:
    """Run (or resume) every round; ``--out`` stays locked against a second improve until the end."""
    with RunFolder(config.out, "improve", CONFIG_FILE).hold():
        _bind(config)
        return _rounds(config)


def _rounds(config: ImproveConfig) -> ImproveResult:
    options = config.model_dump(mode="json")
    rounds = [_round_record(config, 0, _evaluate(config, config.student or config.model, 0))]
    rounds_path = Rounds(rounds).to_dir(config.out)  # progress is readable after every round
    for r in range(1, config.rounds + 1):
        base = config.out / f"round-{r}"
        models = round_models(options, config.out, r)
        data, stats = _generate(config, models["teacher"], base / "data", r)
        if not data.stat().st_size:  # training on nothing would fail with a message about train's --data
            raise CrescentError(
                f"round {r}: the teacher kept no rows in {data.parent} (its {stats.FILE} says why); "
                "rerun in a new --out with more --generate.questions or looser label filters"
            )
        trained, train_stats = _train(config, models["student"], data, base / "train")
        evaluated = _evaluate(config, trained_model(trained), r)
        models_used = {"teacher": label(models["teacher"]), "student": label(models["student"])}
        rounds.append(_round_record(config, r, evaluated, stats, train_stats, models_used))
        Rounds(rounds).to_dir(config.out)
    from crescent.reports.html import write_page
    from crescent.reports.improve import render_rounds

    report_path = write_page(
        config.out / "report.html", render_rounds(config.out, rounds, config.model_dump(mode="json"))
    )
    return ImproveResult(config.out, rounds_path, report_path, rounds)


def _bind(config: ImproveConfig) -> None:
    """Refuse to resume a run directory that holds an improve run with other options. They bind the folder
    from the start (each round's steps bind their own folders as they go)."""
    record = config.out / CONFIG_FILE
    current = fingerprint(config)
    if not resumes(config.out, current, read_record(record)):
        write_record(record, current)


def _engine(backend: str, model: str | None) -> tuple[str, str | None]:
    """Backend and model string for generate/eval: GGUF files run on llama.cpp, HF folders on transformers."""
    if backend == "fake":
        return "fake", None
    if model is not None and Path(model).is_dir():
        return "transformers", model
    return backend, model


def _common(config: ImproveConfig) -> dict[str, Any]:
    """The top-level options that apply to every step."""
    return {"quiet": config.quiet or None, "threads": config.threads}


def _section(section: Any, **filled: Any) -> dict[str, Any]:
    values = section.model_dump(exclude=set(section.IMPROVE_OWNS), exclude_unset=True)  # defaults: its own
    values.update({k: v for k, v in filled.items() if v is not None or k in section.IMPROVE_OWNS})
    return values


def _generate(
    config: ImproveConfig, model: str | None, out: Path, round_index: int
) -> tuple[Path, GenerateStats]:
    from crescent.pipeline.generate import generate

    backend, model = _engine(config.generate.backend, model)
    exclude = [*config.generate.exclude]
    if config.eval.data is not None and config.eval.task == "math":
        exclude.append(config.eval.data)  # never train on the benchmark's questions
    values = _section(
        config.generate,
        out=out,
        model=model,
        backend=backend,
        seed=config.generate.seed + round_index,
        exclude=exclude,
        **_common(config),
    )
    result = generate(GenerateConfig(**values))
    return result.data_path, result.stats


def _train(config: ImproveConfig, model: str | None, data: Path, out: Path) -> tuple[Path, TrainStats]:
    if TrainStats.exists_in(out):
        return out, TrainStats.from_dir(out)
    from crescent.train.run import train

    if config.train.method == "dpo":  # DPO trains on the preference pairs generate wrote beside data.jsonl
        data = data.with_name(PAIRS_FILE)
        if not data.is_file():
            raise CrescentError(
                f"{data.parent} holds no {PAIRS_FILE}: --train.method dpo needs the preference pairs that "
                "crescent generate writes next to data.jsonl; rerun with a crescent that writes them, "
                "or use --train.method sft"
            )

    result = train(TrainConfig(**_section(config.train, model=model, data=data, out=out, **_common(config))))
    return out, result.stats


def _evaluate(config: ImproveConfig, model: str | None, round_index: int) -> tuple[Path, EvalResults]:
    from crescent.eval.run import evaluate

    out = config.out / f"round-{round_index}" / "eval"
    backend, model = _engine(config.eval.backend, model)
    result = evaluate(
        EvalConfig(**_section(config.eval, out=out, model=model, backend=backend, **_common(config)))
    )
    return out, result.results


def _round_record(
    config: ImproveConfig,
    r: int,
    evaluated: tuple[Path, EvalResults],
    data: GenerateStats | None = None,
    trained: TrainStats | None = None,
    models: dict[str, str] | None = None,
) -> Round:
    """One round's record, from the results its steps returned (round 0 only evaluates)."""
    eval_dir, results = evaluated
    record: dict[str, Any] = {"round": r, "eval": RoundEval.of(results)}
    if data is not None:
        record["data"] = RoundData.of(data)
    if trained is not None:
        record["train"] = RoundTrain.of(trained)
    if r > 0:
        paired = Comparison.model_validate(compare_runs(config.out / "round-0" / "eval", eval_dir))
        record["vs_round_0"] = RoundComparison.of(paired)
    return Round.model_validate(record | (models or {}))
