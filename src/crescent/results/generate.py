"""``stats.json``: what a ``generate`` run counted as it went (``pipeline/export.py`` writes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from crescent.results.base import ConfigEcho, Number, Record, Summary

SOURCE_BAIT, SOURCE_FILE = "bait", "file"
PAIRS_CONFIG = "pairs"  # the dataset config of the preference pairs when a run is exported


class Source(Record):
    """Where the questions came from; runs written before sources existed record none (all bait)."""

    kind: str = SOURCE_BAIT
    path: str | None = None  # relative to the run folder
    file_rows: int | None = None
    whole_file: bool | None = None


class Bait(Record):
    attempts: int
    cleaned: int
    accepted: int
    rejected: dict[str, int]
    clean_rate: Number | None = None


class Vote(Record):
    questions: int
    kept: int
    dropped: dict[str, int]
    votes_per_question: int
    extraction_rate: Number
    consensus_histogram: dict[str, int]
    mean_consensus: Number
    label_policy: dict[str, Any] | None = None


class Export(Record):
    rows: int
    path: str | None = None
    rows_per_question: dict[str, int] | None = None
    depth_histogram: dict[str, int] | None = None
    benchmark_depth_histograms: dict[str, dict[str, int]] | None = None


class Pairs(Record):
    written: int = 0
    from_votes: int | None = None
    from_probes: int | None = None
    probes_drawn: int = 0
    unanimous_without_pair: int | None = None
    mean_weight: Number | None = None


class GenerateStats(Summary):
    FILE = "stats.json"
    ROWS: ClassVar[str] = "data.jsonl"  # the chat rows, one per kept solution
    PAIRS: ClassVar[str] = "pairs.jsonl"  # the preference pairs beside them

    stop_reason: str
    resumed: bool | None = None
    source: Source | None = None
    bait: Bait
    vote: Vote
    tokens_generated: int
    wall_s: Number
    tokens_per_s: Number
    sessions: int | None = None
    config: ConfigEcho = Field(default_factory=ConfigEcho)  # the run's GenerateConfig as JSON
    export: Export
    pairs: Pairs | None = None
    self_check: dict[str, int] | None = None  # asked, yes, no, unclear: only when --self-check ran
    backend_usage_this_session: dict[str, Any] | None = None  # the engine's own counters (benchmarks)

    @property
    def from_file(self) -> bool:
        return self.source is not None and self.source.kind == SOURCE_FILE

    def questions_source(self) -> str:
        """Where the questions came from, in one line (the card and the report say it)."""
        accepted = self.bait.accepted
        source = self.source
        if source is not None and source.kind == SOURCE_FILE:
            whole = f", the whole file of {source.file_rows} rows" if source.whole_file else ""
            # The file's name: the recorded path is relative to the run folder, which a card is not in.
            return f"questions: {accepted} from {Path(str(source.path)).name}{whole} (seed augmentation)"
        return f"questions: {accepted} from bait (written by the model itself, self-deduplicated)"
