"""``audit.html``: the audit's tables and its precision-coverage curve, in one file with no network.

The plot is a hand-written inline SVG: a polyline needs no plotting library, and the core install (which
the audit needs) does not carry matplotlib.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from crescent.results.audit import AuditSummary, LabelScore, ThresholdScore
from crescent.store import write_atomic

WIDTH, HEIGHT, PAD = 420, 300, 44
FILTER_COLUMNS = ["filter", "removed", "of them wrong", "precision without", "coverage without"]


def precision_coverage_svg(points: list[ThresholdScore], marks: dict[str, LabelScore]) -> str:
    """Precision (y) against coverage (x), one dot per consensus threshold, named policies as marks."""

    def xy(coverage: float, precision: float) -> tuple[float, float]:
        return (
            PAD + coverage * (WIDTH - 2 * PAD),
            HEIGHT - PAD - precision * (HEIGHT - 2 * PAD),
        )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" '
        'fill="none" stroke="#999"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x, _ = xy(tick, 0)
        _, y = xy(0, tick)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD + 16}" font-size="11" text-anchor="middle">{tick}</text>'
        )
        parts.append(f'<text x="{PAD - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{tick}</text>')
    parts.append(
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" font-size="12" text-anchor="middle">'
        "coverage (kept / n)</text>"
    )
    parts.append(
        f'<text x="12" y="{HEIGHT / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 12 {HEIGHT / 2})">precision (right / kept)</text>'
    )
    curve = [(p, p.precision) for p in points if p.precision is not None]
    if curve:
        coords = " ".join("{:.1f},{:.1f}".format(*xy(p.coverage, precision)) for p, precision in curve)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
        for p, precision in curve:
            x, y = xy(p.coverage, precision)
            label = html.escape(f"min_consensus {p.min_consensus}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1f77b4"><title>{label}</title></circle>'
            )
    colors = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    for (name, mark), color in zip(marks.items(), colors, strict=False):
        if mark.precision is None:
            continue
        x, y = xy(mark.coverage, mark.precision)
        parts.append(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{color}"/>')
        parts.append(
            f'<text x="{x + 7:.1f}" y="{y - 6:.1f}" font-size="11" fill="{color}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _row(cells: list[Any], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def write_audit_report(out: Path, audit: AuditSummary) -> Path:
    path = Path(out) / "audit.html"
    write_atomic(path, render_audit(audit))
    return path


def render_audit(audit: AuditSummary) -> str:
    """The whole audit page (also what ``crescent report`` shows for an audit folder)."""
    marks: dict[str, LabelScore] = {"configured": audit.default, "plain majority": audit.plain_majority}
    replay = audit.adaptive_replay
    if replay is not None:
        marks["adaptive"] = replay
    thresholds = "".join(_row([t.min_consensus, t.kept, t.coverage, t.precision]) for t in audit.by_threshold)
    filters = "".join(
        _row([name, f.removed, f.wrong_removed, f.precision_without, f.coverage_without])
        for name, f in audit.by_filter.items()
    )
    greedy = audit.greedy_accuracy
    summary = [
        ("items", audit.n),
        ("votes per item", audit.votes),
        ("first vote accuracy", audit.first_vote_accuracy),
        ("majority accuracy", audit.majority_accuracy),
        ("greedy accuracy", "not run" if greedy is None else greedy),
        ("configured: coverage / precision", f"{audit.default.coverage} / {audit.default.precision}"),
        (
            "plain majority: coverage / precision",
            f"{audit.plain_majority.coverage} / {audit.plain_majority.precision}",
        ),
    ]
    if replay is not None:
        summary.append(
            (
                "adaptive: votes saved / coverage / precision",
                f"{replay.votes_saved} / {replay.coverage} / {replay.precision}",
            )
        )
    by_votes = ""
    if audit.by_votes is not None:  # fixed voting: every smaller --votes, replayed exactly on prefixes
        rows = "".join(_row([r.votes, r.kept, r.coverage, r.precision, r.tie_rate]) for r in audit.by_votes)
        by_votes = (
            "<h2>By number of votes (the first j votes of each item)</h2>\n<table>"
            + _row(["votes", "kept", "coverage", "precision", "tie rate"], "th")
            + rows
            + "</table>\n"
        )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>crescent audit</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:2px 10px;text-align:right}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style></head><body>
<h1>Label audit</h1>
<table>{"".join(_row([k, v]) for k, v in summary)}</table>
<h2>Precision against coverage</h2>
{precision_coverage_svg(audit.by_threshold, marks)}
<h2>By consensus threshold</h2>
<table>{_row(["min_consensus", "kept", "coverage", "precision"], "th")}{thresholds}</table>
{by_votes}<h2>Each filter switched off</h2>
<table>{_row(FILTER_COLUMNS, "th")}{filters}</table>
</body></html>
"""
    return page
