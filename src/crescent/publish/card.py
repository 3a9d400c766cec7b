"""The dataset card (README.md): Hub metadata, then what made the rows and how far to trust them.

Everything comes from the run's own records (``stats.json`` or ``results.json``, an optional audit), so
the card cannot drift from the data. Model text only appears escaped, capped and inside ``<pre>``.
"""

from __future__ import annotations

import html
import json
from importlib import import_module
from pathlib import Path
from typing import Any

import yaml

from crescent.config import ExportConfig
from crescent.eval.summary import depth_rows, score_cells, score_columns
from crescent.pipeline.labels import FILTER_COLUMNS, filter_rows
from crescent.pipeline.sources import read_jsonl
from crescent.publish.dataset import PAIRS, data_file
from crescent.publish.license import UNKNOWN, model_license
from crescent.results.audit import AuditSummary
from crescent.results.base import ConfigEcho
from crescent.results.eval import EvalResults
from crescent.results.generate import Export, GenerateStats, Pairs
from crescent.runs import RunKind, model_label
from crescent.store import write_atomic

EXAMPLES = 3
MAX_EXAMPLE_CHARS = 1500
DEDUP_REASONS = frozenset(
    {"exact_duplicate", "near_duplicate", "excluded_exact", "excluded_ngram", "excluded_near"}
)
SIZES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]


def size_category(rows: int) -> str:
    return next((name for limit, name in SIZES if rows < limit), "1M<n<10M")


def pre(value: Any, cap: int = MAX_EXAMPLE_CHARS) -> str:
    """Untrusted text as an escaped, capped ``<pre>`` block (markdown renders it verbatim)."""
    s = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    if len(s) > cap:
        s = s[:cap] + f"\n… [{len(s) - cap} more characters]"
    return f"<pre>{html.escape(s)}</pre>"


def cell(value: Any) -> str:
    """A markdown table cell: escaped, one line, no column breaks."""
    return html.escape(" ".join(str(value).split())[:200]).replace("|", "&#124;")


def md_table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_card(
    config: ExportConfig,
    kind: RunKind,
    rows: int,
    audit: AuditSummary | None,
    extra: dict[str, int] | None = None,
) -> str:
    """Write ``config.to/README.md``; returns the license identifier it states.

    ``extra`` maps the other configs written (``pairs``) to their row counts; the body is the kind's
    ``card_body`` (``generate_body`` or ``eval_body`` below), named by its entry in ``runs.RUN_KINDS``.
    """
    extra = extra or {}
    export = kind.export
    if export is None:
        raise ValueError(f"a {kind.name} run has no dataset card")
    summary = kind.result.from_dir(config.run_dir)
    run_config: ConfigEcho = getattr(summary, "config", ConfigEcho())
    inherited = model_license(run_config.model, run_config.backend or "llamacpp")
    license_id = config.license or inherited or UNKNOWN
    if config.license:
        license_note = f"{license_id}, given with --license"
    elif inherited:
        license_note = f"{license_id}, inherited from the model that wrote the rows"
    else:
        license_note = "unknown (the model's license could not be determined): re-export with --license ID"
    split = export.split
    meta = {
        "license": license_id,
        "language": ["en"],
        "task_categories": ["question-answering", "text-generation"],
        "tags": ["synthetic", "math", "crescent", *export.tags],
        "size_categories": [size_category(rows)],
        "pretty_name": f"crescent {kind.name}: {config.run_dir.name}",
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": data_file(split, config.format)}],
            }
        ]
        + [
            {
                "config_name": name,
                "data_files": [{"split": split, "path": data_file(split, config.format, name)}],
            }
            for name in extra
        ],
    }
    examples = [row for _, row in read_jsonl(config.run_dir / export.rows)][:EXAMPLES]
    model = model_label(run_config)
    source = md_table(
        ["model", "backend", "license", "rows", "split"],
        [[model, run_config.backend or "?", license_note, rows, split]],
    )
    module, name = export.card_body.split(":")
    body = getattr(import_module(module), name)(summary, source, audit, config.run_dir)
    pairs = summary.pairs if isinstance(summary, GenerateStats) else None
    parts = [
        body,
        *([_pairs_text(pairs, extra[PAIRS])] if PAIRS in extra else []),
        "## Example rows\n\n" + "\n".join(pre(row) for row in examples),
        "## Full config\n\n" + pre(yaml.safe_dump(run_config.as_json(), sort_keys=False), cap=20_000),
    ]
    header = "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n"
    write_atomic(config.to / "README.md", header + "\n\n".join(parts) + "\n")
    return license_id


