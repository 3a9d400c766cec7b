"""CLI commands generated from the config models, so each option is defined once, in ``config.py``.

A field becomes ``--field-name`` (type, description, default), a nested section's field
``--section.field-name``, and the config's docstring the help; ``--config`` YAML fills the same fields.
Why typer driven by the model fields, not pydantic-settings' CLI or tyro: those would replace typer
wholesale (rich help, sub-apps such as ``eval compare``) and print their own multi-line validation
errors instead of our one-line ones; turning fields into typer parameters takes the few lines below.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rich.markup import escape

from crescent.config import load_config

C = TypeVar("C", bound=BaseModel)

# Short or historical spellings kept for the flags people already type.
ALIASES = dict(out=("-o",), ray_address=("--address",), quiet=("-q",), data=("-d",), against=("-a",))
# Given by position rather than as an option: what the command acts on.
ARGUMENTS = frozenset({"run_dir", "baseline", "candidate", "name"})
KW = inspect.Parameter.KEYWORD_ONLY


def _strip_optional(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return args[0] if is_union and len(args) == 1 else annotation


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    default = field.get_default(call_default_factory=True)
    if isinstance(default, str):
        return repr(default if len(default) <= 60 else default[:57] + "...")
    return "none" if default is None else str(default)


def field_parameter(name: str, field: FieldInfo, section: str = "") -> inspect.Parameter:
    """One keyword parameter whose typer option mirrors ``field`` (``None`` = not given on the line).

    A field of a nested section is ``--section.field-name``, passed to the command as ``section__field``.
    """
    annotation = _strip_optional(field.annotation)
    if name in ARGUMENTS and not section:
        argument = typer.Argument(
            metavar=name.upper(), help=escape(field.description or name), show_default=False
        )
        return inspect.Parameter(name, KW, annotation=Annotated[annotation, argument])
    flag = "--" + (f"{section}." if section else "") + name.replace("_", "-")
    aliases = () if section else ALIASES.get(name, ())
    decls = (f"{flag}/--no-{flag[2:]}" if annotation is bool else flag, *aliases)
    if typing.get_origin(annotation) is Literal:  # typer offers choices through an Enum
        annotation = enum.Enum(
            f"{name}_choice", {str(a): str(a) for a in typing.get_args(annotation)}, type=str
        )
    help_text = escape(f"{field.description or name.replace('_', ' ')} [default: {_default_text(field)}]")
    option = typer.Option(*decls, help=help_text, show_default=False)
    key = f"{section}__{name}" if section else name
    return inspect.Parameter(key, KW, default=None, annotation=Annotated[annotation | None, option])


def _section_class(field: FieldInfo) -> type[BaseModel] | None:
    annotation = _strip_optional(field.annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def ordered_fields(cls: type[BaseModel]) -> list[str]:
    """Required fields, then the command's own, then the inherited ones; nested sections last."""
    names: list[str] = []
    fields = cls.model_fields
    for klass in cls.__mro__:
        names += [n for n in vars(klass).get("__annotations__", {}) if n in fields and n not in names]
    return sorted(names, key=lambda n: (_section_class(fields[n]) is not None, not fields[n].is_required()))


def config_parameters(cls: type[BaseModel]) -> list[inspect.Parameter]:
    """Parameters for every field, sections (nested configs) expanded into dotted flags."""
    params = []
    for name in ordered_fields(cls):
        section = _section_class(cls.model_fields[name])
        if section is None:
            params.append(field_parameter(name, cls.model_fields[name]))
            continue
        fields = section.model_fields  # an excluded field is one improve fills in itself, per round
        params += [
            field_parameter(s, fields[s], name) for s in ordered_fields(section) if not fields[s].exclude
        ]
    return params


def _nest(values: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in values.items():
        value = value.value if isinstance(value, enum.Enum) else value
        section, _, name = key.partition("__")
        if name:
            nested.setdefault(section, {})[name] = value
        else:
            nested[key] = value
    return nested


def command_help(cls: type[BaseModel]) -> str:
    """The first paragraph of the config's docstring, without its ``crescent NAME:`` prefix."""
    first = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0]
    text = " ".join(re.sub(r"^``crescent [\w ]+``:\s*", "", first).split()).replace("``", "'")
    return text[:1].upper() + text[1:]


def config_command(cls: type[C], run: Callable[[C], None], *, group: bool = False) -> Callable[..., None]:
    """A typer command that builds ``cls`` from ``--config`` + flags and hands it to ``run``.

    ``group``: the command is also the callback of a typer group with subcommands (``eval`` and
    ``eval compare``): it steps aside when a subcommand runs, and shows the help when given nothing.
    """
    config_option = typer.Option(
        "--config", help=f"YAML file with any {cls.__name__} field; flags override it"
    )
    # Read (and removed from the line) by crescent.cli.main before typer parses; listed for the help.
    debug_option = typer.Option("--debug", help="show the traceback of an error", show_default=False)
    params = [
        *([inspect.Parameter("ctx", KW, annotation=typer.Context)] if group else []),
        *config_parameters(cls),
        inspect.Parameter("config", KW, default=None, annotation=Annotated[Path | None, config_option]),
        inspect.Parameter("debug", KW, default=False, annotation=Annotated[bool, debug_option]),
    ]

    def command(**values: Any) -> None:  # typer reads the parameters from __signature__ below
        ctx, config, _ = values.pop("ctx", None), values.pop("config"), values.pop("debug")
        values = {k: None if isinstance(v, list | tuple) and not v else v for k, v in values.items()}
        if ctx is not None and ctx.invoked_subcommand is not None:
            return  # the group callback before a subcommand: that command does the work
        if ctx is not None and config is None and all(v is None for v in values.values()):
            typer.echo(ctx.get_help())
            raise typer.Exit(0)
        run(load_config(cls, config, **_nest(values)))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = command_help(cls)
    command.__name__ = cls.__name__.removesuffix("Config").lower()
    return command
