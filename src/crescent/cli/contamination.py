"""``crescent contamination``: flag generated questions that copy or reword benchmark questions
(options from ContaminationConfig)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from crescent.cli.options import config_command
from crescent.config import ContaminationConfig
from crescent.progress import console

SHOWN_PAIRS = 5  # flagged pairs printed; flagged.jsonl has them all
SHOWN_CHARS = 100  # characters of each question printed


def _run(config: ContaminationConfig) -> None:
    from crescent.eval.contamination import check_contamination

    result = check_contamination(config)
    summary = result.summary
    table = Table(title=f"contamination of {summary['generated']} generated questions", title_justify="left")
    for column in ("check", "flagged", "rate"):
        table.add_column(column, justify="left" if column == "check" else "right")
    labels = {
        "ngram": f"{summary['ngram']}-gram overlap",
        "embedding": f"embedding >= {config.threshold:g}",
        "both": "both",
        "any": "any",
    }
    for key, label in labels.items():
        if key in ("embedding", "both") and not summary["embeddings"]:
            continue
        table.add_row(label, str(summary["flagged"][key]), f"{summary['rates'][key]:.1%}")
    console.print(table)
    for pair in result.flagged[:SHOWN_PAIRS]:
        evidence = f"'{pair['ngram']}'" if pair["reason"] == "ngram" else f"cos {pair['similarity']:.3f}"
        console.print(
            f"[yellow]{pair['reason']}[/yellow] {escape(evidence)}: "
            f"{escape(pair['generated_question'][:SHOWN_CHARS])} <-> "
            f"{escape(pair['benchmark_id'])}: {escape(pair['benchmark_question'][:SHOWN_CHARS])}",
            highlight=False,
            emoji=False,
            soft_wrap=True,
        )
    typer.echo(str(result.summary_path))


def register(app: typer.Typer) -> None:
    app.command("contamination")(
        config_command(
            ContaminationConfig,
            _run,
            doc="Flag generated questions sharing a 13-gram with, or embedding near, a benchmark question.",
        )
    )
