"""Training files -> the rows TRL's trainers take, with errors that name ``file:line``.

Two formats, one per ``--method``: ``sft`` reads generate's ``data.jsonl`` (a ``messages`` chat per row),
``dpo`` reads generate's ``pairs.jsonl`` (TRL's conversational preference format: ``prompt`` turns, one
``chosen`` and one ``rejected`` assistant turn, and an optional ``weight``). Training rows are untrusted
text like any model output, so every turn is checked before a tokenizer sees it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from crescent.errors import CrescentError
from crescent.pipeline.sources import read_jsonl
from crescent.results.generate import GenerateStats

ROLES = ("system", "user", "assistant")
PAIRS_FILE = GenerateStats.PAIRS  # generate writes it next to data.jsonl; ``--method dpo`` trains on it
MAX_CONTENT_CHARS = (
    100_000  # training rows are untrusted text too: refuse absurd ones instead of tokenizing them
)

Turns = list[dict[str, str]]


def _turns(where: str, value: Any, field: str) -> Turns:
    """A non-empty list of ``{role, content}`` turns, copied without any other keys."""
    if not isinstance(value, list) or not value:
        raise CrescentError(f"{where}: missing or empty field '{field}' (a list of {{role, content}} turns)")
    for turn in value:
        if (
            not isinstance(turn, dict)
            or turn.get("role") not in ROLES
            or not isinstance(turn.get("content"), str)
        ):
            raise CrescentError(
                f"{where}: each item of '{field}' needs a role ({'/'.join(ROLES)}) and text content"
            )
        if len(turn["content"]) > MAX_CONTENT_CHARS:
            raise CrescentError(
                f"{where}: a message is longer than {MAX_CONTENT_CHARS} characters; shorten it"
            )
    return [{"role": t["role"], "content": t["content"]} for t in value]


def read_chat_rows(path: Path) -> list[dict[str, Turns]]:
    """``{"prompt": [...], "completion": [last assistant turn]}`` per row of a ``data.jsonl``."""
    rows = []
    for number, row in read_jsonl(Path(path)):
        where = f"{path}:{number}"
        turns = _turns(where, row.get("messages"), "messages")
        if turns[-1]["role"] != "assistant" or len(turns) < 2:
            raise CrescentError(
                f"{where}: 'messages' must end with an assistant turn that follows a user turn"
            )
        rows.append({"prompt": turns[:-1], "completion": turns[-1:]})
    if not rows:
        raise CrescentError(f"{path} holds no rows; pass the data.jsonl written by crescent generate")
    return rows


def read_pairs(path: Path, *, weighted: bool = True) -> list[dict[str, Any]]:
    """``{"prompt", "chosen", "rejected", "weight"}`` per row of a ``pairs.jsonl``.

    ``weight`` (ScPO's vote margin ``(votes_chosen - votes_rejected) / K``, in [0, 1]; 0 where the votes
    did not separate the two, so the pair teaches nothing) is 1.0 where a row has none, and for every
    row when ``weighted`` is off, so an unweighted run is plain DPO + NLL. Other keys are ignored.
    """
    rows = []
    for number, row in read_jsonl(Path(path)):
        where = f"{path}:{number}"
        prompt = _turns(where, row.get("prompt"), "prompt")
        if prompt[-1]["role"] != "user":
            raise CrescentError(f"{where}: 'prompt' must end with a user turn")
        answers = {}
        for field in ("chosen", "rejected"):
            turns = _turns(where, row.get(field), field)
            if len(turns) != 1 or turns[0]["role"] != "assistant":
                raise CrescentError(f"{where}: '{field}' must be one assistant turn")
            answers[field] = turns
        weight = row.get("weight", 1.0)
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or not 0.0 <= weight <= 1.0
        ):
            raise CrescentError(f"{where}: 'weight' must be a number in [0, 1], got {weight!r}")
        rows.append({"prompt": prompt, **answers, "weight": float(weight) if weighted else 1.0})
    if not rows:
        raise CrescentError(f"{path} holds no pairs; pass the {PAIRS_FILE} written by crescent generate")
    return rows