def _taught(run_dir: Any) -> str:
    """Round data of an improve run: which model wrote it (teacher) and which was trained on it."""
    from crescent.train.rounds import data_round

    r = data_round(run_dir)
    if r is None:
        return ""
    kind = "distillation" if r["distillation"] else "self-improvement"
    return (
        f"\n\nRound {r['round']} of a `crescent improve` run ({kind}): teacher `{cell(r['teacher'])}` "
        f"wrote and labelled these rows; student `{cell(r['student'])}` was trained on them."
    )


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{r}: {n}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "—"


def generate_body(stats: GenerateStats, source: str, audit: AuditSummary | None, run_dir: Path) -> str:
    """The card of a generate run's rows (``runs.RUN_KINDS["generate"].export.card_body``)."""
    source += _taught(run_dir)
    bait, vote, config = stats.bait, stats.vote, stats.config
    cleaning = {r: n for r, n in bait.rejected.items() if r not in DEDUP_REASONS}
    dedup = {r: n for r, n in bait.rejected.items() if r in DEDUP_REASONS}
    seeded = stats.from_file
    questions = (
        [
            ["file rows read", bait.attempts, "—"],
            ["accepted", bait.accepted, _reasons(bait.rejected)],
        ]
        if seeded
        else [
            ["bait samples", bait.attempts, "—"],
            ["cleaned", bait.cleaned, _reasons(cleaning)],
            ["accepted (self-dedup)", bait.accepted, _reasons(dedup)],
        ]
    )
    funnel = md_table(
        ["step", "count", "dropped on the way (reason: count)"],
        [
            *questions,
            ["voted", vote.questions, "—"],
            ["kept", vote.kept, _reasons(vote.dropped)],
        ],
    )
    histogram = md_table(["consensus", "questions"], [[k, v] for k, v in vote.consensus_histogram.items()])
    policy = vote.label_policy or {}
    filters = md_table(FILTER_COLUMNS, filter_rows(policy, vote.dropped)) if policy else "Not recorded."
    return "\n\n".join(
        [
            f"# crescent synthetic math data ({vote.kept} rows)",
            _origin(seeded),
            "## Source\n\n" + source + "\n\n" + cell(stats.questions_source()) + ".",
            "## How the rows were made\n\n" + funnel + f"\n\nStopped: {cell(stats.stop_reason)}; "
            f"{stats.tokens_generated} tokens in {stats.wall_s} s ({stats.tokens_per_s} tokens/s); "
            f"{vote.votes_per_question} votes per question, answers extracted from "
            f"{vote.extraction_rate:.0%} of votes.",
            "## Consensus (winning share of the votes)\n\n"
            + histogram
            + f"\n\nMean consensus: {vote.mean_consensus}.",
            "## Reasoning depth\n\n" + _depth_text(stats.export),
            "## Label filters\n\n" + filters + "\n\n" + _audit_text(audit),
            "## Contamination\n\n" + _contamination(config, bait.rejected, seeded),
            "## Columns\n\n`id` (the question's), `question`, `answer` (the voted label), `solution` (a "
            "winning sample), `path` (0 = the label's own solution; with `--paths N` a question has up to N "
            f"rows, one per winning solution whose stated equations differ: {_paths_text(stats)}), "
            "`votes` (answer -> count; a struct over every answer in the split, absent answers null, as "
            "`datasets` reads the run's data.jsonl), `consensus`, `messages` (user/assistant chat for SFT).",
            "## Limitations\n\n"
            "- Labels come from agreement between samples of the same model; agreement is not correctness. "
            "A frequent failure is an answer copied from the question.\n"
            "- Questions are as good as the model that wrote them: they may be ambiguous, unsolvable or "
            "trivial, and they follow the bait prompt's single domain.\n"
            "- Self-deduplication uses the model's own embeddings and one threshold; near-paraphrases can "
            "remain and distinct questions can be dropped.\n"
            "- English only; not reviewed for harmful content.",
        ]
    )


