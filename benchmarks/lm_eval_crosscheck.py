"""Cross-check ``crescent eval`` against EleutherAI's lm-evaluation-harness: same weights, same items.

    .venv/bin/python benchmarks/lm_eval_crosscheck.py [--n 100] [--task crescent_gsm8k]

Both sides decode greedily with the embedded SmolLM2 GGUF on the first N GSM8K test items, 0-shot:
(a) lm-eval, through a local task YAML (benchmarks/lm_eval_task/) and its ``local-chat-completions``
model talking to llama-cpp-python's server on 127.0.0.1 (started by tests/backends/llama_server.py,
which turns off the llama.cpp weight repacking that crashes on this CPU); (b) ``crescent eval`` in a
subprocess. Every item on which the verdicts differ is classified by a counterfactual:

* extraction: judging crescent's own output text with lm-eval's filter and metric already gives a
  different verdict from crescent's, so the same text would be judged differently;
* prompt: otherwise (the different texts are what matters), and the two prompts differed;
* generation: otherwise; identical prompts, different generated text.

Greedy decoding is deterministic per engine setup, not across setups. Three things change the floats
enough to flip near-tied tokens of a 135M model: flash attention on one side and not the other
(crescent's decoder turns it off; the committed figures date from when it was on); crescent decodes
several items per batch; and the server keeps the KV cells of the previous request's common prefix
(system prompt + instruction) and evaluates only the rest of each prompt. ``--setup matched``
(default) removes the first two (server ``--flash_attn false``, crescent ``--batch-size 1``); the
third has no switch. ``--setup defaults`` keeps each tool's defaults. Either way, judging each
side's text with the other side's judge separates extraction from generation exactly.

Writes benchmarks/results/lm_eval_crosscheck.json; docs/eval.md explains the differences.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TASK_DIR = ROOT / "benchmarks" / "lm_eval_task"
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "gsm8k" / "test.jsonl"
RESULT = ROOT / "benchmarks" / "results" / "lm_eval_crosscheck.json"
FILTERS = ("strict-match", "flexible-extract")
TEXT_CAP = 1500  # model output is untrusted and long: the JSON keeps a bounded excerpt
# llama-cpp-python's server penalises repeats (1.1) by default; crescent's sampler does not, and a
# penalty changes even greedy output, so lm-eval's requests ask for none.
SERVER_GEN_KWARGS = {"repeat_penalty": 1.0}

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # the task reads a local file: never reach the hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _server_module() -> Any:
    path = ROOT / "tests" / "backends" / "llama_server.py"
    spec = importlib.util.spec_from_file_location("llama_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def task_config(task: str, data: Path) -> dict[str, Any]:
    """The task YAML as lm-eval reads it, with its data file pointed at ``data`` (absolute)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(TASK_DIR / f"{task}.yaml")
    config["dataset_kwargs"]["data_files"] = {"test": str(data.resolve())}
    return config


Samples = dict[tuple[int, str], dict[str, Any]]  # (doc position, filter name) -> lm-eval's sample log


SETUPS = {  # (extra llama_cpp.server flags, crescent eval --batch-size)
    "matched": (("--flash_attn", "false"), 1),  # as crescent's decoder (backends/llamacpp_batch.py)
    "defaults": ((), 16),
}


