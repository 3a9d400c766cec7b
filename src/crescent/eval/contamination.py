"""Does generated data contain benchmark questions? Long n-gram overlap plus near-duplicate embeddings.

A model that writes its own training data can reproduce questions it memorised, and training on them
inflates the very benchmark used to measure the gain. Two complementary checks flag such questions:

* n-gram overlap, as in the GPT-3 and Llama contamination studies: a generated question that shares any
  word 13-gram (lowercase, punctuation dropped) with a benchmark question is flagged, with the shared
  n-gram as evidence. It catches verbatim copies with a changed ending or number, never paraphrases.
* near-duplicate embeddings: the model's own pooled hidden states, centered with the mean of the
  benchmark questions and normalised (as the generate step's self-dedup does, see
  ``crescent.pipeline.dedup``); a cosine at or above the dedup threshold is flagged. It catches
  rewordings, at the price of the threshold's false positives on same-template questions.

``NgramIndex`` and ``VectorIndex`` live in ``crescent.similarity``, shared with ``generate --exclude``
(``crescent.pipeline.dedup``), which rejects the same n-gram copies while generating.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crescent.config import ContaminationConfig
from crescent.errors import ConfigMismatch, CrescentError
from crescent.pipeline.sources import read_jsonl
from crescent.progress import console
from crescent.results.contamination import ContaminationSummary
from crescent.run_folder import RunFolder, fingerprint, read_record, resumes
from crescent.similarity import MAX_TEXT_CHARS, NgramIndex, VectorIndex, center_and_normalize
from crescent.store import write_atomic

if TYPE_CHECKING:
    from crescent.backends.base import Backend

MAX_REPORT_CHARS = 2_000  # question text kept per flagged row
EMBED_CHUNK = 64  # texts per backend.embed call
SUMMARY = ContaminationSummary.FILE  # the result, and the fingerprint it was made with: the folder's marker


@dataclass(frozen=True)
class Question:
    file: str
    line: int
    id: str
    text: str


@dataclass
class ContaminationResult:
    flagged_path: Path
    summary_path: Path
    summary: ContaminationSummary
    flagged: list[dict[str, Any]]

    def stdout(self) -> str:
        return str(self.summary_path)

    def describe(self, shown_pairs: int = 5, shown_chars: int = 100) -> str:
        """The flag counts per check, then the first flagged pairs (``flagged.jsonl`` has them all)."""
        s = self.summary
        checks = {"ngram": f"{s.ngram}-gram overlap", "any": "any"}
        if s.embeddings:
            checks = {**checks, "embedding": f"embedding >= {s.threshold:g}", "both": "both"}
        counts = ", ".join(f"{label} {s.flagged[k]} ({s.rates[k]:.1%})" for k, label in checks.items())
        lines = [f"contamination of {s.generated} generated questions: {counts}"]
        for pair in self.flagged[:shown_pairs]:
            evidence = f"'{pair['ngram']}'" if pair["reason"] == "ngram" else f"cos {pair['similarity']:.3f}"
            lines.append(
                f"{pair['reason']} {evidence}: {pair['generated_question'][:shown_chars]} <-> "
                f"{pair['benchmark_id']}: {pair['benchmark_question'][:shown_chars]}"
            )
        return "\n".join(lines)


def load_questions(path: Path) -> list[Question]:
    """Every row's question; its id is the row's ``id`` or, failing that, ``FILE:LINE``."""
    rows = []
    for line, row in read_jsonl(path, required=("question",)):
        question = row["question"]
        if not isinstance(question, str):
            kind = type(question).__name__
            raise CrescentError(f"{path}:{line}: field 'question' must be a string, not {kind}; fix the row")
        raw_id = row.get("id")
        qid = str(raw_id) if raw_id is not None and str(raw_id).strip() else f"{Path(path).name}:{line}"
        rows.append(Question(str(path), line, qid, question))
    if not rows:
        raise CrescentError(f"{path} holds no rows; pass a JSONL file with a 'question' field per line")
    return rows


def nearest_benchmark(
    backend: Backend, generated: Sequence[str], benchmark: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Centered cosine and position of each generated question's nearest benchmark question."""
    reference = _embed(backend, benchmark)
    mean = reference.mean(axis=0)
    index = VectorIndex(reference.shape[1])
    index.add(center_and_normalize(reference, mean))
    return index.nearest(center_and_normalize(_embed(backend, generated), mean))


def _embed(backend: Backend, texts: Sequence[str]) -> np.ndarray:
    capped = [t[:MAX_TEXT_CHARS] for t in texts]
    chunks = [capped[i : i + EMBED_CHUNK] for i in range(0, len(capped), EMBED_CHUNK)]
    return np.concatenate([backend.embed(chunk) for chunk in chunks])


