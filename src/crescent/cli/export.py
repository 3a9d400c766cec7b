"""``crescent export`` (options from ExportConfig)."""

from __future__ import annotations

import typer

from crescent.cli.options import config_command
from crescent.config import ExportConfig
from crescent.progress import console


def _run(config: ExportConfig) -> None:
    from crescent.publish import export_dataset

    result = export_dataset(config)
    note = f"; pushed to {result.url}" if result.url else ""
    console.print(
        f"exported {result.rows} rows of a {result.kind} run as {config.format} (license {result.license})"
        f"{note}",
        highlight=False,
        markup=False,
    )
    if result.license == "other" and config.license is None:
        console.print(
            "note: the model's license is unknown, so the card says 'other'; pass --license ID to set it",
            highlight=False,
            markup=False,
        )
    typer.echo(str(result.out))


def register(app: typer.Typer) -> None:
    app.command("export")(
        config_command(
            ExportConfig,
            _run,
            doc="A generate or eval run -> a Hugging Face dataset folder (data + card) [-> the Hub].",
        )
    )