def run_lm_eval(
    config: dict[str, Any], n: int, work: Path, server_args: tuple[str, ...]
) -> tuple[Samples, float]:
    """lm-eval's logged samples, and its wall time (server start included)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from crescent.models import default_model_path

    started = time.perf_counter()
    server = _server_module().running_server(
        default_model_path(), work / "llama_server.log", extra_args=server_args
    )
    with server as url:
        output = lm_eval.simple_evaluate(
            model="local-chat-completions",
            model_args={
                "model": "smollm2",
                "base_url": f"{url}/chat/completions",
                "num_concurrent": 1,
                "max_retries": 2,
                "tokenized_requests": False,
                "timeout": 900,
            },
            tasks=[config],
            task_manager=TaskManager(),
            limit=n,
            apply_chat_template=True,
            gen_kwargs=dict(SERVER_GEN_KWARGS),
            log_samples=True,
            bootstrap_iters=0,
            use_cache=str(work / f"lm_eval_cache_{config['task']}_{'_'.join(server_args) or 'default'}"),
        )
    assert output is not None
    samples = {(int(s["doc_id"]), s["filter"]): s for s in output["samples"][config["task"]]}
    return samples, time.perf_counter() - started


def run_crescent(
    data: Path, n: int, max_tokens: int, batch_size: int, work: Path
) -> tuple[list[dict[str, Any]], float]:
    """``crescent eval`` in a subprocess, as a user runs it; resumable, so a larger --n reuses items."""
    out = work / f"crescent_eval_{data.stem}_max{max_tokens}_batch{batch_size}"
    command = [
        sys.executable,
        "-m",
        "crescent",
        "eval",
        "--data",
        str(data),
        "--limit",
        str(n),
        "--out",
        str(out),
        "--threads",
        "1",
        "--max-tokens",
        str(max_tokens),
        "--batch-size",
        str(batch_size),
        "--quiet",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return rows, time.perf_counter() - started


class LmEvalJudge:
    """lm-eval's verdict on any text: the task's own filter chain and exact_match settings."""

    def __init__(self, config: dict[str, Any]) -> None:
        from lm_eval.api.metrics import exact_match_hf_evaluate
        from lm_eval.filters.extraction import RegexFilter

        self._metric = exact_match_hf_evaluate
        (metric,) = [m for m in config["metric_list"] if m["metric"] == "exact_match"]
        keys = ("regexes_to_ignore", "ignore_case", "ignore_punctuation")
        self.metric_kwargs = {k: metric[k] for k in keys}
        self.filters: dict[str, Any] = {}
        for entry in config["filter_list"]:
            (regex,) = [f for f in entry["filter"] if f["function"] == "regex"]
            self.filters[entry["name"]] = RegexFilter(regex["regex_pattern"], regex.get("group_select", 0))

    def extract(self, name: str, text: str) -> str:
        return self.filters[name].apply([[text]], [{}])[0][0]

    def correct(self, name: str, text: str, target: str) -> bool:
        score = self._metric([self.extract(name, text)], [target], **self.metric_kwargs)["exact_match"]
        return bool(score == 1.0)


def lm_eval_messages(sample: dict[str, Any]) -> list[dict[str, str]]:
    """The chat lm-eval sent: the request's first argument, the message list as a JSON string.

    API models wrap that string in a one-field tuple (``JsonChatStr``), logged as a list.
    """
    context = sample["arguments"][0][0]
    return json.loads(context[0] if isinstance(context, list | tuple) else context)


def compare(config: dict[str, Any], samples: Samples, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per item: both verdicts under every judge, and why they differ where they do."""
    from crescent.answers import answers_equal, extract_answer

    judge = LmEvalJudge(config)
    items = []
    for position, row in enumerate(rows):
        first = samples[(position, FILTERS[0])]
        lm_text, c_text, target = first["resps"][0][0], row["outputs"][0], str(first["target"])
        item: dict[str, Any] = {
            "id": row["id"],
            "gold": row["gold"],
            "same_prompt": lm_eval_messages(first) == row["prompt"],
            "same_text": lm_text.strip() == c_text.strip(),
            "first_difference_char": _first_difference(c_text, lm_text),
            "crescent": {
                "answer": row["prediction"],
                "correct": row["correct"],
                "judged_by_lm_eval": {f: judge.correct(f, c_text, target) for f in FILTERS},
            },
            "lm_eval": {"judged_by_crescent": answers_equal(row["gold"], extract_answer(lm_text))},
            "texts": {"crescent": c_text[:TEXT_CAP], "lm_eval": lm_text[:TEXT_CAP]},
        }
        for name in FILTERS:
            sample = samples[(position, name)]
            reported = bool(sample["exact_match"])
            item["lm_eval"][name] = {
                "answer": sample["filtered_resps"][0],
                "correct": reported,
                "reproduced": judge.correct(name, lm_text, target) == reported,  # LmEvalJudge is faithful
            }
            item[f"reason_vs_{name}"] = _reason(item, name)
        items.append(item)
    return items


def _first_difference(a: str, b: str) -> int | None:
    """Where two outputs part (None when equal): early = the prompts or numerics differ from the start."""
    if a == b:
        return None
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _reason(item: dict[str, Any], name: str) -> str | None:
    """None when both agree; otherwise the counterfactual class described in the module docstring."""
    crescent_ok = item["crescent"]["correct"]
    if crescent_ok == item["lm_eval"][name]["correct"]:
        return None
    if item["crescent"]["judged_by_lm_eval"][name] != crescent_ok:
        return "extraction"
    return "generation" if item["same_prompt"] else "prompt"


