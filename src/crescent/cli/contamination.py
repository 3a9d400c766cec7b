"""``crescent contamination``: flag generated questions that copy or reword benchmark questions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from crescent.progress import console

Opt = typer.Option

SHOWN_PAIRS = 5  # flagged pairs printed; flagged.jsonl has them all
SHOWN_CHARS = 100  # characters of each question printed


def contamination_command(
    data: Annotated[Path | None, Opt("--data", "-d", help="Generated JSONL ('question' per row).")] = None,
    against: Annotated[
        list[Path] | None, Opt("--against", "-a", help="Benchmark JSONL; repeat for several files.")
    ] = None,
    out: Annotated[Path | None, Opt("--out", "-o", help="Folder for flagged.jsonl and summary.json.")] = None,
    ngram: Annotated[int | None, Opt(help="Word n-gram size of the overlap check (default 13).")] = None,
    threshold: Annotated[
        float | None, Opt(help="Centered-cosine threshold (default: generate's dedup threshold).")
    ] = None,
    embeddings: Annotated[
        bool | None, Opt("--embeddings/--no-embeddings", help="Also compare the model's embeddings.")
    ] = None,
    model: Annotated[
        str | None, Opt(help="Model whose embeddings compare questions. Default: embedded SmolLM2-135M.")
    ] = None,
    backend: Annotated[str | None, Opt(help="llamacpp | transformers | openai | fake")] = None,
    batch_size: Annotated[int | None, Opt(help="Sequences per backend call.")] = None,
    n_ctx: Annotated[int | None, Opt(help="Context window (llama.cpp).")] = None,
    threads: Annotated[int | None, Opt(help="CPU threads.")] = None,
    config: Annotated[Path | None, Opt("--config", help="YAML with any ContaminationConfig field.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No spinner.")] = False,
) -> None:
    """Flag generated questions sharing a 13-gram with, or embedding near, a benchmark question."""
    from crescent.config import load_config
    from crescent.eval.contamination import ContaminationConfig, check_contamination

    cfg = load_config(
        ContaminationConfig,
        config,
        data=data,
        against=against or None,
        out=out,
        ngram=ngram,
        threshold=threshold,
        embeddings=embeddings,
        model=model,
        backend=backend,
        batch_size=batch_size,
        n_ctx=n_ctx,
        threads=threads,
        quiet=quiet or None,
    )
    result = check_contamination(cfg)
    summary = result.summary
    table = Table(title=f"contamination of {summary['generated']} generated questions", title_justify="left")
    for column in ("check", "flagged", "rate"):
        table.add_column(column, justify="left" if column == "check" else "right")
    labels = {
        "ngram": f"{summary['ngram']}-gram overlap",
        "embedding": f"embedding >= {cfg.threshold:g}",
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
            soft_wrap=True,
        )
    typer.echo(str(result.summary_path))


def register(app: typer.Typer) -> None:
    app.command("contamination")(contamination_command)
