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

from crescent.cli.options import config_command
from crescent.config import EvalConfig
from crescent.errors import CrescentError
from crescent.progress import console

Opt = typer.Option

eval_app = typer.Typer(
    help="Score a model on a JSONL benchmark (default), or compare two evals.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)


def _run(config: EvalConfig) -> None:
    from crescent.eval.run import evaluate

    result = evaluate(config)
    r = result.results
    low, high = r["ci95"]
    console.print(
        f"done: accuracy {r['accuracy']:.1%} ({r['correct']}/{r['n']}), 95% CI "
        f"[{low:.1%}, {high:.1%}], no answer {r['extraction_failure_rate']:.1%}; "
        f"{r['tokens']} tokens in {r['wall_s']} s ({r['tokens_per_s']} tok/s)",
        highlight=False,
        markup=False,
    )
    typer.echo(str(result.results_path))


run_command = config_command(
    EvalConfig,
    _run,
    doc="Score a model -> DIR/results.json (accuracy, Wilson 95% CI) + DIR/predictions.jsonl.",
    group=True,
)


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
eval_app.command("run")(config_command(EvalConfig, _run, doc=run_command.__doc__ or ""))
eval_app.command("compare")(compare_command)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
