"""Evaluation: accuracy (maj@K) of a model on a benchmark, and paired comparison of two evals.

Imports stay lazy-light: ``crescent.eval.stats`` needs only numpy, and ``run`` pulls in the backends
only when an eval actually runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crescent.config import EvalConfig
    from crescent.eval.run import EvalResult


def evaluate(config: EvalConfig, **kwargs: Any) -> EvalResult:
    """Score a model on ``config.data``; see ``crescent.eval.run.evaluate``."""
    from crescent.eval.run import evaluate as run

    return run(config, **kwargs)


__all__ = ["evaluate"]