def summarize(items: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(items)

    def rate(values: list[bool]) -> float:
        return round(sum(values) / n, 4)

    summary: dict[str, Any] = {
        "n": n,
        "accuracy": {
            "crescent": rate([i["crescent"]["correct"] for i in items]),
            **{f"lm_eval_{f}": rate([i["lm_eval"][f]["correct"] for i in items]) for f in FILTERS},
        },
        # Each judge applied to each side's text: separates judging from generating.
        "cross_judged_accuracy": {
            "crescent_judge_on_lm_eval_text": rate([i["lm_eval"]["judged_by_crescent"] for i in items]),
            **{
                f"lm_eval_{f}_on_crescent_text": rate([i["crescent"]["judged_by_lm_eval"][f] for i in items])
                for f in FILTERS
            },
        },
        "same_prompt": sum(i["same_prompt"] for i in items),
        "same_text": sum(i["same_text"] for i in items),
        "lm_eval_verdicts_reproduced": sum(i["lm_eval"][f]["reproduced"] for i in items for f in FILTERS),
    }
    for name in FILTERS:
        reasons = [i[f"reason_vs_{name}"] for i in items if i[f"reason_vs_{name}"]]
        summary[f"disagreements_vs_{name}"] = {
            "total": len(reasons),
            **{r: reasons.count(r) for r in ("extraction", "prompt", "generation")},
        }
    return summary


def print_report(summary: dict[str, Any], items: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    acc = summary["accuracy"]
    console.print(
        f"n={summary['n']}  crescent {acc['crescent']:.1%}  lm-eval strict {acc['lm_eval_strict-match']:.1%}"
        f"  flexible {acc['lm_eval_flexible-extract']:.1%}  (same prompt {summary['same_prompt']},"
        f" same text {summary['same_text']})",
        highlight=False,
    )
    table = Table(title="items where the verdicts differ", title_justify="left")
    for column in ("id", "gold", "crescent", "strict", "flexible", "vs strict", "vs flexible"):
        table.add_column(column, no_wrap=column == "id")
    for item in items:
        if not (item["reason_vs_strict-match"] or item["reason_vs_flexible-extract"]):
            continue
        c, lm = item["crescent"], item["lm_eval"]
        cells = [
            f"{escape(str(x['answer']))[:20]} {'✓' if x['correct'] else '✗'}"
            for x in (c, lm["strict-match"], lm["flexible-extract"])
        ]
        table.add_row(
            escape(item["id"]),
            escape(item["gold"]),
            *cells,
            item["reason_vs_strict-match"] or "",
            item["reason_vs_flexible-extract"] or "",
        )
    console.print(table)
    for name in FILTERS:
        console.print(f"disagreements vs {name}: {summary[f'disagreements_vs_{name}']}", highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100, help="first N items of --data")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="GSM8K-style JSONL")
    parser.add_argument("--task", default="crescent_gsm8k", help="a YAML name in benchmarks/lm_eval_task/")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--setup", choices=sorted(SETUPS), default="matched", help="see the module docstring")
    work = Path(tempfile.gettempdir()) / "crescent_lm_eval_crosscheck"
    parser.add_argument("--work", type=Path, default=work, help="crescent eval dir (resumed) and server log")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    config = task_config(args.task, args.data)
    config["generation_kwargs"]["max_gen_toks"] = args.max_tokens
    server_args, batch_size = SETUPS[args.setup]
    rows, crescent_s = run_crescent(args.data, args.n, args.max_tokens, batch_size, args.work)
    samples, lm_eval_s = run_lm_eval(config, args.n, args.work, server_args)
    items = compare(config, samples, rows)
    summary = summarize(items)
    print_report(summary, items)
    result = {
        "summary": summary,
        "setup": {
            "task": args.task,
            "data": str(args.data),
            "n": args.n,
            "max_tokens": args.max_tokens,
            "setup": args.setup,
            "server_args": list(server_args),
            "crescent_batch_size": batch_size,
            "decoding": "greedy, 0-shot, llama.cpp threads=1",
            "lm_eval_model": "local-chat-completions",
            "server_gen_kwargs": SERVER_GEN_KWARGS,
            "wall_s": {"crescent": round(crescent_s, 1), "lm_eval": round(lm_eval_s, 1)},
        },
        "items": items,
    }
    for item in items:  # keep the (capped) texts only where the verdicts differ
        if not (item["reason_vs_strict-match"] or item["reason_vs_flexible-extract"]):
            del item["texts"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
