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
    epochs: Number | None = None  # the trainer's epoch counter at the end (2.0 after two full epochs)
    loss_curve: list[LossPoint] = Field(default_factory=list)
    first_loss: Number | None = None
    final_loss: Number | None = None
    resumed_from: str | None = None  # the checkpoint folder this session resumed from
    gguf: str | GgufSkipped | None = None  # the GGUF's path in the run, or why none was written
    train_time_s: Number | None = None  # wall time of every session whose checkpoint recorded it
    tokens_per_s: Number | None = None  # this session's rate
    config: ConfigEcho = Field(default_factory=ConfigEcho)  # the run's TrainConfig as JSON

    @property
    def loss_by_epoch(self) -> list[float]:
        """The mean logged loss of each epoch, the figure to read a training by: the first and the last step
        alone are one batch each, and the last may be a batch of one row (201 rows at 8 a step)."""
        if not self.loss_curve or not self.steps or not self.epochs:
            return []
        per_epoch = max(1, round(self.steps / self.epochs))
        sums: dict[int, list[float]] = {}
        for point in self.loss_curve:
            sums.setdefault((point.step - 1) // per_epoch, []).append(float(point.loss))
        return [round(sum(v) / len(v), 5) for _, v in sorted(sums.items())]
