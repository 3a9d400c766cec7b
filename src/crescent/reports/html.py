"""HTML pieces shared by every report: escaped, length-capped text, tables, and the page shell.

Model output is untrusted: every string that reaches a page goes through ``text`` (escaped, capped), and
only markup built here (``Raw``) is inserted as is. The page loads nothing from the network.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from crescent.store import write_atomic

MAX_TEXT = 2000  # characters of one model text shown in a report
SIGNATURE = '<meta name="generator" content="crescent report">'
"""In every page's head: ``report --out`` replaces only a file that carries it (``owned_files``)."""

STYLE = """
body{font-family:sans-serif;max-width:1040px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right}figure{display:inline-block;margin:6px 6px 6px 40px}
pre{white-space:pre-wrap;background:#f6f6f6;padding:6px;margin:2px 0;max-height:24em;overflow:auto}
details{border:1px solid #ddd;margin:3px 0;padding:3px 8px}details.wrong summary{color:#b00}
details.right summary{color:#070}.muted{color:#777}
"""


class Raw(str):
    """Markup made by this package (not model text): inserted without escaping."""


def text(value: Any, cap: int = MAX_TEXT) -> str:
    """Escape ``value`` for HTML, cut to ``cap`` characters (with a visible mark when cut)."""
    if isinstance(value, Raw):
        return value
    s = "—" if value is None else str(value)
    if len(s) > cap:
        s = s[:cap] + f" … [{len(s) - cap} more characters]"
    return html.escape(s, quote=True)


def table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> Raw:
    """A table whose cells are escaped (``Raw`` cells excepted); numbers are right-aligned."""
    header = "".join(f"<th>{text(h)}</th>" for h in head)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{text(c)}</td>' if isinstance(c, int | float) else f"<td>{text(c)}</td>"
            for c in row
        )
        body.append(f"<tr>{cells}</tr>")
    return Raw(f"<table><tr>{header}</tr>{''.join(body)}</table>")


def figure(svg: str, caption: str) -> Raw:
    return Raw(f"<figure>{svg}<figcaption>{text(caption)}</figcaption></figure>")


def section(title: str, *parts: str) -> Raw:
    return Raw(f"<h2>{text(title)}</h2>" + "".join(parts))


def page(title: str, *parts: str, script: str = "") -> str:
    """A whole document: inline style, optional inline script, no external assets."""
    js = f"<script>{script}</script>" if script else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{SIGNATURE}<title>{text(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{text(title)}</h1>{''.join(parts)}{js}</body></html>\n"
    )


def write_page(path: Path, document: str) -> Path:
    write_atomic(path, document)
    return path
