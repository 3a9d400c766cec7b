"""Benchmark items and few-shot examples, read from user JSONL with errors that name file and line.

Few-shot examples are drawn once per run with a fixed seed and shared by every item, so scores are
reproducible and a backend with a prompt cache evaluates the long shared prefix once.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

from crescent.answers import extract_answer
from crescent.backends.base import derive_seed
from crescent.depth import CALCULATOR_ANNOTATION, solution_depth
from crescent.errors import CrescentError
from crescent.pipeline.sources import read_jsonl, reference_solution

__all__ = [
    "EvalItem",
    "Shot",
    "draw_shots",
    "format_solution",
    "gold_answer",
    "load_items",
    "reference_solution",
]

_FINAL_LINE = re.compile(r"^[ \t]*####[ \t]*(\S[^\n]*?)[ \t]*$", re.MULTILINE)
_HAS_MARKER = re.compile(r"\bthe answer is\b", re.IGNORECASE)


@dataclass(frozen=True)
class EvalItem:
    position: int  # 0-based order in the file: ``limit`` takes a prefix of this order
    id: str
    question: str
    gold: str
    line: int
    depth: int | None = None  # calculation steps of its reference solution (``crescent.depth``); None: none
    entry_point: str | None = None  # humaneval: the function its test code checks


@dataclass(frozen=True)
class Shot:
    line: int
    question: str
    solution: str


def gold_answer(raw: object) -> str:
    """The reference answer; a GSM8K-original full solution ("... #### 72") is reduced to its number."""
    text = str(raw).strip()
    if "####" in text:
        return extract_answer(text) or text
    return text


def load_items(path: Path) -> list[EvalItem]:
    """Every row of a benchmark file; ids come from the row's ``id`` or, failing that, its line number."""
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for number, row in read_jsonl(path, required=("question", "answer")):
        raw_id = row.get("id")
        item_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else str(number)
        if item_id in seen:
            raise CrescentError(
                f"{path}:{number}: duplicate id '{item_id}' (first on line {seen[item_id]}); make ids unique"
            )
        seen[item_id] = number
        question = str(row["question"]).strip()
        gold = gold_answer(_answer_value(path, number, row["answer"]))
        depth = solution_depth(reference_solution(row))
        items.append(EvalItem(len(items), item_id, question, gold, number, depth))
    if not items:
        raise CrescentError(f"{path} holds no rows; pass a JSONL file with 'question' and 'answer' per line")
    return items


def _answer_value(path: Path, number: int, raw: object) -> str | int | float:
    """A gold answer is text or a finite number: anything else (a list, an object, true/false, NaN) would be
    stringified ("[18, 3]") and scored wrong on every item, silently."""
    number_ok = isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw)
    if isinstance(raw, str) or number_ok:
        return raw
    shown = json.dumps(raw, ensure_ascii=False)[:40]  # NaN and Infinity print as JSON's extensions
    raise CrescentError(
        f"{path}:{number}: 'answer' must be a string or a number, not {shown}; write one final answer per row"
    )


def format_solution(solution: str, answer: str | None = None) -> str:
    """A worked example in the format the solve prompt asks for, ending in "The answer is N."

    GSM8K solutions end in "#### N" and carry "<<...>>" calculator annotations; a shot that shows either
    teaches the model a format that the instruction (and answer extraction) does not expect.
    """
    # Calculator annotations are tool-use markup, not text a model should learn to write.
    text = CALCULATOR_ANNOTATION.sub("", solution).strip()
    final = list(_FINAL_LINE.finditer(text))
    if final:
        last = final[-1]
        value = last.group(1).strip().rstrip(".")
        text = (text[: last.start()].rstrip() + f"\nThe answer is {value}.").strip()
    elif answer is not None and not _HAS_MARKER.search(text):
        text = f"{text}\nThe answer is {str(answer).strip().rstrip('.')}."
    return text


def _shot_from_row(path: Path, number: int, row: dict) -> Shot:
    solution = reference_solution(row)
    if solution is None:
        raise CrescentError(
            f"{path}:{number}: a few-shot example needs a worked 'solution' field (or a GSM8K-style "
            "'answer' ending in '#### N')"
        )
    answer = row.get("answer")
    # GSM8K-original rows keep the solution in 'answer': then there is no separate answer to append.
    answer_text = None if answer is None or answer is solution else str(answer)
    return Shot(number, str(row["question"]).strip(), format_solution(solution, answer_text))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def draw_shots(source: Path, count: int, seed: int, data: Path, items: list[EvalItem]) -> list[Shot]:
    """``count`` examples from ``source``; never from the evaluated file, nor one of its questions."""
    if _same_file(source, data):
        raise CrescentError(
            f"--fewshot-from {source} is the evaluated file; draw shots from another split (e.g. train.jsonl)"
        )
    evaluated = {_normalize(item.question) for item in items}
    pool = [
        _shot_from_row(source, number, row)
        for number, row in read_jsonl(source, required=("question",))
        if _normalize(str(row["question"])) not in evaluated
    ]
    if len(pool) < count:
        raise CrescentError(
            f"--fewshot-from {source} has {len(pool)} usable examples (not in {data}) but --shots is "
            f"{count}; lower --shots or use a larger file"
        )
    return random.Random(derive_seed("fewshot", seed)).sample(pool, count)


def _normalize(question: str) -> str:
    return " ".join(question.split()).lower()
