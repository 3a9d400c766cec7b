"""Help pages whose option names are never cut, at any terminal width.

typer's rich help lays every option out in a six-column table; on an 80-column terminal the name column
loses the squeeze, so ``crescent improve --help`` printed ``--generate.min-…`` and a user could not see
what to type. Here each option is one row of two columns: the whole name (never wrapped, never cut) and
its description, which wraps in the space left; when too little is left the description goes under the
name. Options are grouped in panels: the command's own, then one per section (``--generate.*`` ...).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

MIN_DESCRIPTION = 28  # narrower than this, a description reads better under its name
OWN_PANEL = "Options"


class ReadableHelp(TyperCommand):
    """A command whose ``--help`` shows every option name whole (see the module docstring)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        print_help(self, ctx)


class ReadableGroupHelp(TyperGroup):
    """The same for a group that also runs as a command (``crescent eval``), with its subcommands."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        print_help(self, ctx)


def print_help(command: Any, ctx: Any) -> None:
    console = Console(highlight=False, soft_wrap=False)
    console.print(Text(command.get_usage(ctx)), markup=False)
    if command.help:
        console.print(Padding(Text.from_markup(command.help), (1, 0, 1, 1)))
    width = console.width - 4  # the panel's border and padding
    for panel, rows in _panels(ctx, command.get_params(ctx)).items():
        console.print(Panel(_rows(rows, width), title=panel, title_align="left"))
    subcommands = [
        (name, sub.get_short_help_str(limit=width)) for name in command.list_commands(ctx)
        if (sub := command.get_command(ctx, name)) is not None and not sub.hidden
    ] if hasattr(command, "list_commands") else []  # fmt: skip
    if subcommands:
        console.print(Panel(_rows(subcommands, width), title="Commands", title_align="left"))


def _panels(ctx: Any, params: list[Any]) -> dict[str, list[tuple[str, str]]]:
    panels: dict[str, list[tuple[str, str]]] = {OWN_PANEL: []}
    for param in params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, description = record
        panels.setdefault(getattr(param, "rich_help_panel", None) or OWN_PANEL, []).append(
            (names, description)
        )
    return {name: rows for name, rows in panels.items() if rows}


def _rows(rows: list[tuple[str, str]], width: int) -> Table | Group:
    """Descriptions are typer's help strings: rich markup, with user-facing text escaped."""
    name_width = max(len(name) for name, _ in rows)
    if width - name_width - 2 >= MIN_DESCRIPTION:
        table = Table(show_header=False, box=None, padding=(0, 2, 0, 0), expand=True)
        table.add_column(no_wrap=True, min_width=name_width, style="bold cyan")
        table.add_column(ratio=1)
        for name, description in rows:
            table.add_row(Text(name), Text.from_markup(description))
        return table
    stacked: list[Any] = []
    for name, description in rows:  # too narrow for two columns: the name on its own line, whole
        stacked += [
            Text(name, style="bold cyan", overflow="ignore", no_wrap=True),
            Padding(Text.from_markup(description), (0, 0, 0, 4)),
        ]
    return Group(*stacked)
