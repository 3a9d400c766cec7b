"""``crescent``: a thin CLI. Each command builds one config object and calls the Python API."""

from __future__ import annotations

import sys

import typer

from crescent.cli import audit as _audit
from crescent.cli import contamination as _contamination
from crescent.cli import eval as _eval
from crescent.cli import export as _export
from crescent.cli import generate as _generate
from crescent.cli import improve as _improve
from crescent.cli import models as _models
from crescent.cli import report as _report
from crescent.cli import train as _train
from crescent.errors import CrescentError
from crescent.progress import console

app = typer.Typer(
    name="crescent",
    help="A language model makes its own question-answer training data, then trains on it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Crescent: bait, self-dedup, majority vote, train: the model alone. Add --debug for tracebacks."""


_generate.register(app)
_eval.register(app)
_audit.register(app)
_contamination.register(app)
_train.register(app)
_improve.register(app)
_models.register(app)
_report.register(app)
_export.register(app)


def main() -> None:
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except CrescentError as exc:
        if debug:
            raise
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # an unexpected failure: still one line, with a way to see more
        if debug:
            raise
        console.print(
            f"[red]error:[/red] {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
