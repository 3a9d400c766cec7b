"""``crescent report``: one self-contained HTML page for a generate, eval, audit or improve folder.

Each kind has a module with ``render(run_dir) -> str``, named by its entry in ``runs.RUN_KINDS``;
``svg.py`` and ``html.py`` are the shared pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crescent.config import ReportConfig
from crescent.errors import CrescentError
from crescent.owned_files import check_replaceable
from crescent.reports.html import SIGNATURE, write_page
from crescent.runs import RUN_KINDS, run_kind

REPORT_FILE = "report.html"


def write_run_report(run_dir: Path, out: Path | None = None) -> tuple[str, Path]:
    """Render the report of ``run_dir`` into ``out`` (default RUN_DIR/report.html); returns (kind, path)."""
    run_dir = Path(run_dir)
    kind = run_kind(run_dir)
    document = RUN_KINDS[kind].render_report(run_dir)
    path = Path(out) if out is not None else run_dir / REPORT_FILE
    if path.is_dir():
        raise CrescentError(f"--out {path} is a folder; pass a file path such as {path / REPORT_FILE}")
    if out is not None:  # the default path is the run's own report
        check_replaceable(path, SIGNATURE, "--out", "report")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return kind, write_page(path, document)
    except OSError as exc:
        raise CrescentError(f"cannot write report {path}: {exc.strerror}; choose a writable --out") from exc


@dataclass
class ReportResult:
    kind: str
    path: Path

    def stdout(self) -> str:
        return str(self.path)

    def describe(self) -> str:
        return f"report of a {self.kind} run"


def report(config: ReportConfig) -> ReportResult:
    return ReportResult(*write_run_report(config.run_dir, config.out))
