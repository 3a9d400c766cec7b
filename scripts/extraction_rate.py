"""Print how often extract_answer recovers the gold answer of GSM8K reference solutions, as JSON.

"with_marker" is the full solution (ends in "#### N"): it must be 1.0, else extraction mislabels data.
"fallback_only" drops the "####" line, so only the last-number fallback can answer: a measure of how much a
marker-less model output can be trusted, not a target.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from crescent.answers import answers_equal, extract_answer

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k"


def rates(path: Path) -> dict[str, object]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    full = [r["id"] for r in rows if not answers_equal(extract_answer(r["solution"]), r["answer"])]
    bare = sum(answers_equal(extract_answer(r["solution"].rsplit("####", 1)[0]), r["answer"]) for r in rows)
    return {
        "rows": len(rows),
        "with_marker": round(1 - len(full) / len(rows), 6),
        "with_marker_failures": full[:20],
        "fallback_only": round(bare / len(rows), 6),
    }


def main() -> int:
    paths = {split: DATA / f"{split}.jsonl" for split in ("train", "test")}
    report = {split: rates(path) for split, path in paths.items() if path.is_file()}
    print(json.dumps(report, indent=2))
    return 0 if report else 1


if __name__ == "__main__":
    raise SystemExit(main())
