"""Every command: the config model it takes and the API function that runs it, nothing else.

Options and help come from the config (``options.py``); what a command prints comes from its result:
``describe()`` on stderr for a person, ``stdout()`` on stdout for a script (a path, or compare's JSON).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Protocol

import typer
from pydantic import BaseModel

from crescent import config as c
from crescent.cli.help import ReadableGroupHelp, ReadableHelp
from crescent.cli.options import config_command
from crescent.progress import console


class CommandResult(Protocol):
    def describe(self) -> str: ...
    def stdout(self) -> str: ...


Spec = tuple[type[BaseModel], str]  # (config, "module:function"); the module is imported when the
# command runs, so that `crescent --help` loads neither torch nor llama.cpp.
COMMANDS: dict[str, Spec] = {
    "generate": (c.GenerateConfig, "crescent.pipeline.generate:generate"),
    "audit": (c.AuditConfig, "crescent.eval.audit:audit"),
    "contamination": (c.ContaminationConfig, "crescent.eval.contamination:check_contamination"),
    "train": (c.TrainConfig, "crescent.train.run:train"),
    "prune": (c.PruneConfig, "crescent.train.prune:prune"),
    "merge": (c.MergeConfig, "crescent.train.merge:merge"),
    "improve": (c.ImproveConfig, "crescent.train.improve:improve"),
    "distill": (c.DistillConfig, "crescent.train.improve:improve"),
    "report": (c.ReportConfig, "crescent.reports:report"),
    "export": (c.ExportConfig, "crescent.publish:export_dataset"),
}
EVAL: Spec = (c.EvalConfig, "crescent.eval.run:evaluate")
GROUPS: dict[str, tuple[str, dict[str, Spec]]] = {  # name -> (help, subcommands)
    "eval": (
        "Score a model on a JSONL benchmark (default; also 'eval run'), compare two evals, or rescore one.",
        {
            "run": EVAL,
            "compare": (c.CompareConfig, "crescent.eval.compare:compare"),
            "rescore": (c.RescoreConfig, "crescent.eval.rescore:rescore"),
        },
    ),
    "models": (
        "Named models: list them, or pull one into the local cache.",
        {
            "list": (c.ModelsListConfig, "crescent.catalog:list_models"),
            "pull": (c.ModelsPullConfig, "crescent.catalog:pull_model"),
        },
    ),
}


def _command(spec: Spec) -> Callable[..., None]:
    config_cls, api = spec
    module, _, function = api.partition(":")

    def run(config: BaseModel) -> None:
        result: CommandResult = getattr(import_module(module), function)(config)
        console.print(result.describe(), highlight=False, markup=False, emoji=False, soft_wrap=True)
        typer.echo(result.stdout())

    return config_command(config_cls, run)


def register(app: typer.Typer) -> None:
    for name, spec in COMMANDS.items():
        app.command(name, cls=ReadableHelp)(_command(spec))
    for name, (help_text, subcommands) in GROUPS.items():
        scores = name == "eval"  # `eval` itself scores: its callback runs unless a subcommand is given
        group = typer.Typer(
            help=help_text, no_args_is_help=True, invoke_without_command=scores, cls=ReadableGroupHelp
        )
        if scores:
            group.callback()(_command(EVAL))
        for sub, spec in subcommands.items():
            group.command(sub, cls=ReadableHelp)(_command(spec))
        app.add_typer(group, name=name)
