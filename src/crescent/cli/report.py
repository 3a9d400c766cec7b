"""``crescent report`` (options from ReportConfig)."""

from __future__ import annotations

import typer

from crescent.cli.options import config_command
from crescent.config import ReportConfig


def _run(config: ReportConfig) -> None:
    from crescent.reports import write_run_report

    _, path = write_run_report(config.run_dir, config.out)
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("report")(
        config_command(
            ReportConfig,
            _run,
            doc="A generate, eval, audit or improve folder -> one self-contained HTML report.",
        )
    )
