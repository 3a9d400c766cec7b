"""experiments/summarize.py: where the compute hours went, read from each run's own summary."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "experiments" / "summarize.py"
_SPEC = importlib.util.spec_from_file_location("summarize", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
summarize = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(summarize)


def _train_run(folder: Path, seconds: float) -> None:
    folder.mkdir(parents=True)
    (folder / "train_stats.json").write_text(json.dumps({"steps": 1, "train_time_s": seconds}))


def test_compute_hours_counts_each_run_and_sums_a_folder_of_runs(tmp_path: Path) -> None:
    _train_run(tmp_path / "arm-a-train", 1800)
    _train_run(tmp_path / "bait-measure" / "prompt-1", 3600)  # a folder of runs, as measure_bait writes
    _train_run(tmp_path / "bait-measure" / "prompt-2", 7200)
    (tmp_path / "bait-measure" / "measure_bait.json").write_text("{}")
    (tmp_path / "unfinished").mkdir()  # no summary yet: no hours

    assert summarize.compute_hours(tmp_path) == {"arm-a-train": 0.5, "bait-measure": 3.0}
