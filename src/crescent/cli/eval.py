"""``crescent eval`` (score a model on a benchmark) and ``crescent eval compare`` (paired comparison).

``eval`` is a sub-app so that ``compare`` can live under it, but scoring stays the default:
``crescent eval --data F --out D`` and ``crescent eval run --data F --out D`` are the same command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from crescent.config import EvalConfig, load_config
from crescent.errors import CrescentError
from crescent.progress import console

Opt = typer.Option

eval_app = typer.Typer(
    help="Score a model on a JSONL benchmark (default), or compare two evals.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)


def run_command(
    ctx: typer.Context,
    data: Annotated[Path | None, Opt(help="JSONL with 'question' and 'answer' per line.")] = None,
    out: Annotated[Path | None, Opt("--out", "-o", help="Eval directory (resumed if it holds one).")] = None,
    model: Annotated[str | None, Opt(help="GGUF path, HF folder or hub id (default: SmolLM2).")] = None,
    backend: Annotated[str | None, Opt(help="llamacpp | transformers | openai | fake")] = None,
    shots: Annotated[int | None, Opt(help="Worked examples per prompt (needs --fewshot-from).")] = None,
    fewshot_from: Annotated[Path | None, Opt(help="JSONL of worked examples (not --data).")] = None,
    limit: Annotated[int | None, Opt(help="Score the first N items; raise it to extend.")] = None,
    votes: Annotated[int | None, Opt(help="Samples per question; the majority is scored.")] = None,
    seed: Annotated[int | None, Opt(help="Seed for shots and samples.")] = None,
    temperature: Annotated[float | None, Opt(help="Default: 0 for one vote, 0.7 for several.")] = None,
    max_tokens: Annotated[int | None, Opt(help="Cap on each answer's length in tokens.")] = None,
    config: Annotated[Path | None, Opt("--config", help="YAML file with any EvalConfig field.")] = None,
    batch_size: Annotated[int | None, Opt(help="Sequences per backend call.")] = None,
    executor: Annotated[str | None, Opt(help="local | ray")] = None,
    address: Annotated[str | None, Opt(help="Ray cluster address (ray://host:10001 or auto).")] = None,
    workers: Annotated[int | None, Opt(help="Ray actors, each holding one backend.")] = None,
    base_url: Annotated[str | None, Opt(help="OpenAI-compatible server URL (backend openai).")] = None,
    n_ctx: Annotated[int | None, Opt(help="Context window (llama.cpp).")] = None,
    threads: Annotated[int | None, Opt(help="CPU threads.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score a model -> DIR/results.json (accuracy, Wilson 95% CI) + DIR/predictions.jsonl."""
    if ctx.invoked_subcommand is not None:
        return  # the group callback before 'run' or 'compare': that command does the work
    if data is None and out is None and config is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from crescent.eval.run import evaluate

    cfg = load_config(
        EvalConfig,
        config,
        data=data,
        out=out,
        model=model,
        backend=backend,
        shots=shots,
        fewshot_from=fewshot_from,
        limit=limit,
        votes=votes,
        seed=seed,
        temperature=temperature,
        max_tokens=max_tokens,
        batch_size=batch_size,
        executor=executor,
        ray_address=address,
        workers=workers,
        base_url=base_url,
        n_ctx=n_ctx,
        threads=threads,
        quiet=quiet or None,
    )
    result = evaluate(cfg)
    r = result.results
    low, high = r["ci95"]
    console.print(
        f"[green]done[/green]: accuracy {r['accuracy']:.1%} ({r['correct']}/{r['n']}), 95% CI "
        f"[{low:.1%}, {high:.1%}], no answer {r['extraction_failure_rate']:.1%}; "
        f"{r['tokens']} tokens in {r['wall_s']} s ({r['tokens_per_s']} tok/s)",
        highlight=False,
        markup=True,
    )
    typer.echo(str(result.results_path))


def compare_command(
    dir_a: Annotated[Path, typer.Argument(help="Baseline eval directory (A).")],
    dir_b: Annotated[Path, typer.Argument(help="Candidate eval directory (B).")],
    out: Annotated[Path | None, Opt("--out", "-o", help="Also write the report to this JSON file.")] = None,
    resamples: Annotated[int, Opt(min=100, help="Paired bootstrap resamples.")] = 10_000,
    seed: Annotated[int, Opt(help="Bootstrap seed.")] = 0,
) -> None:
    """Paired comparison on shared items: accuracies, B − A with a bootstrap 95% CI, McNemar's exact p."""
    from crescent.eval.compare import compare_runs

    report = compare_runs(dir_a, dir_b, resamples=resamples, seed=seed)
    table = Table(title=f"paired comparison on {report['n']} shared items", title_justify="left")
    for column in ("run", "accuracy", "95% CI", "only this run correct"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for key, label, only in (("a", "A", "a_only_correct"), ("b", "B", "b_only_correct")):
        low, high = report[f"ci95_{key}"]
        table.add_row(
            f"{label}: {escape(report[key])}",
            f"{report[f'accuracy_{key}']:.1%}",
            f"[{low:.1%}, {high:.1%}]",
            str(report[only]),
        )
    low, high = report["difference_ci95"]
    table.add_row("B − A", f"{report['difference']:+.1%}", f"[{low:+.1%}, {high:+.1%}]", "")
    console.print(table)
    console.print(f"McNemar exact p = {report['mcnemar_p']:.4g}", highlight=False)
    if report["only_in_a"] or report["only_in_b"]:
        console.print(
            f"[yellow]note:[/yellow] left out {report['only_in_a']} items only in A "
            f"and {report['only_in_b']} only in B",
            highlight=False,
        )
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise CrescentError(f"cannot write --out {out}: {exc.strerror}; choose a writable path") from exc
    typer.echo(json.dumps(report, ensure_ascii=False))


eval_app.callback()(run_command)
eval_app.command("run")(run_command)
eval_app.command("compare")(compare_command)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
