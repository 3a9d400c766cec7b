"""``crescent models list | pull NAME``: named models fetched in one step (see crescent.catalog)."""

from __future__ import annotations

from typing import Annotated

import typer

from crescent.progress import console

models_app = typer.Typer(
    help="Named models: list them, or pull one into the local cache.", no_args_is_help=True
)


@models_app.command("list")
def list_command() -> None:
    """The catalog, and where each model is (or would be) cached."""
    from crescent import catalog

    for model in catalog.CATALOG.values():
        path = catalog.cache_dir() / model.file
        state = "pulled" if path.is_file() and path.stat().st_size == model.size else "not pulled"
        console.print(
            f"{model.name}  ({state}; {model.license})  {model.about}", highlight=False, markup=False
        )
        typer.echo(f"  {path}")


@models_app.command("pull")
def pull_command(name: Annotated[str, typer.Argument(help="A name from 'crescent models list'.")]) -> None:
    """Download, join and verify a model; then pass --model NAME to any command."""
    from crescent import catalog

    typer.echo(str(catalog.pull(name)))


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
