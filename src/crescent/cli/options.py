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
ALIASES: dict[str, tuple[str, ...]] = {"out": ("-o",), "ray_address": ("--address",), "quiet": ("-q",)}


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


def field_parameter(name: str, field: FieldInfo) -> inspect.Parameter:
    """One keyword parameter whose typer option mirrors ``field`` (``None`` = not given on the line)."""
    annotation = _strip_optional(field.annotation)
    flag = "--" + name.replace("_", "-")
    help_text = escape(f"{field.description or name.replace('_', ' ')} [default: {_default_text(field)}]")
    if annotation is bool:
        decls: tuple[str, ...] = (f"{flag}/--no-{flag[2:]}", *ALIASES.get(name, ()))
    else:
        decls = (flag, *ALIASES.get(name, ()))
    if typing.get_origin(annotation) is Literal:  # typer offers choices through an Enum
        choices = [str(a) for a in typing.get_args(annotation)]
        annotation = enum.Enum(f"{name}_choice", {c: c for c in choices}, type=str)
    option = typer.Option(*decls, help=help_text, show_default=False)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[annotation | None, option]
    )


def ordered_fields(cls: type[BaseModel]) -> list[str]:
    """Required fields, then the command's own, then the inherited ones (backend options last)."""
    names: list[str] = []
    for klass in cls.__mro__:
        names += [
            n for n in vars(klass).get("__annotations__", {}) if n in cls.model_fields and n not in names
        ]
    return sorted(names, key=lambda n: not cls.model_fields[n].is_required())


def config_command(
    cls: type[C],
    run: Callable[[C], None],
    *,
    doc: str,
    exclude: frozenset[str] = frozenset(),
) -> Callable[..., None]:
    """A typer command that builds ``cls`` from ``--config`` + flags and hands it to ``run``."""
    params = [field_parameter(n, cls.model_fields[n]) for n in ordered_fields(cls) if n not in exclude]
    config_option = typer.Option(
        "--config", help=f"YAML file with any {cls.__name__} field; flags override it"
    )
    params.append(
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[Path | None, config_option],
        )
    )

    def command(**values: Any) -> None:
        config_path = values.pop("config")
        if isinstance(values.get("exclude"), list | tuple) and not values["exclude"]:
            values["exclude"] = None
        values = {k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items()}
        run(load_config(cls, config_path, **values))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = doc
    command.__name__ = cls.__name__.removesuffix("Config").lower()
    return command
