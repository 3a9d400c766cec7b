"""The other question source: questions read from a file (``--questions-from``) instead of bait + dedup.

Seed-dataset augmentation, the method the paper compares Crescent against, has the model answer a given
dataset's questions instead of questions it wrote itself. Everything after the questions (voting,
filters, labels, export) must be the same for both, or the comparison says nothing; so this source
records its decisions exactly as bait does (``candidates`` and ``questions`` rows, the bait counters of
``counting.py``), and vote, export, resume and the reports read them through the one existing path.
``stats.json["source"]`` says which source made the questions.

Only the ``question`` field is read: gold answers the file may hold are never used, so its questions are
labelled by majority vote like Crescent's own. Rows are taken in file order until ``--questions`` are
accepted or the file ends. Skipped, each counted with its reason: a repeat of an earlier row (same words,
as bait's ``exact_duplicate``), and a question of an ``--exclude`` file, by exact text or a shared
13-gram. The embedding check of ``--exclude`` needs the self-dedup space, which this source never builds.

The run binds the file's sha256 (``crescent.run_folder.fingerprint``), so a resumed run refuses a changed
file, but not a moved one; a rerun with more ``--questions`` reads on from the next row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crescent.pipeline.bait import MAX_RAW_CHARS, normalized_key, question_id
from crescent.pipeline.bait_tables import CandidateTable, QuestionTable
from crescent.pipeline.counting import count_candidate
from crescent.pipeline.sources import read_questions
from crescent.results.generate import SOURCE_BAIT, SOURCE_FILE
from crescent.run_folder import file_sha256
from crescent.runs import path_in_run
from crescent.session import Session
from crescent.similarity import NgramIndex
from crescent.store import RunStore

if TYPE_CHECKING:
    from crescent.config import GenerateConfig

META_KEY = "questions_from"  # {"path", "sha256", "rows"} of the file, as first read
FILE_EXHAUSTED = "file_exhausted"  # stop reason: --questions asked for more than the file could give


@dataclass(frozen=True)
class QuestionFile:
    path: Path
    sha256: str
    questions: list[str]

    @classmethod
    def read(cls, path: Path) -> QuestionFile:
        """Read and hash the file before any model loads, so a bad file costs nothing."""
        return cls(Path(path), file_sha256(path), read_questions(path))


def take_questions(config: GenerateConfig, store: RunStore, source: QuestionFile, session: Session) -> str:
    """Decide the file's next rows in order, all in one transaction (no model time: nothing to lose)."""
    candidates, accepted_questions = CandidateTable(store.db), QuestionTable(store.db)
    accepted = accepted_questions.count()
    read = candidates.count()
    seen = {normalized_key(q) for q in accepted_questions.texts()}
    excluded_keys, excluded_ngrams = set(), NgramIndex()
    for path in config.exclude:
        questions = read_questions(path)
        excluded_keys.update(normalized_key(q) for q in questions)
        excluded_ngrams.add_all(questions)
    first = read
    with store.transaction():
        store.set_meta(
            META_KEY, {"path": str(source.path), "sha256": source.sha256, "rows": len(source.questions)}
        )
        while accepted < config.questions and read < len(source.questions):
            question = source.questions[read].strip()
            key = normalized_key(question)
            reason = None
            if len(question) > MAX_RAW_CHARS:
                reason = "too_long"
            elif key in excluded_keys:
                reason = "excluded_exact"
            elif excluded_ngrams.find(question) is not None:
                reason = "excluded_ngram"
            elif key in seen:
                reason = "exact_duplicate"
            status = "rejected" if reason else "accepted"
            kept_text = None if reason == "too_long" else question
            if reason is None:
                seen.add(key)
                # No embedding: nothing is deduplicated against it (an empty vector, never read).
                accepted_questions.insert(question_id(question), read, question, b"")
                accepted += 1
            candidates.insert(
                attempt=read,
                batch=0,
                raw=question,
                question=kept_text,
                status=status,
                reason=reason,
                similarity=None,
                tokens=0,
            )
            count_candidate(
                store, cleaned=kept_text is not None, accepted=reason is None, reason=reason, tokens=0
            )
            read += 1
        if read > first:  # a rerun that reads nothing is no session (session.py)
            session.commit(0)
    return "target_reached" if accepted >= config.questions else FILE_EXHAUSTED


def source_stats(config: GenerateConfig, store: RunStore) -> dict[str, Any]:
    """``stats.json["source"]``: where the questions came from (the card and the report say it)."""
    recorded = store.get_meta(META_KEY)
    if recorded is None:
        return {"kind": SOURCE_BAIT}
    read = CandidateTable(store.db).count()
    return {
        "kind": SOURCE_FILE,
        "path": path_in_run(config.questions_from or recorded["path"], config.out),
        "sha256": recorded["sha256"],
        "file_rows": recorded["rows"],
        "rows_read": read,
        "whole_file": read >= recorded["rows"],
    }
