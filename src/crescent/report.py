"""``report.html`` for ``crescent improve``: accuracy per round with CIs, consensus, loss, sample data.

Plots are matplotlib PNGs inlined as base64 so the report is one self-contained
file. Every piece of model text is HTML-escaped and length-capped: it is
untrusted output.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

from crescent.config import ImproveConfig
from crescent.store import write_atomic

SAMPLE_ROWS = 5
MAX_TEXT = 1200


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _plots(rounds: list[dict[str, Any]]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    fig, ax = plt.subplots(figsize=(5, 3.2))
    xs = [r["round"] for r in rounds]
    acc = [r["eval"]["accuracy"] for r in rounds]
    low = [a - r["eval"]["ci95"][0] for a, r in zip(acc, rounds, strict=True)]
    high = [r["eval"]["ci95"][1] - a for a, r in zip(acc, rounds, strict=True)]
    ax.errorbar(xs, acc, yerr=[low, high], marker="o", capsize=4)
    ax.set(xlabel="round", ylabel="accuracy", title="Accuracy per round (95% Wilson CI)", xticks=xs)
    images.append(("Accuracy per round", _png(fig)))
    plt.close(fig)

    with_data = [r for r in rounds if "data" in r]
    if with_data:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for r in with_data:
            hist = r["data"]["consensus_histogram"]
            ax.plot(list(hist), list(hist.values()), marker="o", label=f"round {r['round']}")
        ax.set(xlabel="consensus (winning share of votes)", ylabel="questions", title="Consensus histogram")
        ax.tick_params(axis="x", rotation=60)
        ax.legend()
        images.append(("Consensus histogram", _png(fig)))
        plt.close(fig)

    with_train = [r for r in rounds if r.get("train", {}).get("loss_curve")]
    if with_train:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for r in with_train:
            curve = r["train"]["loss_curve"]
            ax.plot([p["step"] for p in curve], [p["loss"] for p in curve], label=f"round {r['round']}")
        ax.set(xlabel="step", ylabel="training loss", title="Loss curve")
        ax.legend()
        images.append(("Loss curve", _png(fig)))
        plt.close(fig)
    return images


def _cell(value: Any) -> str:
    return html.escape(str(value)[:MAX_TEXT])


def _table(rounds: list[dict[str, Any]]) -> str:
    head = (
        "<tr><th>round</th><th>accuracy</th><th>95% CI</th><th>n</th><th>kept rows</th>"
        "<th>final loss</th><th>Δ vs round 0 [95% CI]</th><th>McNemar p</th></tr>"
    )
    body = []
    for r in rounds:
        vs = r.get("vs_round_0")
        delta = (
            f"{vs['difference']:+.3f} [{vs['difference_ci95'][0]:+.3f}, {vs['difference_ci95'][1]:+.3f}]"
            if vs
            else "—"
        )
        body.append(
            "<tr>"
            + "".join(
                f"<td>{_cell(x)}</td>"
                for x in (
                    r["round"],
                    f"{r['eval']['accuracy']:.3f}",
                    f"[{r['eval']['ci95'][0]:.3f}, {r['eval']['ci95'][1]:.3f}]",
                    r["eval"]["n"],
                    r.get("data", {}).get("rows", "—"),
                    r.get("train", {}).get("final_loss", "—"),
                    delta,
                    vs["mcnemar_p"] if vs else "—",
                )
            )
            + "</tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _samples(config: ImproveConfig, rounds: list[dict[str, Any]]) -> str:
    parts = []
    for r in rounds:
        data = config.out / f"round-{r['round']}" / "data" / "data.jsonl"
        if not data.exists():
            continue
        rows = [json.loads(line) for line in data.read_text().splitlines()[:SAMPLE_ROWS]]
        items = "".join(
            f"<li><p><b>Q:</b> {_cell(row['question'])}</p><pre>{_cell(row['solution'])}</pre>"
            f"<p>answer {_cell(row['answer'])}, consensus {_cell(row['consensus'])}</p></li>"
            for row in rows
        )
        parts.append(f"<h3>Round {r['round']}: first {len(rows)} generated rows</h3><ol>{items}</ol>")
    return "".join(parts)


def write_report(config: ImproveConfig, rounds: list[dict[str, Any]]) -> Any:
    images = "".join(
        f"<figure><img alt='{html.escape(t)}' src='{src}'><figcaption>{html.escape(t)}</figcaption></figure>"
        for t, src in _plots(rounds)
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>crescent improve report</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}figure{{display:inline-block;margin:8px}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:6px}}</style></head><body>
<h1>crescent improve</h1>
<p>model: {_cell(config.model or "embedded SmolLM2-135M-Instruct")}; student: {_cell(config.student or "—")};
rounds: {config.rounds}; questions/round: {config.generate.questions}; votes: {config.generate.votes};
eval: {_cell(config.eval.data)} (limit {_cell(config.eval.limit)}, {config.eval.shots}-shot)</p>
{_table(rounds)}
{images}
<h2>Sample data (model text, escaped)</h2>
{_samples(config, rounds)}
</body></html>
"""
    path = config.out / "report.html"
    write_atomic(path, page)
    return path
