"""CLI options generated from the config models, so each option is defined once, in ``config.py``.

Every field of a config becomes ``--field-name`` with the field's type, description and default; the YAML
file (``--config``) fills the same fields and explicit flags override it (``config.load_config``).

Why typer driven by the model fields, rather than pydantic-settings' CLI or tyro: the CLI already is
typer (rich help, sub-apps such as ``eval compare``, our one-line errors), and turning fields into typer
parameters takes the few lines below. pydantic-settings' ``CliApp`` or tyro would replace typer wholesale
and print their own multi-line validation errors instead of ours.
"""

from __future__ import annotations

import enum
import inspect
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
ALIASES: dict[str, tuple[str, ...]] = {
    "out": ("-o",),
    "ray_address": ("--address",),
    "quiet": ("-q",),
    "data": ("-d",),
    "against": ("-a",),
}
# Fields given by position (``crescent report RUN_DIR``) rather than as an option.
ARGUMENTS = frozenset({"run_dir"})


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "none"
    if isinstance(default, str) and len(default) > 60:
        return repr(default[:57] + "...")
    return repr(default) if isinstance(default, str) else str(default)


def field_parameter(name: str, field: FieldInfo, section: str = "") -> inspect.Parameter:
    """One keyword parameter whose typer option mirrors ``field`` (``None`` = not given on the line).

    A field of a nested section is ``--section.field-name``, passed to the command as ``section__field``.
    """
    annotation = _strip_optional(field.annotation)
    if name in ARGUMENTS and not section:  # a positional argument: the thing the command acts on
        argument = typer.Argument(
            metavar=name.upper(), help=escape(field.description or name), show_default=False
        )
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[annotation, argument]
        )
    flag = "--" + (f"{section}." if section else "") + name.replace("_", "-")
    help_text = escape(f"{field.description or name.replace('_', ' ')} [default: {_default_text(field)}]")
    aliases = () if section else ALIASES.get(name, ())
    if annotation is bool:
        decls: tuple[str, ...] = (f"{flag}/--no-{flag[2:]}", *aliases)
    else:
        decls = (flag, *aliases)
    if typing.get_origin(annotation) is Literal:  # typer offers choices through an Enum
        choices = [str(a) for a in typing.get_args(annotation)]
        annotation = enum.Enum(f"{name}_choice", {c: c for c in choices}, type=str)
    option = typer.Option(*decls, help=help_text, show_default=False)
    return inspect.Parameter(
        f"{section}__{name}" if section else name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[annotation | None, option],
    )


def _is_section(field: FieldInfo) -> bool:
    annotation = _strip_optional(field.annotation)
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def config_parameters(cls: type[BaseModel], exclude: frozenset[str] = frozenset()) -> list[inspect.Parameter]:
    """Parameters for every field, sections (nested configs) expanded into dotted flags."""
    params = []
    for name in ordered_fields(cls):
        field = cls.model_fields[name]
        if name in exclude:
            continue
        if _is_section(field):
            section_cls = _strip_optional(field.annotation)
            owned = getattr(section_cls, "IMPROVE_OWNS", frozenset())
            params += [
                field_parameter(sub, section_cls.model_fields[sub], section=name)
                for sub in ordered_fields(section_cls)
                if sub not in owned
            ]
        else:
            params.append(field_parameter(name, field))
    return params


def _nest(values: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, enum.Enum):
            value = value.value
        section, _, name = key.partition("__")
        if name:
            nested.setdefault(section, {})[name] = value
        else:
            nested[key] = value
    return nested


def ordered_fields(cls: type[BaseModel]) -> list[str]:
    """Required fields, then the command's own, then the inherited ones; nested sections last."""
    names: list[str] = []
    for klass in cls.__mro__:
        names += [
            n for n in vars(klass).get("__annotations__", {}) if n in cls.model_fields and n not in names
        ]
    return sorted(
        names, key=lambda n: (_is_section(cls.model_fields[n]), not cls.model_fields[n].is_required())
    )


def config_command(
    cls: type[C],
    run: Callable[[C], None],
    *,
    doc: str,
    exclude: frozenset[str] = frozenset(),
    group: bool = False,
) -> Callable[..., None]:
    """A typer command that builds ``cls`` from ``--config`` + flags and hands it to ``run``.

    ``group``: the command is also the callback of a typer group with subcommands (``eval`` and
    ``eval compare``): it steps aside when a subcommand runs, and shows the help when given nothing.
    """
    params = config_parameters(cls, exclude)
    config_option = typer.Option(
        "--config", help=f"YAML file with any {cls.__name__} field; flags override it"
    )
    # Read (and removed from the line) by crescent.cli.main before typer parses; listed for the help.
    debug_option = typer.Option("--debug", help="show the traceback of an error", show_default=False)
    params += [
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[Path | None, config_option],
        ),
        inspect.Parameter(
            "debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[bool, debug_option]
        ),
    ]
    if group:
        params.insert(0, inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))

    def command(**values: Any) -> None:
        ctx = values.pop("ctx", None)
        values.pop("debug")
        config_path = values.pop("config")
        values = {k: None if isinstance(v, list | tuple) and not v else v for k, v in values.items()}
        if ctx is not None:
            if ctx.invoked_subcommand is not None:
                return  # the group callback before a subcommand: that command does the work
            if config_path is None and all(v is None for v in values.values()):
                typer.echo(ctx.get_help())
                raise typer.Exit(0)
        run(load_config(cls, config_path, **_nest(values)))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = doc
    command.__name__ = cls.__name__.removesuffix("Config").lower()
    return command
