"""The rows of a run as dataset files: Parquet through ``datasets`` (the train extra), or JSON lines.

Rows go through ``datasets``' own JSON loader before being written as Parquet, so
``load_dataset(DIR)`` gives exactly the columns and types that ``load_dataset("json", data.jsonl)``
gives: nothing is re-typed by hand.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Literal

from crescent.errors import CrescentError
from crescent.results.generate import PAIRS_CONFIG

PAIRS = PAIRS_CONFIG
"""The second config of a generate export: ``pairs.jsonl``, whose columns differ from the rows'
(each kind's rows, split and extra configs are its ``ExportSpec`` in ``runs.RUN_KINDS``)."""
INSTALL_HINT = "pip install 'crescent-llm[train]'"


def data_file(split: str, fmt: str, config: str = "default") -> str:
    """The file's path inside the dataset folder (what the card's ``configs`` points to)."""
    folder = "data" if config == "default" else f"data/{config}"
    return f"{folder}/{split}-00000-of-00001.parquet" if fmt == "parquet" else f"{folder}/{split}.jsonl"


def clear_data(to: Path) -> None:
    """A re-export replaces the old files rather than mixing with them."""
    data = to / "data"
    if data.exists():
        shutil.rmtree(data)


def write_dataset(
    rows_path: Path, to: Path, fmt: Literal["parquet", "jsonl"], split: str, config: str = "default"
) -> int:
    """Write ``rows_path``'s rows as ``config``'s ``split`` under ``to/data/``; returns the row count."""
    lines = [line for line in rows_path.read_text().splitlines() if line.strip()]
    if not lines:
        raise CrescentError(f"{rows_path} holds no rows, so there is nothing to export; check the run")
    target = to / data_file(split, fmt, config)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        shutil.copyfile(rows_path, target)
        return len(lines)
    try:
        import datasets
    except ImportError as exc:
        raise CrescentError(
            f"Parquet export needs the 'datasets' package: {INSTALL_HINT} (or pass --format jsonl)"
        ) from exc
    with tempfile.TemporaryDirectory() as cache:  # keep datasets' cache out of the user's home
        dataset = datasets.load_dataset("json", data_files=str(rows_path), split="train", cache_dir=cache)
        dataset.to_parquet(str(target))
    return dataset.num_rows
