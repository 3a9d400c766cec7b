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


def _section(field: FieldInfo) -> type[BaseModel] | None:
    annotation = _strip_optional(field.annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _default_text(field: FieldInfo) -> str:
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    if isinstance(default, str):
        return repr(default if len(default) <= 60 else default[:57] + "...")
    return "required" if field.is_required() else "none" if default is None else str(default)


def field_parameter(name: str, field: FieldInfo, section: str = "") -> inspect.Parameter:
    """A keyword parameter for ``field`` (``None``: not given); ``--section.name`` is ``section__name``."""
    annotation = _strip_optional(field.annotation)
    if typing.get_origin(annotation) is Literal:  # typer offers choices through an Enum
        choices = {str(a): str(a) for a in typing.get_args(annotation)}
        annotation = enum.Enum(f"{name}_choice", choices, type=str)
    description = field.description or name.replace("_", " ")
    if name in ARGUMENTS and not section:
        argument = typer.Argument(metavar=name.upper(), help=escape(description), show_default=False)
        return inspect.Parameter(name, KW, annotation=Annotated[annotation, argument])
    flag = "--" + (f"{section}." if section else "") + name.replace("_", "-")
    aliases = () if section else ALIASES.get(name, ())
    decls = (f"{flag}/--no-{flag[2:]}" if annotation is bool else flag, *aliases)
    help_text = escape(f"{description} [default: {_default_text(field)}]")
    panel = f"{section} options (--{section}.*)" if section else None
    option = typer.Option(*decls, help=help_text, show_default=False, rich_help_panel=panel)
    key = f"{section}__{name}" if section else name
    return inspect.Parameter(key, KW, default=None, annotation=Annotated[annotation | None, option])


def ordered_fields(cls: type[BaseModel]) -> list[str]:
    """Required fields, then the command's own, then the inherited ones; nested sections last."""
    declared = [n for klass in cls.__mro__ for n in vars(klass).get("__annotations__", {})]
    names = [n for n in dict.fromkeys(declared) if n in cls.model_fields]
    fields = cls.model_fields
    return sorted(names, key=lambda n: (_section(fields[n]) is not None, not fields[n].is_required()))


def config_parameters(cls: type[BaseModel]) -> list[inspect.Parameter]:
    """Parameters for every field, a section's (an excluded field is one improve fills in per round)."""
    params = []
    for name in ordered_fields(cls):
        if (section := _section(cls.model_fields[name])) is None:
            params.append(field_parameter(name, cls.model_fields[name]))
        else:
            sub = section.model_fields
            params += [
                field_parameter(s, sub[s], name) for s in ordered_fields(section) if not sub[s].exclude
            ]
    return params


def _nest(values: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in values.items():
        *section, name = key.split("__")
        target = nested.setdefault(section[0], {}) if section else nested
        target[name] = value.value if isinstance(value, enum.Enum) else value
    return nested


def command_help(cls: type[BaseModel]) -> str:
    """The first paragraph of the config's docstring, without its ``crescent NAME:`` prefix."""
    first = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0]
    text = " ".join(re.sub(r"^``crescent [\w ]+``:\s*", "", first).split()).replace("``", "'")
    return text[:1].upper() + text[1:]


def config_command(cls: type[C], run: Callable[[C], None]) -> Callable[..., None]:
    """A typer command that builds ``cls`` from ``--config`` + flags and hands it to ``run``."""
    config_option = typer.Option(
        "--config", help=f"YAML file with any {cls.__name__} field; flags override it"
    )
    # Read (and removed from the line) by crescent.cli.main before typer parses; listed for the help.
    debug_option = typer.Option("--debug", help="show the traceback of an error", show_default=False)
    params = [
        inspect.Parameter("ctx", KW, annotation=typer.Context),
        *config_parameters(cls),
        inspect.Parameter("config", KW, default=None, annotation=Annotated[Path | None, config_option]),
        inspect.Parameter("debug", KW, default=False, annotation=Annotated[bool, debug_option]),
    ]

    def command(**values: Any) -> None:  # typer reads the parameters from __signature__ below
        ctx, config, _ = values.pop("ctx"), values.pop("config"), values.pop("debug")
        if ctx.invoked_subcommand is not None:
            return  # `eval` is also a group's callback: before `eval compare`, compare does the work
        values = {k: None if isinstance(v, list | tuple) and not v else v for k, v in values.items()}
        run(load_config(cls, config, **_nest(values)))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = command_help(cls)
    return command
