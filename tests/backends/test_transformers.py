"""The transformers backend on a tiny random Llama: sampling contract, seeds, stops, embeddings, pipeline."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import build_tiny_model

from crescent.backends import create_backend
from crescent.backends.base import SampleRequest, SamplingParams
from crescent.backends.transformers import TransformersBackend, _SeededSampler
from crescent.config import BackendConfig, GenerateConfig
from crescent.errors import CrescentError
from crescent.pipeline.generate import generate

ASK = ({"role": "user", "content": "Write a math word problem."},)
HI = ({"role": "user", "content": "Hi"},)
SAMPLE = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=8)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def backend(tiny_dir: Path) -> Iterator[TransformersBackend]:
    made = create_backend(BackendConfig(backend="transformers", model=str(tiny_dir), batch_size=4, threads=2))
    assert isinstance(made, TransformersBackend)
    yield made
    made.close()


def texts(completions) -> list[str]:
    return [c.text for c in completions]


def test_sample_returns_n_completions_within_max_tokens(backend: TransformersBackend) -> None:
    before = backend.usage.completion_tokens
    out = backend.sample([SampleRequest(ASK, n=3, seed=1), SampleRequest(HI, n=2, seed=2)], SAMPLE)
    assert [len(c) for c in out] == [3, 2]
    flat = [c for completions in out for c in completions]
    assert all(1 <= c.tokens <= 8 for c in flat)
    assert all(c.finish_reason == ("length" if c.tokens == 8 else "stop") for c in flat)
    assert len(set(texts(out[0]))) == 3  # the samples of one request are distinct draws
    assert backend.usage.completion_tokens - before == sum(c.tokens for c in flat)


def test_seed_decides_the_samples_whatever_the_batch(backend: TransformersBackend, tiny_dir: Path) -> None:
    (first,) = backend.sample([SampleRequest(ASK, n=3, seed=7)], SAMPLE)
    (again,) = backend.sample([SampleRequest(ASK, n=3, seed=7)], SAMPLE)
    (other,) = backend.sample([SampleRequest(ASK, n=3, seed=8)], SAMPLE)
    assert texts(first) == texts(again)
    assert texts(first) != texts(other)
    # 3 rows in one batch here, split 2 + 1 there: each row keeps its own random stream.
    small = TransformersBackend(
        BackendConfig(backend="transformers", model=str(tiny_dir), batch_size=2, threads=2)
    )
    try:
        (split,) = small.sample([SampleRequest(ASK, n=3, seed=7)], SAMPLE)
    finally:
        small.close()
    assert texts(split) == texts(first)


@pytest.mark.parametrize(("top_p", "expected"), [(1.0, [0.5, 0.3, 0.2]), (0.6, [0.625, 0.375, 0.0])])
def test_sampler_draws_from_the_tempered_nucleus(top_p: float, expected: list[float]) -> None:
    rows = 4000
    scores = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).repeat(rows, 1) * 2.0  # undone by temperature 2
    generators = [torch.Generator().manual_seed(seed) for seed in range(rows)]
    mask = _SeededSampler(generators, temperature=2.0, top_p=top_p)(
        torch.zeros(rows, 1, dtype=torch.long), scores
    )
    assert torch.equal(torch.isfinite(mask).sum(dim=-1), torch.ones(rows, dtype=torch.long))  # one token each
    frequencies = torch.isfinite(mask).float().mean(dim=0)
    np.testing.assert_allclose(frequencies.numpy(), expected, atol=0.03)


def test_stop_string_cuts_the_text(backend: TransformersBackend) -> None:
    greedy = SamplingParams(temperature=0.0, max_tokens=12)
    ((full,),) = backend.sample([SampleRequest(ASK, seed=0)], greedy)
    assert full.finish_reason == "length" and len(full.text) > 12
    stop = full.text[6:9]
    cut_at = full.text.find(stop)
    ((cut,),) = backend.sample(
        [SampleRequest(ASK, seed=0)], SamplingParams(temperature=0.0, max_tokens=12, stop=(stop,))
    )
    assert cut.text == full.text[:cut_at]
    assert cut.finish_reason == "stop" and cut.tokens < full.tokens


def test_embed_mean_pools_over_real_tokens_only(backend: TransformersBackend) -> None:
    texts_in = [
        "Ava has 3 apples.",
        "A much longer sentence about how many marbles Ben bought at the store today.",
    ]
    vectors = backend.embed(texts_in)
    assert vectors.shape == (2, 64) and vectors.dtype == np.float32
    alone = backend.embed(texts_in[:1])  # padded in the pair, unpadded alone: same vector
    np.testing.assert_allclose(alone[0], vectors[0], atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    assert backend.embed([]).shape == (0, 64)


def test_generate_pipeline_records_every_candidate_and_resumes(tiny_dir: Path, tmp_path: Path) -> None:
    """A random model writes garbage, so the run may end with "no usable question"; either way every bait
    sample must be in the store with its fate, and a rerun must resume without sampling again."""
    config = GenerateConfig(
        backend="transformers",
        model=str(tiny_dir),
        out=tmp_path / "run",
        questions=2,
        votes=2,
        max_attempts=8,
        batch_size=4,
        bait_max_tokens=16,
        vote_max_tokens=16,
        threads=2,
        quiet=True,
    )

    def run() -> dict:
        try:
            generate(config)
        except CrescentError as exc:
            assert "no usable question" in str(exc)
        return json.loads((config.out / "stats.json").read_text())

    stats = run()
    db = sqlite3.connect(config.out / "run.sqlite")
    rows = db.execute("SELECT status, reason, raw, tokens FROM candidates ORDER BY attempt").fetchall()
    assert len(rows) == 8 and stats["bait"]["attempts"] == 8
    assert all(status == "accepted" or reason for status, reason, _, _ in rows)
    assert all(0 < tokens <= 16 for *_, tokens in rows)
    assert sum(stats["bait"]["rejected"].values()) == sum(status == "rejected" for status, *_ in rows)
    accepted = [r for r in rows if r[0] == "accepted"]
    votes = db.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
    assert votes == 2 * len(accepted)
    db.close()

    again = run()
    assert again["resumed"] and again["sessions"] == stats["sessions"]  # a rerun with no work adds no session
    assert again["bait"] == stats["bait"]  # nothing sampled twice
    assert again["backend_usage_this_session"]["completion_tokens"] == 0
