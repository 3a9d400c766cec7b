"""Self-dedup index at scale: 10^6 stored vectors of dim 576, 10^4 queries, time and recall@1.

The data imitates centered, normalised question embeddings: clusters (topics) of unit vectors whose
members have cosine ~0.5; half the queries are near-duplicates of a stored vector (cosine ~0.9, what
dedup must catch), half are new members of a cluster. Recall@1 is checked against exact search on a
random sample of the queries (exact search of all 10^4 would take longer than the benchmark).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

DIM = 576
CLUSTERS = 2000
CHUNK = 100_000


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_data(n: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((CLUSTERS, DIM), dtype=np.float32)
    stored = np.empty((n, DIM), dtype=np.float32)
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        part = rng.standard_normal((hi - lo, DIM), dtype=np.float32)
        part += centers[rng.integers(0, CLUSTERS, hi - lo)]
        stored[lo:hi] = _unit_rows(part)
    near = n_queries // 2
    queries = np.empty((n_queries, DIM), dtype=np.float32)
    queries[:near] = stored[rng.integers(0, n, near)] + 0.02 * rng.standard_normal(
        (near, DIM), dtype=np.float32
    )
    fresh = rng.standard_normal((n_queries - near, DIM), dtype=np.float32)
    queries[near:] = fresh + centers[rng.integers(0, CLUSTERS, n_queries - near)]
    return stored, _unit_rows(queries)


def exact_nearest(stored: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    best = np.full(len(queries), -np.inf, dtype=np.float32)
    where = np.full(len(queries), -1)
    for lo in range(0, len(stored), CHUNK):
        sims = queries @ stored[lo : lo + CHUNK].T
        top = sims.argmax(axis=1)
        value = sims[np.arange(len(queries)), top]
        better = value > best
        best[better], where[better] = value[better], top[better] + lo
    return best, where


def run(
    n: int = 1_000_000, n_queries: int = 10_000, recall_sample: int = 500, threads: int | None = None
) -> dict:
    import faiss

    from crescent.similarity import VectorIndex

    if threads:
        faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    stored, queries = make_data(n, n_queries)
    data_s = time.perf_counter() - start
    index = VectorIndex(DIM)
    start, cpu = time.perf_counter(), time.process_time()
    for lo in range(0, n, CHUNK):  # the pipeline adds as it accepts; chunks keep this quick
        index.add(stored[lo : lo + CHUNK])
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    sims, ids = index.nearest(queries)
    query_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu  # all threads' CPU time: steadier than wall on a busy machine
    rng = np.random.default_rng(1)
    sample = rng.choice(n_queries, size=min(recall_sample, n_queries), replace=False)
    exact_sims, exact_ids = exact_nearest(stored, queries[sample])
    # a hit is the exact neighbour, or one exactly as similar (ties)
    hits = (ids[sample] == exact_ids) | (sims[sample] >= exact_sims - 1e-6)
    return {
        "dedup_1m_s": round(add_s + query_s, 2),
        "dedup_add_s": round(add_s, 2),
        "dedup_cpu_s": round(cpu_s, 2),
        "dedup_query_s": round(query_s, 2),
        "dedup_recall_at_1": round(float(hits.mean()), 4),
        "dedup_vectors": n,
        "dedup_queries": n_queries,
        "dedup_recall_sample": len(sample),
        "dedup_index": type(index.index).__name__,
        "dedup_data_s": round(data_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.queries, threads=args.threads), indent=2))


if __name__ == "__main__":
    main()
