"""Shared fixtures: paths to the GSM8K files beside the repo, and a small fake-backend config."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GSM8K = REPO.parent / "shared" / "data" / "gsm8k"


@pytest.fixture
def gsm8k_dir() -> Path:
    if not (GSM8K / "test.jsonl").exists():
        pytest.skip(f"GSM8K files not found under {GSM8K}")
    return GSM8K
