"""Who teaches whom in each round of an ``improve`` run, from its options alone.

``improve`` uses it to pick each round's models, and ``crescent export`` / ``crescent report`` to say
which model wrote a round's data and which one was trained on it. It lives apart from the driver,
which renders the report, so that the report and the card read it without an import cycle.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from crescent.results.base import ConfigEcho
from crescent.runs import model_label

CONFIG_FILE = "improve_config.json"  # the run's options (its fingerprint): written first, read on resume
_ROUND_DIR = re.compile(r"round-(\d+)")


def round_models(options: dict[str, Any], out: Path, r: int) -> dict[str, str | None]:
    """Which model writes round ``r``'s data (teacher) and whose weights it trains (student).

    Self-improvement: the model of the previous round is both. Distillation (``--student``): the fixed
    ``--model`` teaches, the student trained so far learns. ``options`` is the improve config as JSON,
    so ``crescent export`` of a round's data can say the same from ``improve_config.json`` alone.
    ``None`` is the embedded model.
    """
    start = options.get("student") or options.get("model")
    previous = out / f"round-{r - 1}" / "train"
    student = start if r == 1 else str(previous / "model")
    if options.get("student"):
        return {"teacher": options.get("model"), "student": student}
    return {"teacher": start if r == 1 else trained_model(previous), "student": student}


def data_round(data_dir: Path) -> dict[str, Any] | None:
    """``{"round", "distillation", "teacher", "student"}`` when ``data_dir`` is a round's data folder of
    an improve run (so ``crescent export`` of it can say who taught whom); ``None`` for any other run."""
    data_dir = Path(data_dir).absolute()
    match = _ROUND_DIR.fullmatch(data_dir.parent.name)
    options_path = data_dir.parent.parent / CONFIG_FILE
    if data_dir.name != "data" or match is None or not options_path.is_file():
        return None
    r = int(match[1])
    options = json.loads(options_path.read_text())
    models = round_models(options, data_dir.parent.parent, r)
    labels = {role: label(model) for role, model in models.items()}
    return {"round": r, "distillation": bool(options.get("student")), **labels}


def trained_model(train_dir: Path) -> str:
    """A trained round's model: its GGUF for llama.cpp when one was written, else the HF folder."""
    gguf = train_dir / "model.gguf"
    return str(gguf if gguf.exists() else train_dir / "model")


def label(model: str | None) -> str:
    return model_label(ConfigEcho(model=model))
