"""``crescent export``: a finished generate or eval run as a Hugging Face dataset folder (data + card),
optionally pushed to the Hub.

The dataset files hold exactly the rows the run wrote (``data.jsonl`` / ``predictions.jsonl``, and a
generate run's ``pairs.jsonl`` as the ``pairs`` config); the card (README.md) says where they came from
and how far to trust them, from the run's own counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crescent.config import ExportConfig
from crescent.errors import CrescentError
from crescent.locking import hold_folder
from crescent.publish.card import write_card
from crescent.publish.dataset import clear_data, write_dataset
from crescent.publish.push import check_repo_id
from crescent.publish.target import check_target, mark_export
from crescent.results.audit import AuditSummary
from crescent.runs import RUN_KINDS, newer_work, run_kind


@dataclass
class ExportResult:
    out: Path
    kind: str
    rows: int
    license: str
    url: str | None
    format: str
    license_given: bool
    stale: str | None = None

    def stdout(self) -> str:
        return str(self.out)

    def describe(self) -> str:
        line = f"exported {self.rows} rows of a {self.kind} run as {self.format} (license {self.license})"
        if self.url:
            line += f"; pushed to {self.url}"
        if self.stale:
            line += f"\nwarning: {self.stale}"
        if self.license == "other" and not self.license_given:
            line += "\nnote: the model's license is unknown, so the card says 'other'; pass --license ID"
        return line


def export_dataset(config: ExportConfig) -> ExportResult:
    """Write the dataset folder; then, if asked, push it (a failed push leaves the folder intact)."""
    kind = RUN_KINDS[run_kind(config.run_dir)]
    spec = kind.export
    if spec is None:
        exportable = " or ".join(k.name for k in RUN_KINDS.values() if k.export is not None)
        raise CrescentError(
            f"{config.run_dir} holds a {kind.name} run; export takes the folder of a {exportable} run"
        )
    if config.push_to_hub:
        check_repo_id(config.push_to_hub)
    stale = newer_work(config.run_dir, kind.name)  # reads the store: a damaged one stops the export here
    if stale and config.push_to_hub:
        raise CrescentError(f"not pushing stale rows: {stale}")
    check_target(config)
    audit = AuditSummary.from_dir(config.audit) if config.audit is not None else None
    with hold_folder(config.to, "--to"):
        check_target(config)  # again, now that no other export can be writing there
        mark_export(config.to, config.run_dir)  # first, so an interrupted export is still recognised
        clear_data(config.to)  # a checked target: empty, or an export of this same run (or --overwrite)
        rows = write_dataset(config.run_dir / spec.rows, config.to, config.format, spec.split)
        extra = {}
        for name, file in spec.extra.items():
            path = config.run_dir / file
            if path.is_file() and path.read_text().strip():  # a run from before pairs, or with none
                extra[name] = write_dataset(path, config.to, config.format, spec.split, name)
        license_id = write_card(config, kind, rows, audit, extra)
    url = None
    if config.push_to_hub:
        if license_id == "other" and config.license is None:
            raise CrescentError(
                f"the model's license is unknown, so the card says 'other'; pass --license ID "
                f"(e.g. apache-2.0) before pushing; the export in {config.to} is complete"
            )
        from crescent.publish.push import push

        url = push(config.to, config.push_to_hub, private=config.private)
    return ExportResult(
        config.to, kind.name, rows, license_id, url, config.format, config.license is not None, stale
    )
