"""Calibrate the self-dedup threshold on data: paraphrase pairs vs different-question pairs.

For N GSM8K questions we build a light paraphrase of each (rule-based rewording:
other names, synonyms, a reordered opening) and pair each question with a
different random question. Both kinds of pair are embedded with the model's own
pooled hidden states, exactly as ``crescent generate`` does (centering on the mean
of MEAN_SAMPLE other questions, then normalising), and we report how well one
threshold separates them, raw vs centered. The chosen default lives in
``GenerateConfig.dedup_threshold``.

    python scripts/calibrate_dedup.py [--model PATH] [--n 200] [--data ../shared/data/gsm8k/train.jsonl]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import numpy as np

from crescent.backends import create_backend
from crescent.config import BackendConfig
from crescent.pipeline.bait_loop import MEAN_SAMPLE
from crescent.pipeline.sources import read_questions
from crescent.similarity import center_and_normalize

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"
SYNONYMS = [
    ("How many", "What is the number of"),
    ("how many", "what number of"),
    ("How much", "What amount"),
    ("buys", "purchases"),
    ("bought", "purchased"),
    ("has", "owns"),
    ("each", "every"),
    ("total", "overall"),
    ("gives", "hands"),
    ("wants", "would like"),
    ("makes", "earns"),
    ("If", "Suppose"),
]
NAMES = ["Alice", "Bob", "Carla", "Diego", "Emma", "Farid", "Grace", "Hiro"]
CAPITALISED = re.compile(r"(?<=[a-z,.] )[A-Z][a-z]{2,}\b")


def paraphrase(question: str, rng: random.Random) -> str:
    text = question
    for old, new in SYNONYMS:
        if old in text and rng.random() < 0.7:
            text = text.replace(old, new, 1)
    names = sorted(set(CAPITALISED.findall(text)))
    if names:
        text = re.sub(rf"\b{re.escape(names[0])}\b", rng.choice(NAMES), text)
    return text if text != question else "Here is a question: " + question


def separation(pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    """Best single threshold (accuracy over balanced pairs) and ROC AUC."""
    candidates = np.unique(np.concatenate([pos, neg]))
    accuracy = [((pos >= t).mean() + (neg < t).mean()) / 2 for t in candidates]
    best = int(np.argmax(accuracy))
    auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    return {
        "best_threshold": round(float(candidates[best]), 4),
        "balanced_accuracy": round(float(accuracy[best]), 4),
        "auc": round(auc, 4),
        "paraphrase_p5": round(float(np.percentile(pos, 5)), 4),
        "paraphrase_median": round(float(np.median(pos)), 4),
        "different_median": round(float(np.median(neg)), 4),
        "different_p95": round(float(np.percentile(neg, 95)), 4),
        "different_max": round(float(neg.max()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--backend", default="llamacpp")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    questions = read_questions(args.data)
    rng.shuffle(questions)
    reference, sample = questions[:MEAN_SAMPLE], questions[MEAN_SAMPLE : MEAN_SAMPLE + args.n]
    para = [paraphrase(q, rng) for q in sample]
    others = [sample[(i + 1 + rng.randrange(len(sample) - 1)) % len(sample)] for i in range(len(sample))]

    backend = create_backend(BackendConfig(model=args.model, backend=args.backend, threads=args.threads))
    try:
        vectors = backend.embed(reference + sample + para)
    finally:
        backend.close()
    ref, base, para_vec = np.split(vectors, [MEAN_SAMPLE, MEAN_SAMPLE + len(sample)])
    index = {q: i for i, q in enumerate(sample)}
    other_vec = base[[index[q] for q in others]]

    def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a * b).sum(axis=1)

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    mean = ref.mean(axis=0)
    centered_base = center_and_normalize(base, mean)
    centered_para = center_and_normalize(para_vec, mean)
    # Dedup compares a candidate with its *nearest* accepted question, a maximum over
    # many pairs, so false rejections grow with the accepted set: measure that too.
    sims = centered_base @ centered_base.T
    np.fill_diagonal(sims, -1.0)
    nearest_other = sims.max(axis=1)
    para_sims = cosines(centered_base, centered_para)
    report = {
        "model": args.model or "embedded SmolLM2-135M-Instruct Q4_1",
        "pairs": len(sample),
        "raw": separation(cosines(unit(base), unit(para_vec)), cosines(unit(base), unit(other_vec))),
        "centered": separation(para_sims, cosines(centered_base, center_and_normalize(other_vec, mean))),
        "centered_nearest_neighbour": {
            f"{t:.2f}": {
                "paraphrase_recall": round(float((para_sims >= t).mean()), 4),
                "false_rejection": round(float((nearest_other >= t).mean()), 4),
            }
            for t in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85)
        },
        "example_paraphrase": [sample[0], para[0]],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
