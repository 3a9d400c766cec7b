"""The report of an ``audit`` run: the audit's own page (``eval/audit_report.py``) from audit.json."""

from __future__ import annotations

from pathlib import Path

from crescent.eval.audit_report import render_audit
from crescent.results.audit import AuditSummary


def render(run_dir: Path) -> str:
    return render_audit(AuditSummary.from_dir(run_dir))
