"""``summary.json``: what ``crescent contamination`` flagged (``eval/contamination.py`` writes it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from crescent.results.base import ConfigEcho, Number, Summary


class ContaminationSummary(Summary):
    FILE = "summary.json"

    generated: int
    flagged: dict[str, int]  # per check: ngram, embedding, both, any
    rates: dict[str, Number]
    ngram: int
    threshold: Number | None = None  # None: embeddings were off
    embeddings: bool = True
    fingerprint: dict[str, Any] | None = None  # None: written by a crescent from before resume checks
    config: ConfigEcho = Field(default_factory=ConfigEcho)
