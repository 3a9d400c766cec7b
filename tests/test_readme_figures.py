"""Every paired result the READMEs quote is one that a committed result file holds.

The figures are typed into prose by hand (a table generator would not write the sentences around them), so
each one, "+1.3 pt [−0.8, +3.4]", must match a paired comparison stored in ``benchmarks/results/effect.json``
or in ``experiments/results/compare-*.json`` (``crescent eval compare --out``): the result file is the
figure's home, and a typo or a stale figure in the README fails here instead of misleading a reader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "benchmarks/README.md")
NUMBER = r"([+-]?\d+(?:\.\d+)?)"
# "+1.3 pt, 95 % CI [−0.8, +3.4]", "+1.3 pt [−0.8, +3.4]" and the tables' "**+3.0 pt** [-0.6, +6.6]"
PAIRED = re.compile(rf"{NUMBER} pt,? (?:95 ?% CI |CI )?\[{NUMBER}, {NUMBER}\]")
# Figures from runs made before their outputs were committed: quoted, but with no file to check them against.
UNSTORED = {
    (0.4, -1.2, 2.0): "embedded model, 5-shot vs 0-shot eval of the first release (runs/eval0, runs/eval5)",
}
TOLERANCE = 0.051  # percentage points: a figure rounded to one decimal by hand or by format


def quoted(text: str) -> list[tuple[float, float, float]]:
    """The (difference, CI low, CI high) triples in a document, in percentage points."""
    flat = re.sub(r"\s+", " ", text.replace("\u2212", "-").replace("*", ""))
    return [tuple(float(g) for g in m.groups()) for m in PAIRED.finditer(flat)]


def stored(node: object) -> Iterator[tuple[float, float, float]]:
    """Every paired comparison anywhere in a result file (entries, head-to-heads, HumanEval, depth rows)."""
    if isinstance(node, dict):
        diff = node.get("diff", node.get("difference"))
        ci = node.get("ci95") if "diff" in node else node.get("difference_ci95")
        if isinstance(diff, float | int) and isinstance(ci, list) and len(ci) == 2:
            yield diff * 100, ci[0] * 100, ci[1] * 100
        for value in node.values():
            yield from stored(value)
    elif isinstance(node, list):
        for value in node:
            yield from stored(value)


def homes() -> list[tuple[float, float, float]]:
    compared = sorted((ROOT / "experiments/results").glob("compare-*.json"))
    files = [ROOT / "benchmarks/results/effect.json", *compared]
    return [figure for f in files for figure in stored(json.loads(f.read_text()))]


def has_home(figure: tuple[float, float, float], candidates: list[tuple[float, float, float]]) -> bool:
    return any(all(abs(q - s) <= TOLERANCE for q, s in zip(figure, c, strict=True)) for c in candidates)


@pytest.mark.parametrize("doc", DOCS)
def test_every_quoted_paired_figure_is_stored(doc: str) -> None:
    candidates = homes()
    figures = quoted((ROOT / doc).read_text())
    assert figures, f"{doc} quotes no paired figure: has the pattern changed?"
    orphans = [f for f in figures if not has_home(f, candidates) and f not in UNSTORED]
    assert not orphans, f"{doc} quotes paired figures no committed result holds: {orphans}"


def test_the_check_catches_a_figure_off_by_a_tenth() -> None:
    candidates = [(1.3, -0.8, 3.4)]
    assert quoted("**+1.3 pt, 95 % CI [\u22120.8, +3.4]**") == [(1.3, -0.8, 3.4)]
    assert has_home(quoted("+1.3 pt [\u22120.8, +3.4]")[0], candidates)
    assert not has_home(quoted("+1.4 pt [\u22120.8, +3.4]")[0], candidates)
    assert not has_home(quoted("+1.3 pt [\u22120.8, +3.5]")[0], candidates)