def _depth_text(export: Export) -> str:
    """The kept rows per number of calculation steps, next to each ``--exclude`` benchmark's items when
    the benchmark has solutions: data much shallower than the benchmark can teach a one-step shortcut."""
    histogram = export.depth_histogram
    if histogram is None:
        return "Not recorded (the run was exported by a crescent without depth counts)."
    benchmarks = export.benchmark_depth_histograms or {}
    head = ["steps", "rows", "share"] + [f"{Path(name).name} items (share)" for name in benchmarks]
    rows = [
        [depth, n, _share(n, histogram)]
        + [f"{b[depth]} ({_share(b[depth], b)})" for b in benchmarks.values()]
        for depth, n in histogram.items()
    ]
    against = (
        "the benchmarks it was kept apart from (`--exclude`), counted alike from their reference solutions"
        if benchmarks
        else "the `by_depth` counts of the benchmark a model trained on it is judged by (`crescent eval`)"
    )
    return (
        "Calculation steps in each row's winning solution: the stated equations that hold ('unknown': none "
        f"could be parsed, so the counted steps are a lower bound). Set against {against}.\n\n"
        + md_table(head, rows)
    )


def _share(n: int, histogram: dict[str, int]) -> str:
    total = sum(histogram.values())
    return f"{n / total:.0%}" if total else "—"


def _paths_text(stats: GenerateStats) -> str:
    per_question = stats.export.rows_per_question
    if not per_question:
        return "not recorded for this run"
    spread = ", ".join(f"{n} row{'s' * (n != '1')}: {q}" for n, q in per_question.items())
    return f"--paths {stats.config.paths or 1}; questions by rows: {spread}"


def _pairs_text(recorded: Pairs | None, rows: int) -> str:
    pairs = recorded or Pairs()  # a run from before pairs were counted: every figure unknown
    return (
        f"## Preference pairs (config `pairs`, {rows} rows)\n\n"
        '`load_dataset(REPO, "pairs")` gives TRL\'s conversational preference format: `prompt` (the user '
        "turn), `chosen` (the label's winning solution) and `rejected` (the losing vote with the fewest "
        "votes; votes cut at the token cap or without an answer are never rejected), each a list of chat "
        "messages, plus `weight` = (votes for chosen − votes for rejected) / votes the label rests on, "
        "`id` (the question's, as in the default config), `answer`, `rejected_answer`, `votes_chosen`, "
        "`votes_rejected`, `votes` and `rejected_from` (`votes`, or `probes`: extra solutions at "
        "a higher temperature drawn only for questions every vote agreed on, which never change a label). "
        f"From the votes: {_known(pairs.from_votes)}; from probes: {_known(pairs.from_probes)} "
        f"({pairs.probes_drawn} probes drawn); unanimous questions left without a pair: "
        f"{_known(pairs.unanimous_without_pair)}; mean weight {_known(pairs.mean_weight)}. The "
        "chosen side is the model's own majority, not a verified answer: the pairs teach self-consistency."
    )


def _known(value: Any) -> Any:
    return "?" if value is None else value


def _origin(seeded: bool) -> str:
    if seeded:
        return (
            "Math word problems from a given file (seed-dataset augmentation, the baseline the "
            "[crescent](https://arxiv.org/abs/2502.13441) paper compares against), with step-by-step "
            "solutions written *and* labelled by one language model: majority vote over sampled solutions. "
            "The file's own answers were not used. No person checked these labels; a label is what the "
            "model's samples agreed on, not a verified answer."
        )
    return (
        "Math word problems with step-by-step solutions, written *and* labelled by one language model "
        "alone with [crescent](https://arxiv.org/abs/2502.13441): bait prompt -> self-deduplication by "
        "the model's own embeddings -> majority vote over sampled solutions. No person wrote or checked "
        "these rows; a label is what the model's samples agreed on, not a verified answer."
    )


