"""Every upgrade of the run store, in one ordered list (as simonw/llm keeps its migrations).

A store records the version it was last opened at (``meta.schema_version``); opening it applies, in
order, each step of ``MIGRATIONS`` newer than that version and meant for its run kind, in one
transaction, then records ``SCHEMA_VERSION``. So a run written by an older crescent resumes in this one.
New tables need no step: each table's owner creates it (``CREATE TABLE IF NOT EXISTS``) whenever a
store opens. A step changes what an existing store holds, through the owners' typed methods; a change
an older store needs help with is one more entry at the end, with the next version.
"""

from __future__ import annotations

from crescent.config import AuditConfig, GenerateConfig, RunConfig, fields_with
from crescent.pipeline.counting import recount
from crescent.pipeline.vote_tables import OutcomeTable
from crescent.store import Migration, RunStore


def _label_options_leave_the_fingerprint(store: RunStore) -> None:
    """Version 2: labels became a pure function of the stored votes, so ``min_consensus`` no longer binds
    a generate run (changing it relabels); adaptive voting is new, and off in every older run."""
    config = store.get_meta("config")
    if config is None:
        return
    config.pop("min_consensus", None)
    config.setdefault("adaptive_votes", False)
    store.set_meta("config", config)


def _count_old_rows(store: RunStore) -> None:
    """Version 3: steps keep their own counters; a run written before counts its rows once.

    The label counters read ``outcomes.votes_used`` (version 4), so an older store gets that column first.
    """
    OutcomeTable(store.db).add_version_4_columns()
    recount(store)


def _outcomes_know_their_votes(store: RunStore) -> None:
    """Version 4: an outcome records the votes it rests on (``OutcomeTable.add_version_4_columns``)."""
    OutcomeTable(store.db).add_version_4_columns()


def _settling_options_leave_the_fingerprint(config_class: type[RunConfig], store: RunStore) -> None:
    """Version 4: ``--votes`` and ``--adaptive-votes`` no longer bind a run (a rerun tops up)."""
    config = store.get_meta("config")
    if config is not None:
        for name in fields_with(config_class, "settling"):
            config.pop(name, None)
        store.set_meta("config", config)


def _generate_vote_counts_leave_the_fingerprint(store: RunStore) -> None:
    """Version 4, generate: as for every voting run, and probes for preference pairs are new, drawn at
    the default temperature unless a rerun says otherwise."""
    _settling_options_leave_the_fingerprint(GenerateConfig, store)
    config = store.get_meta("config")
    if config is not None:
        config.setdefault(
            "pair_probe_temperature", GenerateConfig.model_fields["pair_probe_temperature"].default
        )
        store.set_meta("config", config)


def _audit_vote_counts_leave_the_fingerprint(store: RunStore) -> None:
    _settling_options_leave_the_fingerprint(AuditConfig, store)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, ("generate",), _label_options_leave_the_fingerprint),
    Migration(3, ("generate",), _count_old_rows),
    Migration(4, ("generate", "audit"), _outcomes_know_their_votes),
    Migration(4, ("generate",), _generate_vote_counts_leave_the_fingerprint),
    Migration(4, ("audit",), _audit_vote_counts_leave_the_fingerprint),
)
"""Applied in this order; versions never decrease along the list."""

SCHEMA_VERSION = MIGRATIONS[-1].version
"""The version a store opened by this crescent is at."""
