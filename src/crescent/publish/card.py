"""The dataset card (README.md): Hub metadata, then what made the rows and how far to trust them.

Everything comes from the run's own records (``stats.json`` or ``results.json``, an optional audit), so
the card cannot drift from the data. Model text only appears escaped, capped and inside ``<pre>``.
"""

from __future__ import annotations

import html
import json
from typing import Any

import yaml

from crescent.config import ExportConfig
from crescent.publish.dataset import ROW_FILES, SPLITS, data_file
from crescent.publish.license import UNKNOWN, model_license
from crescent.runs import SUMMARY_FILES, model_label, read_json, read_jsonl
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


def write_card(config: ExportConfig, kind: str, rows: int, audit: dict[str, Any] | None) -> str:
    """Write ``config.to/README.md``; returns the license identifier it states."""
    summary = read_json(config.run_dir / SUMMARY_FILES[kind])
    run_config = summary.get("config", {})
    inherited = model_license(run_config.get("model"), run_config.get("backend", "llamacpp"))
    license_id = config.license or inherited or UNKNOWN
    if config.license:
        license_note = f"{license_id}, given with --license"
    elif inherited:
        license_note = f"{license_id}, inherited from the model that wrote the rows"
    else:
        license_note = "unknown (the model's license could not be determined): re-export with --license ID"
    split = SPLITS[kind]
    meta = {
        "license": license_id,
        "language": ["en"],
        "task_categories": ["question-answering", "text-generation"],
        "tags": ["synthetic", "math", "crescent"] + (["evaluation"] if kind == "eval" else []),
        "size_categories": [size_category(rows)],
        "pretty_name": f"crescent {kind}: {config.run_dir.name}",
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": data_file(split, config.format)}],
            }
        ],
    }
    examples = read_jsonl(config.run_dir / ROW_FILES[kind])[:EXAMPLES]
    model = model_label(run_config)
    source = md_table(
        ["model", "backend", "license", "rows", "split"],
        [[model, run_config.get("backend", "?"), license_note, rows, split]],
    )
    body = _generate_body(summary, audit, source) if kind == "generate" else _eval_body(summary, source)
    parts = [
        body,
        "## Example rows\n\n" + "\n".join(pre(row) for row in examples),
        "## Full config\n\n" + pre(yaml.safe_dump(run_config, sort_keys=False), cap=20_000),
    ]
    header = "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n"
    write_atomic(config.to / "README.md", header + "\n\n".join(parts) + "\n")
    return license_id


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{r}: {n}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "—"


