"""Label filters and the adaptive stopping rule, on hand-made votes; a registered filter in every output."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest
from fixture_runs import generate_run

from crescent.backends.base import Completion
from crescent.config import AuditConfig, ExportConfig
from crescent.eval.audit import audit
from crescent.pipeline.labels import (
    LABEL_FILTERS,
    Ballot,
    LabelFilter,
    LabelPolicy,
    copied_from_question,
    decide,
    first_wave,
    settled,
)
from crescent.publish import export_dataset
from crescent.reports import write_run_report

FILTERS = LabelPolicy()
PLAIN = LabelPolicy.plain_majority(0.5)


def _c(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, tokens=len(text.split()), finish_reason=finish)


def test_unfinished_votes_do_not_vote() -> None:
    votes = [_c("3 + 4 = 7. The answer is 7."), _c("The answer is 7."), _c("long ... 9", finish="length")]
    votes += [_c("I am not sure.")]
    filtered, plain = decide(votes, FILTERS), decide(votes, PLAIN)
    assert filtered.kept and filtered.consensus == 1.0  # 2 of the 2 votes that voted
    assert plain.kept and plain.consensus == 0.5  # 2 of 4: the cut and the blank count against
    assert filtered.answers[2] is None and plain.answers[2] == "9"


def test_too_few_valid_votes_is_dropped() -> None:
    votes = [_c("1 + 1 = 2. The answer is 2."), _c("cut", finish="length"), _c("no idea")]
    assert decide(votes, FILTERS).reason == "too_few_votes"
    assert decide(votes, LabelPolicy(min_valid_votes=1)).kept


def test_a_tie_for_the_top_is_no_majority() -> None:
    votes = [_c("3 + 4 = 7. The answer is 7."), _c("2 + 6 = 8. The answer is 8."), _c("cut", finish="length")]
    assert decide(votes, FILTERS).reason == "tie"  # 1-1 among the two votes that voted
    assert decide(votes, PLAIN).kept is False  # the paper's rule: 1 of 3 is below 0.5
    assert decide(votes[:2], LabelPolicy.plain_majority(0.5)).answer == "7"  # first occurrence wins the tie


def test_arithmetic_check_picks_a_passing_solution_or_drops() -> None:
    wrong_first = [_c("6 * 7 = 40, plus 2 is 42. The answer is 42."), _c("6 * 7 = 42. The answer is 42.")]
    outcome = decide(wrong_first, FILTERS)
    assert outcome.kept and outcome.solution.startswith("6 * 7 = 42")
    all_wrong = [_c("6 * 7 = 40. The answer is 40."), _c("6 * 7 = 40 so 40. The answer is 40.")]
    assert decide(all_wrong, FILTERS).reason == "arithmetic_error"
    assert decide(all_wrong, PLAIN).kept


def test_shortcut_answer_copied_from_question_is_dropped() -> None:
    question = "How can Ann finish her homework by 10 minutes past eight?"
    votes = [_c("She should start early. The answer is 10."), _c("The answer is 10.")]
    assert decide(votes, FILTERS, question).reason == "shortcut"
    assert decide(votes, PLAIN, question).kept
    worked = [_c("She reads 2 * 5 = 10 pages. The answer is 10."), _c("The answer is 10.")]
    assert decide(worked, FILTERS, question).kept  # the copy is backed by valid arithmetic


def test_difficulty_band_drops_unanimous_questions() -> None:
    unanimous = [_c("The answer is 5.")] * 3
    band = LabelPolicy(max_consensus=0.7, min_consensus=0.3, arithmetic_check=False)
    assert decide(unanimous, band).reason == "too_easy"
    split = [_c("The answer is 5."), _c("The answer is 5."), _c("The answer is 6.")]
    assert decide(split, band).kept


def test_copied_from_question_compares_values() -> None:
    assert copied_from_question("1200", "It costs $1,200 in total.")
    assert copied_from_question("0.5", "Half is .5 of it, or 0.50")
    assert not copied_from_question("12", "She had 120 apples.")


def test_settled_rules() -> None:
    a, b = _c("The answer is 1."), _c("The answer is 2.")
    assert first_wave(5) == 3 and first_wave(4) == 3 and first_wave(1) == 1
    assert settled([a, a, a], 5, FILTERS)  # 3 > 0 + 2 remaining: cannot be overtaken
    assert not settled([a, a, b], 5, FILTERS)
    three = [a, b, _c("The answer is 3.")]
    assert not settled(three, 5, LabelPolicy(min_consensus=0.6))  # (1 + 2) / 5 = 0.6 still reachable
    assert settled(three, 5, LabelPolicy(min_consensus=0.61))


@pytest.mark.parametrize("votes", [3, 4, 5])
def test_settled_never_changes_the_winner_or_a_kept_label(votes: int) -> None:
    """Exhaustively: a question stopped early keeps the full run's winner, and one dropped early for
    consensus would have been dropped by the full run too."""
    texts = [_c("The answer is 1."), _c("The answer is 2."), _c("no answer")]
    policy = LabelPolicy(arithmetic_check=False, shortcut_filter=False)
    for sequence in itertools.product(texts, repeat=votes):
        full = decide(list(sequence), policy)
        m = first_wave(votes)
        while m < votes and not settled(list(sequence[:m]), votes, policy):
            m += 1
        early = decide(list(sequence[:m]), policy)
        if early.kept:
            assert early.answer == full.answer  # the leader could not be overtaken
        if early.reason == "low_consensus" and m < votes:
            assert not full.kept  # consensus was out of reach


def test_rejected_is_the_least_voted_losing_answer_and_never_an_unfinished_vote() -> None:
    votes = [
        _c("3 + 4 = 7. The answer is 7."),
        _c("3 + 5 = 8. The answer is 8."),
        _c("3 + 4 = 7. So 7. The answer is 7."),
        _c("3 + 6 = 9. The answer is 9."),
        _c("3 + 5 = 8. I get 8. The answer is 8."),
        _c("3 + 4 = 7. Hence. The answer is 7."),
        _c("way too long ... 5", finish="length"),
    ]
    outcome = decide(votes, FILTERS)
    assert outcome.kept and outcome.answer == "7"
    assert (outcome.rejected, outcome.rejected_votes) == ("3 + 6 = 9. The answer is 9.", 1)
    unanimous = decide([votes[0], votes[2], votes[6]], FILTERS)
    assert unanimous.kept and unanimous.rejected is None  # the cut vote did not vote, so it cannot lose


def test_paths_keep_one_winning_solution_per_distinct_list_of_equations() -> None:
    votes = [
        _c("3 * 4 = 12 and 12 + 2 = 14. The answer is 14."),
        _c("Twelve first: 3*4 = 12, then 12 + 2 = 14. The answer is 14."),  # same equations, reworded
        _c("2 + 3 * 4 = 14. The answer is 14."),  # another path
        _c("3 * 4 = 13 so 13 + 1 = 14. The answer is 14."),  # fails the arithmetic check
        _c("3 + 4 = 7. The answer is 7."),
    ]
    outcome = decide(votes, FILTERS)
    assert outcome.paths == (votes[0].text, votes[2].text) and outcome.solution == votes[0].text
    unchecked = decide(votes, replace(FILTERS, arithmetic_check=False))
    assert len(unchecked.paths) == 3 and votes[3].text in unchecked.paths


def test_self_check_drops_only_a_no_and_only_when_switched_on() -> None:
    votes = [_c("2 + 3 = 5. The answer is 5.")] * 3
    checking = LabelPolicy(self_check=True)
    assert decide(votes, checking, verdict=False).reason == "self_check"
    assert decide(votes, checking, verdict=None).kept  # not asked, or neither yes nor no: kept
    assert decide(votes, checking, verdict=True).kept
    assert decide(votes, FILTERS, verdict=False).kept  # off by default
    assert LabelPolicy.plain_majority(0.5).self_check is False


def _odd(ballot: Ballot) -> bool:
    winner = ballot.result.winner
    return winner is not None and winner.isdigit() and int(winner) % 2 == 1


@pytest.fixture
def dummy_filter(monkeypatch: pytest.MonkeyPatch) -> LabelFilter:
    """A filter registered in this one place, as a new filter would be: nothing else names it."""
    added = LabelFilter(
        "odd_answer",
        None,
        None,
        _odd,
        "the answer is odd (a test filter)",
    )
    monkeypatch.setitem(LABEL_FILTERS, added.name, added)
    return added


def test_a_registered_filter_reaches_decide_stats_audit_report_and_card(
    dummy_filter: LabelFilter, tmp_path: Path
) -> None:
    name = dummy_filter.name
    outcome = decide([_c("3 + 6 = 9. The answer is 9")] * 3, FILTERS)
    assert outcome.reason == name and not outcome.kept
    assert decide([_c("3 + 6 = 9. The answer is 9")] * 3, replace(FILTERS, disabled=frozenset({name}))).kept

    run = generate_run(tmp_path / "run", poison=False, questions=12)
    stats = json.loads((run / "stats.json").read_text())
    assert stats["vote"]["dropped"][name] > 0
    _, report = write_run_report(run)
    assert name in report.read_text() and dummy_filter.description in report.read_text()
    export_dataset(ExportConfig(run_dir=run, to=tmp_path / "ds", format="jsonl"))
    card = (tmp_path / "ds" / "README.md").read_text()
    assert f"| {name} | — | on | {stats['vote']['dropped'][name]} |" in card

    bench = tmp_path / "bench.jsonl"
    rows = [
        {"id": f"b{i}", "question": f"Ava has {i} apples and gets {i + 3} more.", "answer": 2 * i + 3}
        for i in range(1, 13)
    ]
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = AuditConfig(
        out=tmp_path / "audit", data=bench, backend="fake", model="accuracy=0.9", votes=3, quiet=True
    )
    without = audit(config).audit.by_filter[name]
    assert without.removed > 0  # every gold answer (2i + 3) is odd
