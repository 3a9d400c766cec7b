"""The format control of issue #19: as many training rows as an arm has, made of *first-vote* solutions,
unfiltered and unvoted, from the same generate run.

A model fine-tuned on its own solutions can gain on a benchmark only because it learned the answer format
("The answer is N."). Training on solutions that were never voted on or filtered teaches the same format
with none of the label signal, so a gain counts as self-improvement only where an arm beats this one.

    python experiments/format_control.py RUN_DIR --rows N --out DIR/data.jsonl

Rows are taken question by question in the run's order: vote 0 of every question, then vote 1 of every
question, and so on, until N rows; a vote cut at the token cap is taken like any other (no filter).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from crescent.pipeline.bait_tables import QuestionTable
from crescent.pipeline.vote_tables import VoteTable
from crescent.prompts import solve_prompt
from crescent.results.generate import GenerateStats
from crescent.runs import read_store


def first_vote_rows(run_dir: Path, rows: int) -> list[dict]:
    config = GenerateStats.from_dir(run_dir).config
    # Read-only, through the tables' owners: an experiment's view of a finished run, never a writer of it.
    with read_store(run_dir) as db:
        questions = QuestionTable(db).first(config.questions)
        drawn = VoteTable(db).by_question()
    votes = {qid: [c.text for c in completions] for qid, completions in drawn.items()}
    out: list[dict] = []
    depth = 0
    while len(out) < rows:
        added = False
        for qid, question in questions:
            if len(out) == rows:
                break
            if depth < len(votes.get(qid, [])):
                solution = votes[qid][depth]
                prompt = solve_prompt(question, config.solve_instruction or "")
                out.append(
                    {
                        "id": qid,
                        "question": question,
                        "solution": solution,
                        "vote": depth,
                        "messages": [
                            {"role": "user", "content": prompt},
                            {"role": "assistant", "content": solution},
                        ],
                    }
                )
                added = True
        if not added:
            raise SystemExit(f"{run_dir} holds only {len(out)} votes; fewer than --rows {rows}")
        depth += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--rows", type=int, required=True, help="rows wanted (the arm's training rows)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = first_vote_rows(args.run_dir, args.rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{len(rows)} first-vote rows from {args.run_dir} -> {args.out}")


if __name__ == "__main__":
    main()
