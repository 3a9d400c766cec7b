"""``results.json``: the score of an ``eval`` run (``eval/run.py`` writes it, ``eval rescore`` updates it)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from crescent.results.base import ConfigEcho, Number, Record, Summary


class DepthAccuracy(Record):
    """One reasoning-depth bucket of ``by_depth`` (``eval/by_depth.py``); an empty one has no accuracy."""

    depth: int | str
    n: int
    correct: int | None = None
    accuracy: Number | None = None
    ci95: list[Number] | None = None


class EvalResults(Summary):
    FILE = "results.json"
    ROWS: ClassVar[str] = "predictions.jsonl"  # one scored item per line

    task: str | None = None  # None: written before --task, a math eval
    metric: str = "accuracy"  # what "accuracy" measures (humaneval: pass@1)
    accuracy: Number
    correct: int
    n: int
    ci95: list[Number]
    by_depth: list[DepthAccuracy] | None = None  # None: written before depth (see `eval rescore`)
    extraction_failure_rate: Number
    truncated_rate: Number | None = None
    votes: int = 1
    temperature: Number | None = None
    shots: list[dict[str, Any]] = Field(default_factory=list)
    tokens: int
    wall_s: Number
    tokens_per_s: Number
    sessions: int | None = None
    data_sha256: str | None = None
    skipped: list[dict[str, Any]] = Field(default_factory=list)
    backend_usage_this_session: dict[str, Any] | None = None  # the engine's own counters (benchmarks)
    config: ConfigEcho = Field(default_factory=ConfigEcho)  # the run's EvalConfig as JSON
