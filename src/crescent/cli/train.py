"""``crescent train`` and ``crescent prune`` (options from TrainConfig and PruneConfig)."""

from __future__ import annotations

import typer

from crescent.cli.options import config_command
from crescent.config import PruneConfig, TrainConfig
from crescent.progress import console


def _train(config: TrainConfig) -> None:
    from crescent.train.sft import train

    result = train(config)
    stats = result.stats
    resumed = f", resumed from {stats['resumed_from']}" if stats["resumed_from"] else ""
    console.print(
        f"done ({stats['method']}{resumed}): {stats['steps']} steps, "
        f"loss {stats['first_loss']} -> {stats['final_loss']}, "
        f"{stats['tokens_per_s']} tok/s in {stats['train_time_s']} s",
        highlight=False,
        markup=False,
    )
    if result.gguf_path is None:
        console.print(f"no GGUF written: {stats['gguf']['skipped']}", highlight=False, markup=False)
    typer.echo(str(result.model_dir))


def _prune(config: PruneConfig) -> None:
    from crescent.train.prune import prune

    result = prune(config)
    console.print(
        f"done: kept {len(result.kept)} of {result.layers_before} layers {result.kept}, "
        f"{result.parameters / 1e6:.1f} M parameters",
        highlight=False,
        markup=False,
    )
    typer.echo(str(result.gguf_path or result.model_dir))


def register(app: typer.Typer) -> None:
    app.command("train")(
        config_command(
            TrainConfig,
            _train,
            doc="Fine-tune on crescent data (loss on the answers) -> DIR/model, DIR/model.gguf, "
            "DIR/train_stats.json.",
        )
    )
    app.command("prune")(
        config_command(
            PruneConfig, _prune, doc="Drop decoder layers to make a weaker student model (no training)."
        )
    )
