"""The report of an ``audit`` run: the audit's own page (``eval/audit_report.py``) from audit.json."""

from __future__ import annotations

from pathlib import Path

from crescent.eval.audit_report import render_audit
from crescent.runs import read_json


def render(run_dir: Path) -> str:
    return render_audit(read_json(run_dir / "audit.json"))