def _generate_body(stats: dict[str, Any], audit: dict[str, Any] | None, source: str) -> str:
    bait, vote, config = stats["bait"], stats["vote"], stats.get("config", {})
    cleaning = {r: n for r, n in bait["rejected"].items() if r not in DEDUP_REASONS}
    dedup = {r: n for r, n in bait["rejected"].items() if r in DEDUP_REASONS}
    funnel = md_table(
        ["step", "count", "dropped on the way (reason: count)"],
        [
            ["bait samples", bait["attempts"], "—"],
            ["cleaned", bait["cleaned"], _reasons(cleaning)],
            ["accepted (self-dedup)", bait["accepted"], _reasons(dedup)],
            ["voted", vote["questions"], "—"],
            ["kept", vote["kept"], _reasons(vote["dropped"])],
        ],
    )
    histogram = md_table(["consensus", "questions"], [[k, v] for k, v in vote["consensus_histogram"].items()])
    policy = vote.get("label_policy") or {}
    filters = (
        md_table(["filter", "value"], [[k, v] for k, v in policy.items()]) if policy else "Not recorded."
    )
    return "\n\n".join(
        [
            f"# crescent synthetic math data ({vote['kept']} rows)",
            "Math word problems with step-by-step solutions, written *and* labelled by one language model "
            "alone with [crescent](https://arxiv.org/abs/2502.13441): bait prompt -> self-deduplication by "
            "the model's own embeddings -> majority vote over sampled solutions. No person wrote or checked "
            "these rows; a label is what the model's samples agreed on, not a verified answer.",
            "## Source\n\n" + source,
            "## How the rows were made\n\n" + funnel + f"\n\nStopped: {cell(stats['stop_reason'])}; "
            f"{stats['tokens_generated']} tokens in {stats['wall_s']} s ({stats['tokens_per_s']} tokens/s); "
            f"{vote['votes_per_question']} votes per question, answers extracted from "
            f"{vote['extraction_rate']:.0%} of votes.",
            "## Consensus (winning share of the votes)\n\n"
            + histogram
            + f"\n\nMean consensus: {vote['mean_consensus']}.",
            "## Label filters\n\n" + filters + "\n\n" + _audit_text(audit),
            "## Contamination\n\n" + _contamination(config, bait["rejected"]),
            "## Columns\n\n`id`, `question`, `answer` (the voted label), `solution` (one winning sample), "
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


def _audit_text(audit: dict[str, Any] | None) -> str:
    if audit is None:
        return (
            "No label audit was given: how often a kept label is right is unmeasured here (run "
            "`crescent audit` on gold-answered questions and export with `--audit DIR`)."
        )
    default, plain = audit["default"], audit["plain_majority"]
    rows = [
        ["configured filters", default["coverage"], default["precision"], default.get("precision_ci95")],
        ["plain majority vote", plain["coverage"], plain["precision"], plain.get("precision_ci95")],
    ]
    rows += [
        [f"without {name}", f["coverage_without"], f["precision_without"], "—"]
        for name, f in audit.get("by_filter", {}).items()
    ]
    return (
        f"Label audit on {audit['n']} gold-answered questions ({audit['votes']} votes each): precision = "
        "share of kept labels that equal the gold answer, coverage = share of questions kept.\n\n"
        + md_table(["labelling", "coverage", "precision", "precision 95% CI"], rows)
    )


def _contamination(config: dict[str, Any], rejected: dict[str, int]) -> str:
    exclude = config.get("exclude") or []
    if not exclude:
        return (
            "No `--exclude` file was used: the questions were not checked against any benchmark. Check "
            "them (`crescent contamination`) before evaluating a model trained on them."
        )
    caught = {r: n for r, n in rejected.items() if r.startswith("excluded_")}
    return (
        "Candidates were rejected when they copied, shared a 13-gram with, or embedded within the dedup "
        f"threshold ({config.get('dedup_threshold')}) of a question in: "
        + ", ".join(f"`{cell(p)}`" for p in exclude)
        + f". Rejected that way: {_reasons(caught)}. Only these files were checked."
    )


def _eval_body(results: dict[str, Any], source: str) -> str:
    config = results.get("config", {})
    low, high = results["ci95"]
    metric = results.get("metric", "accuracy")  # humaneval: pass@1
    scores = md_table(
        ["n", "correct", metric, "95% CI (Wilson)", "no answer", "votes", "shots", "temperature"],
        [
            [
                results["n"],
                results["correct"],
                f"{results['accuracy']:.2%}",
                f"[{low:.2%}, {high:.2%}]",
                f"{results['extraction_failure_rate']:.2%}",
                results.get("votes", 1),
                len(results.get("shots", [])),
                results.get("temperature"),
            ]
        ],
    )
    return "\n\n".join(
        [
            f"# crescent eval predictions: {metric} {results['accuracy']:.2%} on {results['n']} items",
            "Every prompt, sampled output, extracted answer, gold answer and verdict of one "
            f"`crescent eval` run on `{cell(config.get('data', '?'))}`.",
            "## Source\n\n" + source,
            "## Score\n\n" + scores,
            "## Columns\n\n`id`, `question`, `prompt` (chat messages), `outputs`, `answers` (extracted per "
            "output), `finish_reasons`, `prediction` (majority answer), `gold`, `correct`, `consensus`, "
            "`votes`, `tokens`.",
            "## Limitations\n\n"
            "- One run: the interval covers sampling of items, not variation between runs or prompts.\n"
            "- Answers are extracted by rules (explicit marker, then \\boxed{}, then last number) and "
            "compared mathematically; an answer stated another way may count as wrong.\n"
            "- Outputs are raw model text (capped), not reviewed.",
        ]
    )
