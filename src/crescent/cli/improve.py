"""``crescent improve``: ImproveConfig options; sections as ``--generate.*``, ``--train.*``, ``--eval.*``."""

from __future__ import annotations

import typer

from crescent.cli.options import config_command
from crescent.config import ImproveConfig
from crescent.progress import console


def _run(config: ImproveConfig) -> None:
    from crescent.train.improve import improve

    result = improve(config)
    for r in result.rounds:
        vs = r.get("vs_round_0")
        delta = f", vs round 0 {vs['difference']:+.3f} {vs['difference_ci95']}" if vs else ""
        console.print(
            f"round {r['round']}: accuracy {r['eval']['accuracy']:.3f} {r['eval']['ci95']}{delta}",
            highlight=False,
            markup=False,
        )
    typer.echo(str(result.report_path))


def register(app: typer.Typer) -> None:
    app.command("improve")(
        config_command(
            ImproveConfig,
            _run,
            doc="Round 0 evaluates; each round generates, trains, evaluates -> rounds.json + report.html.",
        )
    )
