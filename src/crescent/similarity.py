"""Similarity search shared by self-dedup (``pipeline/dedup.py``) and contamination checks
(``eval/contamination.py``): word n-gram overlap and nearest-neighbour cosine over centered embeddings.

A leaf module (numpy and faiss only), so the pipeline and the evaluation code can both use it without
importing each other.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

NGRAM = 13  # the GPT-3 / Llama-2 contamination studies' word n-gram
MIN_SHORT_NGRAM = 8  # a question shorter than n words counts whole only from this length (as GPT-3)
MAX_TEXT_CHARS = 20_000  # untrusted text: never tokenize more than this
_WORD = re.compile(r"[^\W_]+")  # letters and digits; punctuation and underscores separate words
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
    ``IVF_LISTS`` cells per query). IVF rather than HNSW because IVF adds vectors with
    one matrix product per chunk, while HNSW's graph insertion is far slower at this
    scale; ``benchmarks/dedup.py`` measures time and recall@1 at 10^6 (benchmarks/README.md).
    The cells are trained once, when the limit is crossed, so a resumed run that restores
    more than ``FLAT_LIMIT`` vectors at once may train slightly different cells than an
    uninterrupted run did.
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


def words(text: str) -> list[str]:
    """The normalised lowercase word tokens n-grams are made of ("It's 5%!" -> it, s, 5)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text[:MAX_TEXT_CHARS]).lower())


@dataclass(frozen=True)
class NgramMatch:
    key: int  # what the caller passed to ``NgramIndex.add`` for the matched text
    ngram: str  # the shared words, space separated


class NgramIndex:
    """A set-based index of every word n-gram of some texts; a query returns its first shared n-gram.

    A text shorter than ``n`` words is indexed whole when it has at least ``MIN_SHORT_NGRAM`` words (a
    short benchmark question copied verbatim is still found); shorter texts are left to exact and
    embedding checks, since a 3-word "n-gram" would match half of all questions.
    """

    def __init__(self, n: int = NGRAM) -> None:
        if n < 1:
            raise ValueError("n-gram size must be at least 1")
        self.n = n
        self._owner: dict[str, int] = {}  # n-gram -> key of the first text that has it
        self._sizes: set[int] = set()  # window sizes present (n, and shorter texts' lengths)

    def __len__(self) -> int:
        return len(self._owner)

    def add(self, text: str, key: int = 0) -> None:
        tokens = words(text)
        size = min(self.n, len(tokens))
        if size < min(self.n, MIN_SHORT_NGRAM):
            return
        self._sizes.add(size)
        for gram in _windows(tokens, size):
            self._owner.setdefault(gram, key)

    def add_all(self, texts: Iterable[str]) -> None:
        for key, text in enumerate(texts):
            self.add(text, key)

    def find(self, text: str) -> NgramMatch | None:
        tokens = words(text)
        for size in sorted(self._sizes, reverse=True):
            for gram in _windows(tokens, size):
                key = self._owner.get(gram)
                if key is not None:
                    return NgramMatch(key, gram)
        return None


def _windows(tokens: Sequence[str], size: int) -> Iterator[str]:
    for start in range(len(tokens) - size + 1):
        yield " ".join(tokens[start : start + size])