def check_contamination(config: ContaminationConfig, backend: Backend | None = None) -> ContaminationResult:
    """Write ``flagged.jsonl`` (one row per flagged pair and reason) and ``summary.json``.

    ``backend`` lets a caller reuse a loaded model; by default the config's model is loaded (only when
    ``config.embeddings``) and closed again.
    """
    generated = load_questions(config.data)
    against = list(dict.fromkeys(config.against))  # a file named twice counts once
    benchmark = [q for path in against for q in load_questions(path)]
    # What decides the result: the options, and the input files by *content* (a moved file is the same).
    options = fingerprint(config, {"data": config.data, "against": against})
    if config.embeddings and len(benchmark) < 2:
        raise CrescentError(
            f"the embedding check centers on the mean of the benchmark questions, and --against has only "
            f"{len(benchmark)}; add more benchmark rows or pass --no-embeddings"
        )
    with RunFolder(config.out, "contamination", SUMMARY).hold():
        resumes(config.out, options, _earlier_fingerprint(config.out / SUMMARY))
        return _flag_and_write(config, backend, generated, against, benchmark, options)


def _flag_and_write(
    config: ContaminationConfig,
    backend: Backend | None,
    generated: list[Question],
    against: list[Path],
    benchmark: list[Question],
    options: dict[str, Any],
) -> ContaminationResult:
    flagged = _ngram_flags(config.ngram, generated, benchmark)
    if config.embeddings:
        owns = backend is None
        if backend is None:
            from crescent.backends import create_backend

            backend = create_backend(config)
        try:
            status = f"embedding {len(generated) + len(benchmark)} questions"
            with nullcontext() if config.quiet else console.status(status):
                flagged += _embedding_flags(backend, config.threshold, generated, benchmark)
        finally:
            if owns:
                backend.close()
    summary = _summary(config, against, generated, benchmark, flagged)
    summary["fingerprint"] = options
    return _write(config, flagged, summary)


def _earlier_fingerprint(summary: Path) -> dict[str, Any] | None:
    """The options an earlier result in ``--out`` was made with (``None``: there is none); a rerun with the
    same options writes it again, with others it is refused."""
    earlier = read_record(summary, "fingerprint")
    if earlier is None and summary.is_file():
        raise ConfigMismatch(
            f"{summary.parent} holds a contamination result from an older crescent; use a new --out directory"
        )
    return earlier


def _ngram_flags(n: int, generated: list[Question], benchmark: list[Question]) -> list[dict[str, Any]]:
    index = NgramIndex(n)
    index.add_all(q.text for q in benchmark)
    flagged = []
    for q in generated:
        match = index.find(q.text)
        if match is not None:
            flagged.append(_pair(q, benchmark[match.key], "ngram", ngram=match.ngram))
    return flagged


def _embedding_flags(
    backend: Backend, threshold: float, generated: list[Question], benchmark: list[Question]
) -> list[dict[str, Any]]:
    sims, ids = nearest_benchmark(backend, [q.text for q in generated], [q.text for q in benchmark])
    return [
        _pair(q, benchmark[int(pos)], "embedding", similarity=round(float(sim), 4))
        for q, sim, pos in zip(generated, sims, ids, strict=True)
        if pos >= 0 and sim >= threshold
    ]


def _pair(generated: Question, benchmark: Question, reason: str, **evidence: Any) -> dict[str, Any]:
    return {
        "generated_id": generated.id,
        "generated_line": generated.line,
        "generated_question": generated.text[:MAX_REPORT_CHARS],
        "benchmark_file": benchmark.file,
        "benchmark_id": benchmark.id,
        "benchmark_line": benchmark.line,
        "benchmark_question": benchmark.text[:MAX_REPORT_CHARS],
        "reason": reason,
        **evidence,
    }


def _summary(
    config: ContaminationConfig,
    against: list[Path],
    generated: list[Question],
    benchmark: list[Question],
    flagged: list[dict[str, Any]],
) -> dict[str, Any]:
    n = len(generated)
    reasons = ("ngram", "embedding")
    by_reason = {r: {f["generated_line"] for f in flagged if f["reason"] == r} for r in reasons}
    any_reason = by_reason["ngram"] | by_reason["embedding"]
    counts = {
        "ngram": len(by_reason["ngram"]),
        "embedding": len(by_reason["embedding"]),
        "both": len(by_reason["ngram"] & by_reason["embedding"]),
        "any": len(any_reason),
    }
    pairs = Counter((f["benchmark_file"], f["reason"]) for f in flagged)
    per_file = {str(path): {r: pairs[(str(path), r)] for r in reasons} for path in against}
    return {
        "generated": n,
        "benchmark": {str(p): sum(1 for q in benchmark if q.file == str(p)) for p in against},
        "flagged": counts,
        "rates": {k: round(v / n, 4) for k, v in counts.items()},
        "per_benchmark_file": per_file,
        "ngram": config.ngram,
        "threshold": config.threshold if config.embeddings else None,
        "embeddings": config.embeddings,  # False: the embedding counts are 0 because it did not run
        "config": config.model_dump(mode="json"),
    }


def _write(
    config: ContaminationConfig, flagged: list[dict[str, Any]], summary: dict[str, Any]
) -> ContaminationResult:
    try:
        config.out.mkdir(parents=True, exist_ok=True)
        flagged_path = config.out / "flagged.jsonl"
        write_atomic(flagged_path, "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in flagged))
        written = ContaminationSummary.from_json(summary)
        summary_path = written.to_dir(config.out)
    except OSError as exc:
        raise CrescentError(
            f"cannot write to --out {config.out}: {exc.strerror}; choose a writable folder"
        ) from exc
    return ContaminationResult(flagged_path, summary_path, written, flagged)
