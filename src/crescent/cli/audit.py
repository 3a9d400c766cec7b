"""``crescent audit``: how often is the label generate would keep right? (options from AuditConfig)."""

from __future__ import annotations

import typer

from crescent.cli.options import config_command
from crescent.config import AuditConfig
from crescent.progress import console


def _run(config: AuditConfig) -> None:
    from crescent.eval.audit import audit

    result = audit(config)
    default, plain = result.audit["default"], result.audit["plain_majority"]
    console.print(
        f"audit of {result.audit['n']} items: configured filters keep {default['coverage']:.0%} "
        f"with precision {default['precision']}; plain majority keeps {plain['coverage']:.0%} "
        f"with precision {plain['precision']}",
        highlight=False,
        markup=False,
    )
    typer.echo(str(result.audit_path))


def register(app: typer.Typer) -> None:
    app.command("audit")(
        config_command(
            AuditConfig,
            _run,
            doc="Label audit on gold-answered questions -> DIR/audit.json + DIR/audit.html.",
        )
    )
