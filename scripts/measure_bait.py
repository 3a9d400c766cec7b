"""Measure bait prompts on the model in use, with no gold answers and no outside data.

For each prompt, ``crescent generate`` runs as it would for real (bait, cleaning, self-dedup, K votes) in
its own resumable folder, and three rates are read back from its store:

- ``answerable``: the accepted question gives numbers (digits or number words) and asks for one quantity
  (not a yes/no question, not two questions joined by "and how ...");
- ``majority``: a strict majority of the K votes agree on one answer (votes cut at the token cap do not
  vote), so a label could rest on it;
- ``multi_step``: of the questions with a majority, those whose majority solution states more than one
  true equation (``crescent.arithmetic``: the valid ``a op b = c`` steps; a wrong step is not a step).

It also reports how many labels generate's default filters keep, the bait funnel and, with
``--self-check``, how often the model itself says a question has exactly one numeric answer.

``--reclean DATA.jsonl ...`` needs no model: it shows what today's cleaning does to the questions an
older run kept (stripped of a lead-in, or rejected with its reason).

The default model is the embedded SmolLM2-135M; name a stronger one for a useful answer:

    python scripts/measure_bait.py --model qwen2.5-coder-0.5b --questions 100 --out runs/measure-bait
    python scripts/measure_bait.py --reclean experiments/results/*/data.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import crescent.arithmetic as arithmetic
from crescent.answers import tally
from crescent.backends.base import Completion
from crescent.config import DEFAULT_BAIT_PROMPT, GenerateConfig
from crescent.errors import CrescentError
from crescent.pipeline.bait import clean_question
from crescent.pipeline.bait_tables import QuestionTable
from crescent.pipeline.generate import generate
from crescent.pipeline.labels import LabelPolicy, counted_answers
from crescent.pipeline.self_check import SelfCheckTable
from crescent.pipeline.vote_tables import OutcomeTable, VoteTable
from crescent.runs import read_store
from crescent.store import write_atomic

# The default, then candidates aimed at problems that take several steps. None of them holds a seed
# question or any other outside text: the model writes every problem from the instruction alone.
PROMPTS = (
    DEFAULT_BAIT_PROMPT,
    "Write a new math word problem that takes several steps to solve. Give every number it needs and ask "
    "for one number at the end. Write only the problem, ending with a question.",
    "Create a new grade-school math word problem about everyday life (shopping, time, distance or sharing) "
    "whose answer needs two to four calculations. Write only the problem, ending with a question that asks "
    "for one number.",
    "Write a new math word problem in which an amount changes several times (bought, sold, shared, doubled) "
    "and the question asks how much there is at the end. Write only the problem, ending with a question.",
)
MAX_STEPS_BUCKET = 5  # steps histogram: 0, 1, ..., 5+
EXAMPLES = 5

_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|dozen|twice|thrice|double|triple|half|quarter)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_YES_NO = re.compile(
    r"^(?:is|are|was|were|do|does|did|can|could|will|would|should|has|have|had|may|might)\b", re.IGNORECASE
)
_WH = r"(?:how|what|which|who|when|where|why)"
# A second question joined to a first: "How many does he eat, and how many are left?" (not "If he eats 2,
# how many are left?", one question after a condition).
_SECOND_QUESTION = re.compile(rf"\b{_WH}\b.*\b(?:and|or|also)\s+(?:then\s+)?{_WH}\b", re.IGNORECASE)
_NOT_A_QUANTITY = re.compile(r"^(?:why|who|where)\b", re.IGNORECASE)


def asks_one_quantity(question: str) -> bool:
    """The question sentence asks for one quantity: not yes/no, not why/who/where, not two questions."""
    last = _SENTENCE_END.split(question.strip())[-1]
    return not (_YES_NO.match(last) or _NOT_A_QUANTITY.match(last) or _SECOND_QUESTION.search(last))


def is_answerable(question: str) -> bool:
    """Numbers present and one quantity asked: the least a question needs to have one numeric answer."""
    return bool(_NUMBER.search(question)) and asks_one_quantity(question)


def majority_solution(votes: list[Completion], k: int) -> str | None:
    """A solution from a strict majority of the K votes (one whose arithmetic holds, if any), else None."""
    result = tally(counted_answers(votes, LabelPolicy()))
    if not result.groups or result.groups[0].count * 2 <= k:
        return None
    texts = [votes[i].text for i in result.groups[0].indices]
    return next((t for t in texts if arithmetic.check(t).holds), texts[0])


def steps(solution: str) -> int:
    """Arithmetic steps a solution takes: its stated equations that hold (``crescent.arithmetic``)."""
    return arithmetic.check(solution).valid


def _rate(count: int, of: int) -> dict[str, Any]:
    return {"count": count, "of": of, "rate": round(count / of, 4) if of else None}


def measure_run(run_dir: Path, votes: int) -> dict[str, Any]:
    """The rates of one finished generate folder, read from its store."""
    with read_store(run_dir) as db:
        questions = QuestionTable(db).first()
        drawn = VoteTable(db).by_question()
        kept = sum(o.kept for o in OutcomeTable(db).by_question().values())
        verdicts = SelfCheckTable(db).verdicts()
    voted = [(qid, q) for qid, q in questions if drawn.get(qid)]
    answerable = sum(is_answerable(q) for _, q in voted)
    solutions = {qid: majority_solution(drawn[qid], votes) for qid, _ in voted}
    with_majority = [s for s in solutions.values() if s is not None]
    step_counts = [steps(s) for s in with_majority]
    histogram = Counter(min(n, MAX_STEPS_BUCKET) for n in step_counts)
    multi = sum(n > 1 for n in step_counts)
    report: dict[str, Any] = {
        "questions": len(voted),
        "answerable": _rate(answerable, len(voted)),
        "majority": _rate(len(with_majority), len(voted)),
        "multi_step": _rate(multi, len(with_majority)),
        "multi_step_of_all": _rate(multi, len(voted)),
        "kept_by_default_filters": _rate(kept, len(voted)),
        "steps_histogram": {
            (f"{n}+" if n == MAX_STEPS_BUCKET else str(n)): histogram.get(n, 0)
            for n in range(MAX_STEPS_BUCKET + 1)
        },
        "examples": [q for _, q in voted[:EXAMPLES]],
    }
    if verdicts:
        yes = sum(v == 1 for v in verdicts.values())
        report["self_check_yes"] = _rate(yes, len(verdicts))
    return report


def _folder(prompt: str) -> str:
    """Each prompt measures in its own folder, named by its text, so a rerun resumes the same runs."""
    return "prompt-" + hashlib.blake2b(prompt.encode(), digest_size=4).hexdigest()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    prompts = args.prompt or list(PROMPTS)
    results = []
    for prompt in prompts:
        config = GenerateConfig(
            out=args.out / _folder(prompt),
            model=args.model,
            backend=args.backend,
            threads=args.threads,
            batch_size=args.batch_size,
            questions=args.questions,
            votes=args.votes,
            seed=args.seed,
            bait_prompt=prompt,
            vote_max_tokens=args.vote_max_tokens,
            self_check=args.self_check,
            quiet=args.quiet,
        )
        entry: dict[str, Any] = {"prompt": prompt, "run": str(config.out)}
        try:
            stats = generate(config).stats
        except CrescentError as exc:  # no usable question from this prompt: a result, not a crash
            entry["error"] = str(exc)
            results.append(entry)
            continue
        bait = stats.bait
        entry["bait"] = {
            "attempts": bait.attempts,
            "clean_rate": bait.clean_rate,
            "rejected": bait.rejected,
        }
        entry.update(measure_run(config.out, args.votes))
        entry["tokens"] = stats.tokens_generated
        entry["wall_s"] = stats.wall_s
        results.append(entry)
        print(_line(entry), file=sys.stderr)
    return {
        "model": args.model or "embedded SmolLM2-135M",
        "backend": args.backend,
        "questions_per_prompt": args.questions,
        "votes": args.votes,
        "seed": args.seed,
        "definitions": {
            "answerable": "numbers present and one quantity asked (scripts/measure_bait.py is_answerable)",
            "majority": f"more than half of the {args.votes} votes agree (cut votes do not vote)",
            "multi_step": "of questions with a majority: the majority solution states >1 true equation",
        },
        "prompts": results,
        "chosen": choose(results),
        "rule": CHOICE_RULE,
    }


CHOICE_RULE = (
    "the prompt with the most questions that have a majority and a multi-step majority solution "
    "(multi_step_of_all count); a tie goes to the earlier prompt, so the default wins ties"
)


def choose(results: list[dict[str, Any]]) -> str | None:
    """The rule fixed before measuring (CHOICE_RULE), so the experiment can pick its bait unattended."""
    scored = [entry for entry in results if "multi_step_of_all" in entry]
    if not scored:
        return None
    best = max(scored, key=lambda entry: (entry["multi_step_of_all"]["count"], -results.index(entry)))
    return best["prompt"]


def _line(entry: dict[str, Any]) -> str:
    rates = (f"{key} {entry[key]['rate']}" for key in ("answerable", "majority", "multi_step"))
    return f"{entry['run']}: {entry['questions']} questions; " + ", ".join(rates)


def reclean(paths: list[Path], prompt: str) -> dict[str, Any]:
    """What today's cleaning does to the questions older runs kept (data.jsonl rows), each counted once."""
    questions = list(
        dict.fromkeys(
            json.loads(line)["question"]
            for path in paths
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        )
    )
    stripped: list[dict[str, str]] = []
    rejected: Counter[str] = Counter()
    for question in questions:
        cleaned, reason = clean_question(question, prompt)
        if cleaned is None:
            rejected[str(reason)] += 1
        elif cleaned != question:
            stripped.append({"before": question, "after": cleaned})
    return {
        "questions": len(questions),
        "stripped": len(stripped),
        "rejected": dict(rejected),
        "examples": stripped[:EXAMPLES],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, help="folder: one generate run per prompt + JSON")
    parser.add_argument("--reclean", type=Path, nargs="+", help="data.jsonl files: recleaned, no model run")
    parser.add_argument("--model", default=None, help="as crescent generate --model (default: embedded)")
    parser.add_argument("--backend", default="llamacpp")
    parser.add_argument("--prompt", action="append", help="a bait prompt to measure (repeat; default: 4)")
    parser.add_argument("--questions", type=int, default=100, help="accepted questions per prompt")
    parser.add_argument("--votes", type=int, default=5, help="K: votes per question")
    parser.add_argument("--vote-max-tokens", type=int, default=400)
    parser.add_argument("--self-check", action="store_true", help="also ask the model's own verdict")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.reclean:
        prompt = args.prompt[0] if args.prompt else DEFAULT_BAIT_PROMPT
        print(json.dumps(reclean(args.reclean, prompt), indent=2, ensure_ascii=False))
        return 0
    if args.out is None:
        parser.error("--out is required (or --reclean FILE ... to reclean old questions without a model)")
    try:
        report = measure(args)
    except CrescentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    path = args.out / "measure_bait.json"
    write_atomic(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
