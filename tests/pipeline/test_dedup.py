from __future__ import annotations

import numpy as np

from crescent.pipeline.dedup import Deduplicator
from crescent.similarity import VectorIndex, center_and_normalize


def _unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_centering_removes_the_shared_direction() -> None:
    rng = np.random.default_rng(0)
    shared = rng.normal(size=16) * 10
    vectors = shared + rng.normal(size=(50, 16))
    raw = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert (raw @ raw.T)[np.triu_indices(50, 1)].mean() > 0.9  # anisotropic
    centered = center_and_normalize(vectors, vectors.mean(axis=0))
    assert abs((centered @ centered.T)[np.triu_indices(50, 1)].mean()) < 0.1
    assert np.allclose(np.linalg.norm(centered, axis=1), 1.0, atol=1e-5)


def test_vector_index_finds_the_nearest() -> None:
    index = VectorIndex(3)
    sims, ids = index.nearest(_unit(1, 0, 0).reshape(1, -1))
    assert ids[0] == -1 and sims[0] == -np.inf
    index.add(np.stack([_unit(1, 0, 0), _unit(0, 1, 0)]))
    sims, ids = index.nearest(_unit(0.1, 1, 0).reshape(1, -1))
    assert ids[0] == 1 and 0.99 < sims[0] <= 1.0001


def test_deduplicator_rejects_near_and_exact_duplicates_and_keeps_new_ones() -> None:
    dedup = Deduplicator(mean=np.zeros(3), threshold=0.9)
    assert dedup.decide("How many cats?", _unit(1, 0, 0)).accepted
    exact = dedup.decide("how many CATS", _unit(0, 0, 1))
    assert (exact.accepted, exact.reason) == (False, "exact_duplicate")
    near = dedup.decide("How many kittens?", _unit(1, 0.1, 0))
    assert (near.accepted, near.reason) == (False, "near_duplicate") and near.similarity >= 0.9
    assert dedup.decide("How many dogs?", _unit(0, 1, 0)).accepted
    assert len(dedup.accepted) == 2


def test_threshold_is_inclusive() -> None:
    dedup = Deduplicator(mean=np.zeros(2), threshold=1.0)
    dedup.decide("first question?", _unit(1, 0))
    assert dedup.decide("second question?", _unit(1, 0)).reason == "near_duplicate"


def test_excluded_questions_are_rejected() -> None:
    dedup = Deduplicator(mean=np.zeros(3), threshold=0.9)
    dedup.exclude(["What is the benchmark question?"], np.stack([_unit(0, 0, 1)]))
    assert dedup.decide("what is the benchmark question", _unit(1, 0, 0)).reason == "excluded_exact"
    assert dedup.decide("A reworded benchmark question?", _unit(0, 0.1, 1)).reason == "excluded_near"


def test_restore_rebuilds_state_from_stored_vectors() -> None:
    dedup = Deduplicator(mean=np.zeros(2), threshold=0.9)
    dedup.restore(["Old question?"], np.stack([_unit(1, 0)]))
    assert dedup.decide("Old question", _unit(0, 1)).reason == "exact_duplicate"
    assert dedup.decide("Reworded old question?", _unit(1, 0.05)).reason == "near_duplicate"


def test_vector_index_keeps_positions_when_it_becomes_an_ivf_index(monkeypatch) -> None:
    import crescent.similarity as dedup_module

    monkeypatch.setattr(dedup_module, "FLAT_LIMIT", 300)
    monkeypatch.setattr(dedup_module, "IVF_LISTS", 4)
    monkeypatch.setattr(dedup_module, "IVF_PROBES", 4)  # every cell: results must equal exact search
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex(8)
    index.add(vectors[:250])
    assert type(index.index).__name__ == "IndexFlatIP"
    index.add(vectors[250:])  # crosses the limit: trained on stored + new, stored ones keep their positions
    assert type(index.index).__name__ == "IndexIVFFlat" and len(index) == 500
    sims, ids = index.nearest(vectors[[3, 260, 499]])
    assert ids.tolist() == [3, 260, 499] and np.allclose(sims, 1.0, atol=1e-5)
