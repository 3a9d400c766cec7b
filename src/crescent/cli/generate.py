"""``crescent generate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crescent.config import GenerateConfig, load_config
from crescent.progress import console

Opt = typer.Option


def generate_command(
    out: Annotated[Path, Opt("--out", "-o", help="Run directory (resumed when it holds this run).")],
    model: Annotated[
        str | None, Opt(help="GGUF path, HF folder or hub id. Default: embedded SmolLM2-135M.")
    ] = None,
    backend: Annotated[str | None, Opt(help="llamacpp | transformers | openai | fake")] = None,
    questions: Annotated[int | None, Opt(help="Accepted questions wanted.")] = None,
    votes: Annotated[int | None, Opt(help="Sampled answers per question.")] = None,
    seed: Annotated[int | None, Opt(help="Seed for every sample.")] = None,
    config: Annotated[Path | None, Opt("--config", help="YAML file with any GenerateConfig field.")] = None,
    batch_size: Annotated[int | None, Opt(help="Sequences decoded together.")] = None,
    max_attempts: Annotated[int | None, Opt(help="Bait sample budget (default 20 x questions).")] = None,
    dedup_threshold: Annotated[
        float | None, Opt(help="Centered-cosine threshold for near-duplicates.")
    ] = None,
    min_consensus: Annotated[
        float | None, Opt(help="Drop questions whose winning vote share is lower.")
    ] = None,
    bait_prompt: Annotated[str | None, Opt(help="Prompt that makes the model write a question.")] = None,
    exclude: Annotated[
        list[Path] | None, Opt(help="JSONL of questions never to produce (benchmarks).")
    ] = None,
    executor: Annotated[str | None, Opt(help="local | ray")] = None,
    address: Annotated[str | None, Opt(help="Ray cluster address (ray://host:10001 or auto).")] = None,
    workers: Annotated[int | None, Opt(help="Ray actors, each holding one backend.")] = None,
    base_url: Annotated[str | None, Opt(help="OpenAI-compatible server URL (backend openai).")] = None,
    n_ctx: Annotated[int | None, Opt(help="Context window (llama.cpp).")] = None,
    threads: Annotated[int | None, Opt(help="CPU threads.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Bait -> self-dedup -> majority vote -> DIR/data.jsonl + DIR/stats.json."""
    from crescent.pipeline.generate import generate

    cfg = load_config(
        GenerateConfig,
        config,
        out=out,
        model=model,
        backend=backend,
        questions=questions,
        votes=votes,
        seed=seed,
        batch_size=batch_size,
        max_attempts=max_attempts,
        dedup_threshold=dedup_threshold,
        min_consensus=min_consensus,
        bait_prompt=bait_prompt,
        exclude=exclude or None,
        executor=executor,
        ray_address=address,
        workers=workers,
        base_url=base_url,
        n_ctx=n_ctx,
        threads=threads,
        quiet=quiet or None,
    )
    result = generate(cfg)
    stats = result.stats
    console.print(
        f"[green]done[/green] ({stats['stop_reason']}): {stats['export']['rows']} rows from "
        f"{stats['bait']['accepted']} questions, {stats['bait']['attempts']} bait samples; "
        f"{stats['tokens_generated']} tokens in {stats['wall_s']} s ({stats['tokens_per_s']} tok/s)",
        highlight=False,
    )
    typer.echo(str(result.data_path))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)
