"""``train_stats.json``: what a ``train`` run did (``train/run.py`` writes it)."""

from __future__ import annotations

from pydantic import Field

from crescent.results.base import ConfigEcho, Number, Record, Summary


class LossPoint(Record):
    step: int
    loss: Number


class GgufSkipped(Record):
    skipped: str


class TrainStats(Summary):
    FILE = "train_stats.json"
    ASCII = True

    method: str | None = None
    weights: str | None = None  # "lora" or "full"
    rows: int | None = None
    steps: int | None = None
    loss_curve: list[LossPoint] = Field(default_factory=list)
    first_loss: Number | None = None
    final_loss: Number | None = None
    resumed_from: str | None = None  # the checkpoint folder this session resumed from
    gguf: str | GgufSkipped | None = None  # the GGUF's path in the run, or why none was written
    train_time_s: Number | None = None  # wall time of every session whose checkpoint recorded it
    tokens_per_s: Number | None = None  # this session's rate
    config: ConfigEcho = Field(default_factory=ConfigEcho)  # the run's TrainConfig as JSON
