"""scripts/measure_bait.py: the three rates on hand-made questions and votes, and a whole run on the fake
backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_scripts import load_script

from crescent.backends.base import Completion

measure_bait = load_script("scripts/measure_bait.py")


@pytest.mark.parametrize(
    ("question", "answerable"),
    [
        ("Ann has 3 cats and buys 2 more. How many cats does she have?", True),
        ("A shop sells pens at two for a dollar. What do twelve pens cost?", True),  # number words count
        ("What is the difference between 'happy' and 'joy'?", False),  # no number
        ("Find the area of a square with side 2 meters. Is it a square?", False),  # yes/no
        ("Tom has 5 apples. How many does he eat, and how many are left?", False),  # two quantities
        ("Why did the teacher ask 20 students to find the average of 1 to 20?", False),
        ("A train leaves at 3 pm and travels 4 hours. When does it arrive?", True),
        ("If Tom has 5 apples and eats 2, how many apples are left?", True),  # a condition, one question
        ("Two to the ten, what could it be?", True),
    ],
)
def test_answerable_means_numbers_and_one_quantity_asked(question: str, answerable: bool) -> None:
    assert measure_bait.is_answerable(question) is answerable


def _c(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, tokens=len(text.split()), finish_reason=finish)


def test_majority_needs_more_than_half_of_k_and_prefers_a_solution_whose_arithmetic_holds() -> None:
    wrong = _c("3 * 4 = 13, 13 - 1 = 12. The answer is 12.")
    right = _c("3 * 4 = 12, 12 + 2 = 14, 14 - 2 = 12. The answer is 12.")
    other = _c("The answer is 7.")
    assert measure_bait.majority_solution([wrong, right, right, other, other], 5) == right.text
    assert measure_bait.majority_solution([wrong, other, other, right, _c("x", "length")], 5) is None  # 2-2
    cut = _c("3 + 4 = 7. The answer is 7.", finish="length")
    assert measure_bait.majority_solution([other, other, cut, cut, cut], 5) is None  # cut votes do not vote
    assert measure_bait.steps(right.text) == 3 and measure_bait.steps(wrong.text) == 1


def test_a_whole_measurement_on_the_fake_backend(tmp_path: Path, capsys) -> None:
    prompts = [
        "Write a math word problem.",
        "Write a math word problem that takes several steps. End with a question.",
    ]
    args = ["--out", str(tmp_path), "--backend", "fake", "--questions", "6", "--votes", "5", "--quiet"]
    args += ["--batch-size", "8", "--self-check"] + [x for p in prompts for x in ("--prompt", p)]
    assert measure_bait.main(args) == 0
    report = json.loads((tmp_path / "measure_bait.json").read_text())
    assert [entry["prompt"] for entry in report["prompts"]] == prompts
    for entry in report["prompts"]:
        assert entry["questions"] == 6 and Path(entry["run"]).is_dir()
        assert entry["answerable"] == {"count": 6, "of": 6, "rate": 1.0}  # the fake asks "How many ...?"
        assert 0 < entry["majority"]["count"] <= 6
        # the fake solves every problem in one addition: nothing takes more than one step
        assert (
            entry["multi_step"]["count"] == 0 and entry["steps_histogram"]["1"] == entry["majority"]["count"]
        )
        assert entry["self_check_yes"]["of"] == 6
    assert measure_bait.main(args) == 0  # resumes every run: the same questions, votes and rates
    again = json.loads((tmp_path / "measure_bait.json").read_text())["prompts"]
    timeless = [{k: v for k, v in entry.items() if k != "wall_s"} for entry in report["prompts"]]
    assert [{k: v for k, v in entry.items() if k != "wall_s"} for entry in again] == timeless


def test_reclean_counts_what_todays_cleaning_strips_and_rejects(tmp_path: Path, capsys) -> None:
    rows = [
        "Ann has 3 cats and buys 2 more. How many cats does she have?",
        "Create a new math word problem for high-school students. The problem is: Tom has 4 pens and "
        "buys 5 more. How many pens does he have?",
        "Can you write a new math word problem that requires students to use basic algebraic operations?",
    ]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"question": q}) + "\n" for q in rows + rows[:1]))
    assert measure_bait.main(["--reclean", str(data)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 3 and report["stripped"] == 1 and report["rejected"] == {"chat": 1}
    assert report["examples"][0]["after"] == "Tom has 4 pens and buys 5 more. How many pens does he have?"


def test_the_chosen_prompt_has_the_most_multi_step_majorities_and_ties_go_to_the_earlier() -> None:
    def entry(prompt: str, count: int) -> dict:
        return {"prompt": prompt, "multi_step_of_all": {"count": count, "of": 40, "rate": count / 40}}

    assert measure_bait.choose([entry("default", 3), entry("steps", 9), entry("shop", 5)]) == "steps"
    assert measure_bait.choose([entry("default", 4), entry("steps", 4)]) == "default"
    assert measure_bait.choose([{"prompt": "broken", "error": "no question"}, entry("shop", 0)]) == "shop"
    assert measure_bait.choose([{"prompt": "broken", "error": "no question"}]) is None
