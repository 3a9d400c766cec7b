"""``crescent generate`` (options from GenerateConfig)."""

from __future__ import annotations

import typer

from crescent.cli.options import config_command
from crescent.config import GenerateConfig
from crescent.progress import console


def _run(config: GenerateConfig) -> None:
    from crescent.pipeline.generate import generate

    result = generate(config)
    stats = result.stats
    console.print(
        f"done ({stats['stop_reason']}): {stats['export']['rows']} rows from "
        f"{stats['bait']['accepted']} questions, {stats['bait']['attempts']} bait samples; "
        f"{stats['tokens_generated']} tokens in {stats['wall_s']} s ({stats['tokens_per_s']} tok/s)",
        highlight=False,
        markup=False,
    )
    typer.echo(str(result.data_path))


def register(app: typer.Typer) -> None:
    app.command("generate")(
        config_command(
            GenerateConfig,
            _run,
            doc="Bait -> self-dedup -> majority vote -> DIR/data.jsonl + DIR/stats.json.",
        )
    )
