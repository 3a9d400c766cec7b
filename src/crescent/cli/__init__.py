"""``crescent``: a thin CLI. Each command builds one config object and calls the Python API.

Every way a command can fail ends in one line on stderr: our own errors, typer's usage errors, any
unexpected exception (``--debug`` shows its traceback) and an interrupt. User and model text is printed
literally, never read as rich markup. SIGINT and SIGTERM unwind the command (the run store rolls back the
work in flight, executors release their models) and a watchdog ends the process if that takes longer
than ``GRACE_S``: the store is crash-safe, so a hard exit loses only the uncommitted batch.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated

import typer
from rich.text import Text
from typer._click import exceptions as click_exceptions  # typer vendors click; its errors live here

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
from crescent.threads import apply_thread_policy

GRACE_S = 2.0  # after SIGINT/SIGTERM, cleanup may take this long before the process is ended anyway

app = typer.Typer(
    name="crescent",
    help="A language model makes its own question-answer training data, then trains on it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="show the traceback of an error (anywhere on the line)")
    ] = False,
) -> None:
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


def print_error(message: str) -> None:
    """``error: message`` on one line, the message taken literally (a path may hold ``[/x]``)."""
    one_line = re.sub(r"\s*[\r\n]+\s*", " ", message).strip()
    console.print(Text.assemble(("error:", "red"), " ", one_line), soft_wrap=True, highlight=False)


class _Signals:
    """Turn the first SIGINT/SIGTERM into KeyboardInterrupt; end the process if unwinding hangs."""

    def __init__(self) -> None:
        self.received: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:  # a second signal: the user means it
            os._exit(128 + signum)
        self.received = signum
        watchdog = threading.Timer(GRACE_S, self._force_exit, args=(signum,))
        watchdog.daemon = True
        watchdog.start()
        raise KeyboardInterrupt

    def _force_exit(self, signum: int) -> None:
        print_error(f"{self.message()} (cleanup took over {GRACE_S:g} s; stopped hard)")
        sys.stderr.flush()
        os._exit(128 + signum)

    def message(self) -> str:
        name = signal.Signals(self.received or signal.SIGINT).name
        return f"interrupted by {name}; finished work is saved: rerun the same command to resume"

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def main() -> None:
    debug = "--debug" in sys.argv
    argv = [a for a in sys.argv[1:] if a != "--debug"]
    apply_thread_policy()
    signals = _Signals()
    try:
        with signals.installed():
            code = app(argv, prog_name="crescent", standalone_mode=False)
    except KeyboardInterrupt:
        code = 130
    except click_exceptions.NoArgsIsHelpError as exc:  # typer has printed the help already
        sys.exit(exc.exit_code)
    except click_exceptions.ClickException as exc:  # a usage error: unknown option, bad value
        if debug:
            raise
        where = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
        print_error(exc.format_message() + where)
        sys.exit(exc.exit_code)
    except typer.Abort:
        code = 130
    except CrescentError as exc:
        if debug:
            raise
        print_error(str(exc))
        sys.exit(2)
    except Exception as exc:  # an unexpected failure: still one line, with a way to see more
        if debug:
            raise
        print_error(f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        sys.exit(1)
    if signals.received is not None or code == 130:
        print_error(signals.message())
        sys.exit(128 + (signals.received or signal.SIGINT))
    sys.exit(code if isinstance(code, int) else 0)
