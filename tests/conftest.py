"""Shared fixtures: the GSM8K files beside the repo (skipped where absent), and a simulated full disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from repo_scripts import REPO

import crescent.session as session_module
import crescent.store as store_module
from crescent.store import RunStore

GSM8K = REPO.parent / "shared" / "data" / "gsm8k"


@pytest.fixture(scope="session")
def gsm8k_dir() -> Path:
    """The one home of the GSM8K path: a clone without ``../shared/data`` skips, naming the path."""
    if not (GSM8K / "test.jsonl").exists():
        pytest.skip(f"GSM8K files not found under {GSM8K}")
    return GSM8K


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[int | None], None]:
    """Simulate a full disk for run stores: SQLite's page cap returns the very error a full disk gives
    (SQLITE_FULL, "database or disk is full"). Call it with ``None`` for a disk full from the store's
    first write, or with N for one that fills N pages after the run binds its config."""
    return lambda pages: _full_disk_after(pages, monkeypatch)


def _full_disk_after(pages: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = real_connect(*args, **kwargs)
        if pages is None:
            db.execute("PRAGMA max_page_count = 1")
        return db

    monkeypatch.setattr(store_module.sqlite3, "connect", connect)
    if pages is not None:
        real_bind = session_module.bind_store

        def bind_then_fill(store: RunStore, fingerprint: dict[str, Any], **options: Any) -> bool:
            resumed = real_bind(store, fingerprint, **options)
            used = store.db.execute("PRAGMA page_count").fetchone()[0]
            store.db.execute(f"PRAGMA max_page_count = {used + pages}")
            return resumed

        monkeypatch.setattr(session_module, "bind_store", bind_then_fill)
