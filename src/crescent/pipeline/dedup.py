"""Step 2, self-deduplication by rejection sampling, with the model's own embeddings.

Raw mean-pooled hidden states are anisotropic: every text shares one dominant
direction, which squeezes all similarities into a narrow band (README, "The dedup
threshold", has the figures). Subtracting
a mean vector and re-normalising spreads them out so one threshold separates
"same question reworded" from "different question"; ``scripts/calibrate_dedup.py``
picks that threshold on data.

The index is exact (flat inner product = cosine after normalisation) while small,
and an inverted-file index once large; see ``VectorIndex``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from crescent.pipeline.bait import normalized_key
from crescent.similarity import NgramIndex, VectorIndex, center_and_normalize


@dataclass(frozen=True)
class Decision:
    accepted: bool
    reason: str | None
    similarity: float | None


class Deduplicator:
    """Decides, one candidate at a time, whether a question is new enough to keep.

    Order matters (the first of two near-duplicates wins), so decisions are made
    sequentially in one place even when sampling and embedding are spread out.
    """

    def __init__(self, mean: np.ndarray, threshold: float) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.threshold = threshold
        self.accepted = VectorIndex(len(self.mean))
        self.excluded = VectorIndex(len(self.mean))
        self.seen_keys: set[str] = set()
        self.excluded_keys: set[str] = set()
        self.excluded_ngrams = NgramIndex()  # a shared 13-gram = a benchmark question lightly edited

    def restore(self, questions: Iterable[str], vectors: np.ndarray) -> None:
        """Rebuild state from the store on resume (vectors are the stored, already-normalised ones)."""
        self.seen_keys.update(normalized_key(q) for q in questions)
        self.accepted.add(vectors)

    def exclude(self, questions: list[str], raw_vectors: np.ndarray) -> None:
        self.excluded_keys.update(normalized_key(q) for q in questions)
        self.excluded_ngrams.add_all(questions)
        self.excluded.add(center_and_normalize(raw_vectors, self.mean))

    def is_exact_duplicate(self, question: str) -> str | None:
        key = normalized_key(question)
        if key in self.excluded_keys:
            return "excluded_exact"
        if key in self.seen_keys:
            return "exact_duplicate"
        return None

    def decide(self, question: str, vector: np.ndarray) -> Decision:
        """``vector`` is already centered and normalised. Accepting adds it to the index."""
        exact = self.is_exact_duplicate(question)
        if exact:
            return Decision(False, exact, 1.0)
        if self.excluded_ngrams.find(question) is not None:
            return Decision(False, "excluded_ngram", None)
        row = vector.reshape(1, -1)
        if len(self.excluded):
            sim_excluded = float(self.excluded.nearest(row)[0][0])
            if sim_excluded >= self.threshold:
                return Decision(False, "excluded_near", sim_excluded)
        sim = float(self.accepted.nearest(row)[0][0])
        if sim >= self.threshold:
            return Decision(False, "near_duplicate", sim)
        self.accepted.add(row)
        self.seen_keys.add(normalized_key(question))
        return Decision(True, None, None if sim == -np.inf else sim)
