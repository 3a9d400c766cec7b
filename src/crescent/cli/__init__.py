"""``crescent``: a thin CLI. Each command builds one config object and calls the Python API.

Every way a command can fail ends in one line on stderr: our own errors, typer's usage errors, any
unexpected exception (``--debug`` shows its traceback) and an interrupt (``crescent.interrupts``). User
and model text is printed literally, never read as rich markup.
"""

from __future__ import annotations

import re
import signal
import sys

import typer
from rich.text import Text
from typer._click import exceptions as click_exceptions  # typer vendors click; its errors live here

from crescent.cli import commands
from crescent.errors import CrescentError, ServiceFailure
from crescent.interrupts import Interrupts
from crescent.progress import console
from crescent.store import disk_full
from crescent.threads import apply_thread_policy

app = typer.Typer(
    name="crescent",
    help="A language model makes its own question-answer training data, then trains on it. "
    "Add --debug anywhere on the line to see the traceback of an error.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
commands.register(app)


def print_error(message: str) -> None:
    """``error: message`` on one line, the message taken literally (a path may hold ``[/x]``)."""
    one_line = re.sub(r"\s*[\r\n]+\s*", " ", message).strip()
    console.print(Text.assemble(("error:", "red"), " ", one_line), soft_wrap=True, highlight=False)


def main() -> None:
    debug = "--debug" in sys.argv
    apply_thread_policy()
    interrupts = Interrupts(report=print_error)
    try:
        with interrupts.installed():
            argv = [a for a in sys.argv[1:] if a != "--debug"]
            code = app(argv, prog_name="crescent", standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    except click_exceptions.NoArgsIsHelpError as exc:  # typer has printed the help already
        sys.exit(exc.exit_code)
    except Exception as exc:
        if debug:
            raise
        message, code = _explain(exc)
        print_error(message)
        sys.exit(code)
    if interrupts.received is not None or code == 130:
        print_error(interrupts.message())
        sys.exit(128 + (interrupts.received or signal.SIGINT))
    sys.exit(code if isinstance(code, int) else 0)


def _explain(exc: Exception) -> tuple[str, int]:
    """The error line and exit code: 2 for bad usage or input, 1 for anything unexpected."""
    if isinstance(exc, click_exceptions.ClickException):  # an unknown option, a bad value
        ctx = getattr(exc, "ctx", None)
        return exc.format_message() + (f" (see '{ctx.command_path} --help')" if ctx else ""), exc.exit_code
    if isinstance(exc, CrescentError):
        return str(exc), 2
    if isinstance(exc, ServiceFailure):
        return str(exc), 1
    if disk_full(exc):
        where = f" while writing {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"the disk is full{where}; free some space and rerun the same command", 1
    name = type(exc).__name__
    if name.islower():  # struct.error, socket.error: "error: error: ..." says nothing; name the module
        name = f"{type(exc).__module__}.{name}"
    return f"{name}: {exc} (rerun with --debug for the traceback)", 1
