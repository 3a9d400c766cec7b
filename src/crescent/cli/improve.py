"""``crescent improve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crescent.config import ImproveConfig, load_config
from crescent.progress import console

Opt = typer.Option


def improve_command(
    out: Annotated[Path, Opt("--out", "-o", help="Run directory (resumed when it holds this run).")],
    eval_data: Annotated[Path | None, Opt(help="JSONL benchmark evaluated every round.")] = None,
    model: Annotated[str | None, Opt(help="Starting model (GGUF). Default: embedded SmolLM2-135M.")] = None,
    student: Annotated[str | None, Opt(help="Distil into this model instead of training --model.")] = None,
    rounds: Annotated[int | None, Opt(help="Rounds of generate -> train -> eval.")] = None,
    questions: Annotated[int | None, Opt(help="Accepted questions per round.")] = None,
    votes: Annotated[int | None, Opt(help="Votes per question.")] = None,
    eval_limit: Annotated[int | None, Opt(help="Evaluate only the first N items.")] = None,
    eval_shots: Annotated[int | None, Opt(help="Few-shot examples in eval.")] = None,
    fewshot_from: Annotated[Path | None, Opt(help="JSONL the shots come from.")] = None,
    lora: Annotated[bool | None, Opt("--lora/--full", help="LoRA (merged) or full fine-tuning.")] = None,
    epochs: Annotated[float | None, Opt(help="Training epochs per round.")] = None,
    lr: Annotated[float | None, Opt(help="Learning rate.")] = None,
    max_steps: Annotated[int | None, Opt(help="Training steps per round (overrides epochs).")] = None,
    seed: Annotated[int | None, Opt(help="Seed.")] = None,
    threads: Annotated[int | None, Opt(help="CPU threads.")] = None,
    config: Annotated[Path | None, Opt("--config", help="YAML file with any ImproveConfig field.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Round 0 evaluates; each round generates, trains, evaluates -> rounds.json + report.html."""
    from crescent.train.improve import improve

    cfg = load_config(
        ImproveConfig,
        config,
        out=out,
        eval_data=eval_data,
        model=model,
        student=student,
        rounds=rounds,
        questions=questions,
        votes=votes,
        eval_limit=eval_limit,
        eval_shots=eval_shots,
        fewshot_from=fewshot_from,
        lora=lora,
        epochs=epochs,
        lr=lr,
        max_steps=max_steps,
        seed=seed,
        threads=threads,
        quiet=quiet or None,
    )
    result = improve(cfg)
    for r in result.rounds:
        vs = r.get("vs_round_0")
        delta = f", vs round 0 {vs['difference']:+.3f} {vs['difference_ci95']}" if vs else ""
        console.print(
            f"round {r['round']}: accuracy {r['eval']['accuracy']:.3f} {r['eval']['ci95']}{delta}",
            highlight=False,
        )
    typer.echo(str(result.report_path))


def register(app: typer.Typer) -> None:
    app.command("improve")(improve_command)
