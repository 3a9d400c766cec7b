"""``rounds.json``: one record per round of an ``improve`` run, rewritten after every round.

A round copies the figures it reports from the typed results of its steps (``RoundEval.of``,
``RoundData.of``, ``RoundTrain.of``), so the report needs no step folder and the keys are chosen here once.
"""

from __future__ import annotations

from typing import Any, ClassVar

from crescent.results.base import Number, Record, SummaryList
from crescent.results.compare import Comparison
from crescent.results.eval import DepthAccuracy, EvalResults
from crescent.results.generate import GenerateStats
from crescent.results.train import LossPoint, TrainStats


def _picked(source: Record, keys: tuple[str, ...]) -> dict[str, Any]:
    """``keys`` of a step's result in this order; a key its file lacks is written as null, as always."""
    values = source.as_json()
    return {key: values.get(key) for key in keys}


class RoundEval(Record):
    KEYS: ClassVar[tuple[str, ...]] = (
        "accuracy",
        "n",
        "ci95",
        "by_depth",
        "extraction_failure_rate",
        "wall_s",
    )

    accuracy: Number
    n: int
    ci95: list[Number]
    by_depth: list[DepthAccuracy] | None = None

    @classmethod
    def of(cls, results: EvalResults) -> RoundEval:
        return cls.model_validate(_picked(results, cls.KEYS))


class RoundData(Record):
    rows: int
    consensus_histogram: dict[str, int]
    depth_histogram: dict[str, int] | None = None

    @classmethod
    def of(cls, stats: GenerateStats) -> RoundData:
        return cls.model_validate(
            {
                "source": stats.questions_source(),
                "rows": stats.export.rows,
                "accepted": stats.bait.accepted,
                "attempts": stats.bait.attempts,
                "mean_consensus": stats.vote.mean_consensus,
                "consensus_histogram": stats.vote.consensus_histogram,
                "depth_histogram": stats.export.depth_histogram,
                "tokens_per_s": stats.tokens_per_s,
            }
        )


class RoundTrain(Record):
    KEYS: ClassVar[tuple[str, ...]] = ("final_loss", "loss_curve", "train_time_s", "tokens_per_s", "steps")

    final_loss: Number | None = None
    loss_curve: list[LossPoint] | None = None

    @classmethod
    def of(cls, stats: TrainStats) -> RoundTrain:
        return cls.model_validate(_picked(stats, cls.KEYS))


class RoundComparison(Comparison):
    KEYS: ClassVar[tuple[str, ...]] = (
        "n",
        "difference",
        "difference_ci95",
        "mcnemar_p",
        "by_depth",
        "worse_depths",
    )

    @classmethod
    def of(cls, paired: Comparison) -> RoundComparison:
        return cls.model_validate(_picked(paired, cls.KEYS))


class Round(Record):
    round: int
    eval: RoundEval
    data: RoundData | None = None
    train: RoundTrain | None = None
    vs_round_0: RoundComparison | None = None
    teacher: str | None = None
    student: str | None = None


class Rounds(SummaryList):
    FILE = "rounds.json"
    ASCII = True

    root: list[Round]
