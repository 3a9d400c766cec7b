"""benchmarks/run_all.py: where each model's results go."""

from __future__ import annotations

import run_all


def test_embedded_model_keeps_latest_json() -> None:
    assert run_all.model_slug(None) is None
    assert run_all.results_path(None).name == "latest.json"
    assert run_all.results_path("default").name == "latest.json"


def test_catalog_name_gives_its_first_word() -> None:
    assert run_all.results_path("qwen2.5-coder-0.5b").name == "latest-qwen.json"


def test_path_gives_its_stem() -> None:
    assert run_all.model_slug("/models/My Model.Q4_K_M.gguf") == "my-model-q4-k-m"
