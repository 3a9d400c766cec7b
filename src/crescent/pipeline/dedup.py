"""Step 2, self-deduplication by rejection sampling, with the model's own embeddings.

Raw mean-pooled hidden states are anisotropic: every text shares one dominant
direction (measured on SmolLM2-135M: paraphrases ~0.976 cosine, unrelated
questions 0.60-0.70), which squeezes all similarities into a narrow band. Subtracting
a mean vector and re-normalising spreads them out so one threshold separates
"same question reworded" from "different question"; ``scripts/calibrate_dedup.py``
picks that threshold on data.

The index is exact (flat inner product = cosine after normalisation) while small,
and an inverted-file index once large; see ``VectorIndex``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import faiss
import numpy as np

from crescent.eval.contamination import NgramIndex
from crescent.pipeline.bait import normalized_key

FLAT_LIMIT = 50_000  # exact search up to here: one query scans 115 MB (17 ms on a busy 2-core box)
IVF_LISTS = 1024  # inverted lists of the large index (k-means cells)
IVF_PROBES = 8  # cells searched per query
IVF_TRAIN_PER_LIST = 40  # k-means sample size per cell (faiss warns below 39)
IVF_TRAIN_ITERATIONS = 10  # k-means rounds; faiss's 25 would cost as many dot products as adding 10^6


def center_and_normalize(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    centered = np.asarray(vectors, dtype=np.float32) - mean.astype(np.float32)
    norms = np.linalg.norm(centered, axis=1, keepdims=True)
    return (centered / np.maximum(norms, 1e-12)).astype(np.float32)


class VectorIndex:
    """Nearest-neighbour cosine search over centered, normalised vectors; positions are add order.

    Up to ``FLAT_LIMIT`` vectors the search is exact and adding is free, which covers
    every run we expect (thousands of questions). Beyond it the index becomes faiss
    ``IndexIVFFlat`` (k-means on a sample of what is stored, then ``IVF_PROBES`` of
    ``IVF_LISTS`` cells per query). We chose it over HNSW because HNSW (M=32,
    efConstruction=80) took 97 CPU-seconds to add 10^5 vectors of dim 576, while IVF
    adds 10^6 with one matrix product per chunk; ``benchmarks/dedup.py`` measures time
    and recall@1 at 10^6 (see benchmarks/README.md). The cells are trained once, when
    the limit is crossed, so a resumed run that restores more than ``FLAT_LIMIT``
    vectors at once may train slightly different cells than the uninterrupted run did.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.index = faiss.IndexFlatIP(dim)
        self._quantizer: faiss.Index | None = None  # the IVF cells' index; must outlive self.index

    def __len__(self) -> int:
        return self.index.ntotal

    def add(self, vectors: np.ndarray) -> None:
        if not len(vectors):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self._quantizer is None and len(self) + len(vectors) > FLAT_LIMIT:
            self._become_ivf(vectors)
        else:
            self.index.add(vectors)

    def _become_ivf(self, new: np.ndarray) -> None:
        stored = self.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), np.float32)
        total = len(stored) + len(new)
        rng = np.random.default_rng(0)  # a fixed sample: the same vectors give the same cells
        picks = np.sort(rng.choice(total, size=min(total, IVF_TRAIN_PER_LIST * IVF_LISTS), replace=False))
        old, fresh = picks[picks < len(stored)], picks[picks >= len(stored)] - len(stored)
        sample = np.concatenate([stored[old], new[fresh]])
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, IVF_LISTS, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = IVF_TRAIN_ITERATIONS
        index.train(sample)
        index.nprobe = IVF_PROBES
        for part in (stored, new):
            if len(part):
                index.add(part)
        self.index, self._quantizer = index, quantizer

    def nearest(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Similarity and position of each vector's nearest neighbour (-inf, -1 when none is found)."""
        if len(self) == 0:
            return np.full(len(vectors), -np.inf, dtype=np.float32), np.full(len(vectors), -1)
        sims, ids = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
        sims = np.where(ids[:, 0] < 0, -np.inf, sims[:, 0]).astype(np.float32)  # IVF: probed cells empty
        return sims, ids[:, 0]


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