def _audit_text(audit: AuditSummary | None) -> str:
    if audit is None:
        return (
            "No label audit was given: how often a kept label is right is unmeasured here (run "
            "`crescent audit` on gold-answered questions and export with `--audit DIR`)."
        )
    default, plain = audit.default, audit.plain_majority
    rows: list[list[Any]] = [
        ["configured filters", default.coverage, default.precision, default.precision_ci95],
        ["plain majority vote", plain.coverage, plain.precision, plain.precision_ci95],
    ]
    rows += [
        [f"without {name}", f.coverage_without, f.precision_without, "—"]
        for name, f in audit.by_filter.items()
    ]
    return (
        f"Label audit on {audit.n} gold-answered questions ({audit.votes} votes each): precision = "
        "share of kept labels that equal the gold answer, coverage = share of questions kept.\n\n"
        + md_table(["labelling", "coverage", "precision", "precision 95% CI"], rows)
    )


def _contamination(config: ConfigEcho, rejected: dict[str, int], seeded: bool) -> str:
    exclude = config.exclude or []
    if not exclude:
        return (
            "No `--exclude` file was used: the questions were not checked against any benchmark. Check "
            "them (`crescent contamination`) before evaluating a model trained on them."
        )
    caught = {r: n for r, n in rejected.items() if r.startswith("excluded_")}
    how = (
        "copied or shared a 13-gram with"  # a file source builds no embedding space to compare in
        if seeded
        else f"copied, shared a 13-gram with, or embedded within the dedup threshold "
        f"({config.dedup_threshold}) of"
    )
    return (
        f"Candidates were rejected when they {how} a question in: "
        + ", ".join(f"`{cell(p)}`" for p in exclude)
        + f". Rejected that way: {_reasons(caught)}. Only these files were checked."
    )


def eval_body(results: EvalResults, source: str, audit: AuditSummary | None, run_dir: Path) -> str:
    """The card of an eval run's predictions (``runs.RUN_KINDS["eval"].export.card_body``)."""
    config = results.config
    metric = results.metric  # humaneval: pass@1
    by_depth = results.by_depth
    depth_table = (
        md_table(["steps", "items", "accuracy", "95% CI (Wilson)"], depth_rows(by_depth))
        if by_depth
        else "Not recorded (run `crescent eval rescore` on the eval folder)."
    )
    scores = md_table(
        [*score_columns(metric, "95% CI (Wilson)"), "temperature"],
        [[*score_cells(results), results.temperature]],
    )
    return "\n\n".join(
        [
            f"# crescent eval predictions: {metric} {results.accuracy:.2%} on {results.n} items",
            "Every prompt, sampled output, extracted answer, gold answer and verdict of one "
            f"`crescent eval` run on `{cell(config.data or '?')}`.",
            "## Source\n\n" + source,
            "## Score\n\n" + scores,
            "## Accuracy by reasoning depth\n\nCalculation steps of each item's reference solution "
            "('unknown': no solution to count).\n\n" + depth_table,
            "## Columns\n\n`id`, `question`, `prompt` (chat messages), `outputs`, `answers` (extracted per "
            "output), `finish_reasons`, `prediction` (majority answer), `gold`, `depth` (calculation "
            "steps of the reference solution), `correct`, `consensus`, `votes`, `tokens`.",
            "## Limitations\n\n"
            "- One run: the interval covers sampling of items, not variation between runs or prompts.\n"
            "- Answers are extracted by rules (explicit marker, then \\boxed{}, then last number) and "
            "compared mathematically; an answer stated another way may count as wrong.\n"
            "- Outputs are raw model text (capped), not reviewed.",
        ]
    )
