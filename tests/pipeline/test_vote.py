from __future__ import annotations

from crescent.backends.base import Completion
from crescent.pipeline.labels import LabelPolicy, decide
from crescent.pipeline.vote import vote_request

PLAIN = LabelPolicy.plain_majority(0.5)


def _c(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, tokens=len(text.split()), finish_reason=finish)


def test_majority_by_mathematical_equality() -> None:
    outcome = decide(
        [
            _c("so 18 total. The answer is 18."),
            _c("#### 18.00"),
            _c("The answer is $18"),
            _c("The answer is 20."),
        ],
        PLAIN,
    )
    assert outcome.kept and outcome.answer == "18"
    assert outcome.consensus == 0.75
    assert sum(outcome.counts.values()) == 4 and len(outcome.counts) == 2


def test_low_consensus_and_no_answer_are_dropped_with_reasons() -> None:
    low = decide([_c("The answer is 1."), _c("The answer is 2."), _c("The answer is 3.")], PLAIN)
    assert (low.kept, low.reason) == (False, "low_consensus")
    none = decide([_c("I do not know."), _c("")], LabelPolicy.plain_majority(0.0))
    assert (none.kept, none.reason, none.answer) == (False, "no_answer", None)


def test_winning_solution_prefers_a_finished_sample() -> None:
    outcome = decide(
        [_c("cut off ... The answer is 7", finish="length"), _c("Full work. The answer is 7.")], PLAIN
    )
    assert outcome.solution == "Full work. The answer is 7."


def test_vote_request_is_stable_per_question() -> None:
    a = vote_request("q-1", "How many?", "Solve.", votes=5, seed=0)
    assert a.n == 5 and a.seed == vote_request("q-1", "How many?", "Solve.", votes=5, seed=0).seed
    assert a.seed != vote_request("q-2", "How many?", "Solve.", votes=5, seed=0).seed
    later = vote_request("q-1", "How many?", "Solve.", votes=2, seed=0, first_index=3)
    assert later.seed == a.seed and later.first_index == 3


def test_few_open_questions_draw_their_next_votes_at_once_to_fill_the_slots() -> None:
    from crescent.config import VotingConfig
    from crescent.pipeline.vote import VotePlan

    plan = VotePlan.from_config(VotingConfig(votes=5, adaptive_votes=True, batch_size=16))
    assert plan.next_wave(3) == 1
    assert plan.fill_slots(drawn=3, open_questions=40) == 1  # slots full anyway: one vote a wave
    assert plan.fill_slots(drawn=3, open_questions=8) == 2  # 8 questions x 2 votes fill 16 slots
    assert plan.fill_slots(drawn=3, open_questions=2) == 2  # never past K
    fixed = VotePlan.from_config(VotingConfig(votes=5, batch_size=16))
    assert fixed.fill_slots(drawn=0, open_questions=2) == 0  # fixed voting draws K in one wave already
