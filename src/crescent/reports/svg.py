"""Charts as inline SVG strings: bars, intervals and lines are a few shapes each.

Why hand-written SVG rather than matplotlib: a report must be one file that opens with no network and
no plotting library (the core install has none), and text inside an SVG is just escaped markup, so model
output can never inject anything. Every label passes through ``html.escape``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

WIDTH, HEIGHT = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 28, 64
BLUE, RED, GREY = "#1f77b4", "#d62728", "#999"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _nice_max(value: float) -> float:
    """A round axis top at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def _frame(title: str, y_max: float, y_label: str, width: int = WIDTH) -> list[str]:
    """The svg element, title, y axis with four gridlines, and the plot box."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" role="img" '
        f'aria-label="{_esc(title)}" font-family="sans-serif" style="overflow:visible">',
        f'<text x="{width / 2:.0f}" y="16" font-size="13" text-anchor="middle">{_esc(title)}</text>',
    ]
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(
            f'<text x="{LEFT - 5}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{_fmt(value)}</text>'
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.0f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.0f})">{_esc(y_label)}</text>'
    )
    parts.append(
        f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="{GREY}"/>'
    )
    return parts


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    y_label: str = "count",
    marker: tuple[float, str] | None = None,
    color: str = BLUE,
) -> str:
    """Vertical bars with their values on top. ``marker`` = (bar position, text): a dashed red line at a
    fractional bar index (e.g. a threshold inside a histogram)."""
    width = max(WIDTH, LEFT + RIGHT + 34 * len(labels))
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_max = _nice_max(max(values, default=0))
    parts = _frame(title, y_max, y_label, width)
    slot = plot_w / max(1, len(labels))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / y_max
        x = LEFT + i * slot
        y = TOP + plot_h - h
        parts.append(
            f'<rect x="{x + slot * 0.12:.1f}" y="{y:.1f}" width="{slot * 0.76:.1f}" height="{h:.1f}" '
            f'fill="{color}"><title>{_esc(label)}: {_esc(_fmt(value))}</title></rect>'
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{y - 3:.1f}" font-size="10" text-anchor="middle">'
            f"{_esc(_fmt(value))}</text>"
        )
        lx, ly = x + slot / 2, TOP + plot_h + 12
        parts.append(
            f'<text x="{lx:.1f}" y="{ly}" font-size="10" text-anchor="end" '
            f'transform="rotate(-35 {lx:.1f} {ly})">{_esc(str(label)[:28])}</text>'
        )
    if marker is not None:
        position, text = marker
        x = LEFT + position * slot
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="{RED}" '
            'stroke-width="2" stroke-dasharray="5,3"/>'
        )
        parts.append(f'<text x="{x + 4:.1f}" y="{TOP + 10}" font-size="11" fill="{RED}">{_esc(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    values: Sequence[float],
    *,
    low: float,
    high: float,
    bins: int,
    title: str,
    threshold: float | None = None,
    x_label: str = "",
) -> str:
    """Counts of ``values`` in ``bins`` equal bins over [low, high], with an optional threshold line."""
    step = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - low) / step)))] += 1
    labels = [f"{low + i * step:.2f}" for i in range(bins)]
    marker = None
    if threshold is not None:
        marker = ((threshold - low) / step, f"threshold {threshold:g}")
    return bar_chart(labels, counts, title=title + (f" ({x_label})" if x_label else ""), marker=marker)


def interval_chart(
    points: Sequence[tuple[str, float, float, float]], *, title: str, y_label: str = "accuracy"
) -> str:
    """One dot per (label, value, low, high) with its interval as a whisker; y from 0 to a round top."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_max = min(1.0, _nice_max(max((p[3] for p in points), default=0)))
    parts = _frame(title, y_max, y_label)
    slot = plot_w / max(1, len(points))

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * min(value, y_max) / y_max

    for i, (label, value, low, high) in enumerate(points):
        x = LEFT + slot * (i + 0.5)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_of(low):.1f}" y2="{y_of(high):.1f}" '
            f'stroke="{BLUE}" stroke-width="2"/>'
        )
        for end in (low, high):
            parts.append(
                f'<line x1="{x - 6:.1f}" x2="{x + 6:.1f}" y1="{y_of(end):.1f}" y2="{y_of(end):.1f}" '
                f'stroke="{BLUE}" stroke-width="2"/>'
            )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y_of(value):.1f}" r="4" fill="{BLUE}"><title>{_esc(label)}: '
            f"{value:.4f} [{low:.4f}, {high:.4f}]</title></circle>"
        )
        parts.append(
            f'<text x="{x + 8:.1f}" y="{y_of(value) + 4:.1f}" font-size="10">{value:.1%}</text>'
            f'<text x="{x:.1f}" y="{TOP + plot_h + 14}" font-size="10" text-anchor="middle">'
            f"{_esc(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]], *, title: str, x_label: str, y_label: str
) -> str:
    """One polyline per named series of (x, y) points, with a legend."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    points = [p for s in series.values() for p in s]
    xs = [p[0] for p in points] or [0.0]
    x_low, x_high = min(xs), max(xs)
    x_span = (x_high - x_low) or 1.0
    y_max = _nice_max(max((p[1] for p in points), default=0))
    parts = _frame(title, y_max, y_label)

    def xy(x: float, y: float) -> str:
        return f"{LEFT + plot_w * (x - x_low) / x_span:.1f},{TOP + plot_h - plot_h * y / y_max:.1f}"

    for tick in (x_low, x_high):
        parts.append(
            f'<text x="{LEFT + plot_w * (tick - x_low) / x_span:.1f}" y="{TOP + plot_h + 14}" '
            f'font-size="10" text-anchor="middle">{_fmt(tick)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 20}" font-size="11" text-anchor="middle">'
        f"{_esc(x_label)}</text>"
    )
    for k, (name, pts) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        coords = " ".join(xy(x, y) for x, y in pts)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.extend(
            f'<circle cx="{xy(x, y).split(",")[0]}" cy="{xy(x, y).split(",")[1]}" r="2.5" fill="{color}"/>'
            for x, y in pts
        )
        parts.append(
            f'<text x="{WIDTH - RIGHT - 4}" y="{TOP + 12 + 13 * k}" font-size="10" text-anchor="end" '
            f'fill="{color}">{_esc(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
