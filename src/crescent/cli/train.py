"""``crescent train`` and ``crescent prune``: thin layers that build a config and call the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crescent.config import PruneConfig, TrainConfig, load_config
from crescent.progress import console

Opt = typer.Option


def train_command(
    data: Annotated[
        Path, Opt("--data", "-d", help="JSONL with a 'messages' chat per row (generate's data.jsonl).")
    ],
    out: Annotated[Path, Opt("--out", "-o", help="Output folder (resumed from its last checkpoint).")],
    model: Annotated[
        str | None, Opt(help="GGUF path, HF folder or hub id. Default: embedded SmolLM2-135M.")
    ] = None,
    lora: Annotated[bool | None, Opt("--lora/--full", help="LoRA adapter (merged) or all weights.")] = None,
    lora_r: Annotated[int | None, Opt(help="LoRA rank.")] = None,
    epochs: Annotated[float | None, Opt(help="Passes over the data.")] = None,
    lr: Annotated[float | None, Opt(help="Learning rate (default 2e-4 LoRA, 2e-5 full).")] = None,
    max_steps: Annotated[int | None, Opt(help="Optimizer steps; overrides --epochs.")] = None,
    seed: Annotated[int | None, Opt(help="Seed for LoRA init, shuffling and dropout.")] = None,
    batch_size: Annotated[int | None, Opt(help="Rows per step.")] = None,
    grad_accum: Annotated[int | None, Opt(help="Steps accumulated per optimizer update.")] = None,
    max_length: Annotated[int | None, Opt(help="Tokens per row (longer rows are truncated).")] = None,
    save_steps: Annotated[int | None, Opt(help="Checkpoint every this many steps.")] = None,
    threads: Annotated[int | None, Opt(help="CPU threads.")] = None,
    gguf: Annotated[bool | None, Opt("--gguf/--no-gguf", help="Also write model.gguf.")] = None,
    gguf_dtype: Annotated[str | None, Opt(help="f16 | f32 weights in model.gguf.")] = None,
    config: Annotated[Path | None, Opt("--config", help="YAML file with any TrainConfig field.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Fine-tune on crescent data (loss on the answers) -> DIR/model, DIR/model.gguf, DIR/train_stats.json."""
    from crescent.train.sft import train

    cfg = load_config(
        TrainConfig,
        config,
        data=data,
        out=out,
        model=model,
        lora=lora,
        lora_r=lora_r,
        epochs=epochs,
        lr=lr,
        max_steps=max_steps,
        seed=seed,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_length=max_length,
        save_steps=save_steps,
        threads=threads,
        gguf=gguf,
        gguf_dtype=gguf_dtype,
        quiet=quiet or None,
    )
    result = train(cfg)
    stats = result.stats
    resumed = f", resumed from {stats['resumed_from']}" if stats["resumed_from"] else ""
    console.print(
        f"[green]done[/green] ({stats['method']}{resumed}): {stats['steps']} steps, "
        f"loss {stats['first_loss']} -> {stats['final_loss']}, "
        f"{stats['tokens_per_s']} tok/s in {stats['train_time_s']} s",
        highlight=False,
    )
    if result.gguf_path is None:
        console.print(f"[yellow]no GGUF written:[/yellow] {stats['gguf']['skipped']}", highlight=False)
    typer.echo(str(result.model_dir))


def prune_command(
    out: Annotated[Path, Opt("--out", "-o", help="Output folder for model/ and model.gguf.")],
    model: Annotated[
        str | None, Opt(help="GGUF path, HF folder or hub id. Default: embedded SmolLM2-135M.")
    ] = None,
    keep: Annotated[
        str | None, Opt(help="'every-other' (plus the last layer) or layer numbers '0,2,29'.")
    ] = None,
    gguf: Annotated[bool | None, Opt("--gguf/--no-gguf", help="Also write model.gguf.")] = None,
    gguf_dtype: Annotated[str | None, Opt(help="f16 | f32 weights in model.gguf.")] = None,
    config: Annotated[Path | None, Opt("--config", help="YAML file with any PruneConfig field.")] = None,
) -> None:
    """Drop decoder layers to make a weaker student model (no training)."""
    from crescent.train.prune import prune

    cfg = load_config(PruneConfig, config, out=out, model=model, keep=keep, gguf=gguf, gguf_dtype=gguf_dtype)
    result = prune(cfg)
    console.print(
        f"[green]done[/green]: kept {len(result.kept)} of {result.layers_before} layers {result.kept}, "
        f"{result.parameters / 1e6:.1f} M parameters",
        highlight=False,
    )
    typer.echo(str(result.gguf_path or result.model_dir))


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("prune")(prune_command)
