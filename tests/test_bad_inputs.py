"""Every bad input is one line on stderr, names what is wrong, exits non-zero and changes nothing.

One matrix over generate, eval, train, contamination, improve, report and export (fake backend; train
fails before any model loads), with the commands that write where they are told (export, report, eval
compare). The line never names a Python class or suggests --debug: these are the user's mistakes or the
world's (a server down, a damaged file), not crescent's bugs. Earlier runs of each command sit in the same
folder, and every case checks that no file of theirs changed and that no new file or folder appeared: a
failed command leaves no trace. ``{R}/locked`` is held by this process, as if another command were
writing it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_runner import exit_code, run_cli

from crescent.locking import LOCK_NAME, hold_folder
from crescent.models import default_model_path

GOOD_BENCH = [
    {"question": "Ava has 3 apples and buys 5 more. How many apples does Ava have now?", "answer": "8"},
    {"question": "Ben has 4 coins and finds 7 more. How many coins does Ben have now?", "answer": "11"},
]
CHAT = {"messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]}


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Input files good and bad, and one finished run of each command, made once for the matrix."""
    root = tmp_path_factory.mktemp("inputs")
    _jsonl(root / "bench.jsonl", GOOD_BENCH)
    _jsonl(root / "shots.jsonl", [{"question": "2+2?", "solution": "2+2=4. The answer is 4."}] * 3)
    _jsonl(root / "chat.jsonl", [CHAT, CHAT])
    (root / "latin1.jsonl").write_bytes(b'{"question": "ok", "answer": "1"}\n{"question": "caf\xe9"}\n')
    (root / "latin1shots.jsonl").write_bytes(
        b'{"question": "1+1?", "solution": "2"}\n{"question": "caf\xe9"}\n'
    )
    (root / "latin1chat.jsonl").write_bytes(json.dumps(CHAT).encode() + b'\n{"messages": "caf\xe9"}\n')
    _jsonl(root / "badjson.jsonl", [GOOD_BENCH[0], GOOD_BENCH[1], '{"question": "x",'])
    _jsonl(root / "noquestion.jsonl", [{"text": "hello"}])
    _jsonl(root / "noanswer.jsonl", [{"question": "What is 2+2?"}])
    _jsonl(root / "dupid.jsonl", [{**GOOD_BENCH[0], "id": "a"}, {**GOOD_BENCH[1], "id": "a"}])
    _jsonl(root / "notobject.jsonl", [[1, 2]])
    _jsonl(root / "qnumber.jsonl", [{"question": 12}])
    _jsonl(root / "nomessages.jsonl", [{"question": "x"}])
    _jsonl(root / "userlast.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    _jsonl(root / "badrole.jsonl", [{"messages": [{"role": "bot", "content": "hi"}]}])
    (root / "empty.jsonl").write_text("")
    (root / "afile").write_text("not a folder")
    (root / "adir.jsonl").mkdir()
    (root / "foreign").mkdir()
    (root / "foreign" / "notes.txt").write_text("precious")
    (root / "bad.yaml").write_text("questions: [1, 2\nvotes: 3\n")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "unknown.yaml").write_text("questionz: 3\n")
    (root / "latin1.yaml").write_bytes(b"votes: 3\nbait_prompt: caf\xe9\n")
    (root / "dataset" / "data").mkdir(parents=True)  # a dataset folder crescent did not export
    (root / "dataset" / "README.md").write_text("# my dataset\n")
    (root / "dataset" / "data" / "train.jsonl").write_text('{"x": 1}\n')
    (root / "booltrue.yaml").write_text("max_attempts: true\n")
    (root / "dupkey.yaml").write_text("votes: 3\nvotes: 5\n")
    (root / "improvelist.yaml").write_text(f"generate: [1, 2]\neval: {{data: {root}/bench.jsonl}}\n")
    (root / "improvenull.yaml").write_text(f"train: null\neval: {{data: {root}/bench.jsonl}}\n")
    _jsonl(root / "answerlist.jsonl", [{"question": "How many?", "answer": [18, 3]}])
    _jsonl(root / "answerdict.jsonl", [GOOD_BENCH[0], {"question": "How many?", "answer": {"n": 18}}])
    _jsonl(root / "answerbool.jsonl", [{"question": "Is it?", "answer": True}])
    _jsonl(root / "answernan.jsonl", ['{"question": "How many?", "answer": NaN}'])
    with default_model_path().open("rb") as whole:  # a download cut short
        (root / "trunc.gguf").write_bytes(whole.read(100_000))
    quiet = ["--backend", "fake", "--quiet"]
    for argv in (
        ["generate", *quiet, "--questions", "4", "--votes", "3", "--out", str(root / "gen")],
        ["eval", *quiet, "--data", str(root / "bench.jsonl"), "--out", str(root / "ev")],
        ["contamination", "--data", str(root / "gen" / "data.jsonl"), "--against", str(root / "bench.jsonl"),
         "--no-embeddings", "--quiet", "--out", str(root / "co")],
    ):  # fmt: skip
        assert exit_code(argv) == 0, argv
    damaged = root / "damaged"  # a finished run whose store was overwritten
    shutil.copytree(root / "gen", damaged)
    for leftover in damaged.glob("run.sqlite-*"):
        leftover.unlink()
    (damaged / "run.sqlite").write_bytes(b"this is not a database " * 200)
    with hold_folder(root / "locked"):
        yield root


GEN = ["generate", "--backend", "fake", "--quiet", "--questions", "4", "--votes", "3"]
EVAL = ["eval", "--backend", "fake", "--quiet"]
TRAIN = ["train", "--quiet", "--max-steps", "1"]
CONTAM = ["contamination", "--quiet", "--no-embeddings"]
EXPORT = ["export", "{R}/gen", "--format", "jsonl"]
O1, O2, O3, O4, O5 = (["--out", f"{{R}}/n{i}"] for i in range(1, 6))  # new folders that must stay absent
OPENAI = ["generate", "--backend", "openai", "--quiet", "--questions", "2", "--votes", "1", "--retries", "0"]

# (id, argv with {R} for the inputs folder, words the one line must hold)
CASES: list[tuple[str, list[str], list[str]]] = [
    # generate
    ("gen-exclude-missing", [*GEN, "--exclude", "{R}/nope.jsonl", *O1], ["nope.jsonl", "not found"]),
    ("gen-exclude-latin1", [*GEN, "--exclude", "{R}/latin1.jsonl", *O1], ["latin1.jsonl:2", "UTF-8"]),
    ("gen-exclude-badjson", [*GEN, "--exclude", "{R}/badjson.jsonl", *O1], ["badjson.jsonl:3", "JSON"]),
    ("gen-exclude-noquestion", [*GEN, "--exclude", "{R}/noquestion.jsonl", *O1],
     ["noquestion.jsonl:1", "question"]),
    ("gen-exclude-empty", [*GEN, "--exclude", "{R}/empty.jsonl", *O1], ["empty.jsonl", "no rows"]),
    ("gen-exclude-dir", [*GEN, "--exclude", "{R}/adir.jsonl", *O1], ["adir.jsonl"]),
    ("gen-exclude-markup", [*GEN, "--exclude", "{R}/[/x]q.jsonl", *O1], ["[/x]q.jsonl"]),
    ("gen-exclude-bold", [*GEN, "--exclude", "{R}/[bold]q.jsonl", *O1], ["[bold]q.jsonl"]),
    ("gen-config-missing", [*GEN, "--config", "{R}/nope.yaml", *O1], ["nope.yaml", "not found"]),
    ("gen-config-malformed", [*GEN, "--config", "{R}/bad.yaml", *O1], ["bad.yaml", "line"]),
    ("gen-config-list", [*GEN, "--config", "{R}/list.yaml", *O1], ["list.yaml", "mapping"]),
    ("gen-config-unknown", [*GEN, "--config", "{R}/unknown.yaml", *O1], ["questionz"]),
    ("gen-config-latin1", [*GEN, "--config", "{R}/latin1.yaml", *O1], ["latin1.yaml:2", "UTF-8"]),
    ("gen-questions-zero", [*GEN, "--questions", "0", *O1], ["questions"]),
    ("gen-questions-absurd", [*GEN, "--questions", "1000000000", *O1], ["questions", "100,000"]),
    ("gen-questions-not-int", [*GEN, "--questions", "many", *O1], ["--questions"]),
    ("gen-unknown-option", [*GEN, "--questionz", "3", *O1], ["--questionz"]),
    ("gen-votes-zero", [*GEN, "--votes", "0", *O1], ["votes"]),
    ("gen-threshold", [*GEN, "--dedup-threshold", "7", *O1], ["dedup_threshold"]),
    ("gen-attempts", [*GEN, "--max-attempts", "2", *O1], ["max_attempts"]),
    ("gen-workers-local", [*GEN, "--workers", "3", *O1], ["--workers", "--executor ray"]),
    ("gen-address-local", [*GEN, "--address", "auto", *O1], ["--address", "--executor ray"]),
    ("gen-out-file", [*GEN, "--out", "{R}/afile"], ["afile", "is a file"]),
    ("gen-out-foreign", [*GEN, "--out", "{R}/foreign"], ["foreign", "not empty"]),
    ("gen-out-eval-run", [*GEN, "--out", "{R}/ev"], ["ev", "'eval' run"]),
    ("gen-out-unwritable", [*GEN, "--out", "/proc/crescent-test-run"], ["/proc/crescent-test-run"]),
    ("gen-openai-no-url", ["generate", "--backend", "openai", "--quiet", *O1], ["--base-url"]),
    ("gen-openai-bad-url", ["generate", "--backend", "openai", "--base-url", "ftp://x", *O1],
     ["ftp://x", "--base-url"]),
    ("gen-fake-model-typo", [*GEN, "--model", "dealy=1", *O1], ["dealy"]),
    ("gen-gguf-missing", ["generate", "--quiet", "--model", "{R}/no[/b]pe.gguf", *O1],
     ["no[/b]pe.gguf", "not found"]),
    ("gen-gguf-not-gguf", ["generate", "--quiet", "--model", "{R}/bench.jsonl", *O1],
     ["bench.jsonl", "not a GGUF"]),
    ("gen-empty-prompt", [*GEN, "--bait-prompt", "", *O1], ["bait_prompt"]),
    ("gen-rerun-changed", [*GEN, "--vote-top-p", "0.5", "--out", "{R}/gen"], ["different config", "top_p"]),
    ("gen-out-in-use", [*GEN, "--out", "{R}/locked"], ["{R}/locked is in use by process", "another --out"]),
    ("gen-temperature-inf", [*GEN, "--vote-temperature", "inf", *O1], ["vote_temperature", "finite"]),
    ("gen-threshold-nan", [*GEN, "--dedup-threshold", "nan", *O1], ["dedup_threshold", "finite"]),
    ("gen-config-bool", [*GEN, "--config", "{R}/booltrue.yaml", *O1],
     ["booltrue.yaml", "max_attempts", "got true"]),
    ("gen-config-dupkey", [*GEN, "--config", "{R}/dupkey.yaml", *O1], ["dupkey.yaml:2", "'votes'", "twice"]),
    ("gen-url-ipv6", [*OPENAI, "--base-url", "http://[::1:8000/v1", *O1],
     ["http://[::1:8000/v1", "brackets"]),
    ("gen-url-port", [*OPENAI, "--base-url", "http://host:99999/v1", *O1], ["host:99999", "port"]),
    ("gen-openai-down", [*OPENAI, "--base-url", "http://127.0.0.1:9/v1", *O1],
     ["http://127.0.0.1:9/v1", "Connection refused", "rerun"]),
    ("gen-transformers-truncated-gguf", ["generate", "--backend", "transformers", "--quiet", "--model",
                                         "{R}/trunc.gguf", *O1], ["trunc.gguf", "truncated"]),
    # eval
    ("eval-data-missing", [*EVAL, "-d", "{R}/nope.jsonl", *O2], ["nope.jsonl", "not found"]),
    ("eval-data-latin1", [*EVAL, "-d", "{R}/latin1.jsonl", *O2], ["latin1.jsonl:2", "UTF-8"]),
    ("eval-data-badjson", [*EVAL, "-d", "{R}/badjson.jsonl", *O2], ["badjson.jsonl:3"]),
    ("eval-data-noanswer", [*EVAL, "-d", "{R}/noanswer.jsonl", *O2],
     ["noanswer.jsonl:1", "answer"]),
    ("eval-data-dupid", [*EVAL, "-d", "{R}/dupid.jsonl", *O2], ["dupid.jsonl:2", "duplicate"]),
    ("eval-data-notobject", [*EVAL, "-d", "{R}/notobject.jsonl", *O2], ["notobject.jsonl:1"]),
    ("eval-data-empty", [*EVAL, "-d", "{R}/empty.jsonl", *O2], ["empty.jsonl", "no rows"]),
    ("eval-shots-no-source", [*EVAL, "-d", "{R}/bench.jsonl", "--shots", "2", *O2],
     ["--fewshot-from"]),
    ("eval-shots-same-file", [*EVAL, "-d", "{R}/bench.jsonl", "--shots", "1", "--fewshot-from",
                              "{R}/bench.jsonl", *O2], ["bench.jsonl", "evaluated file"]),
    ("eval-shots-latin1", [*EVAL, "-d", "{R}/bench.jsonl", "--shots", "1", "--fewshot-from",
                           "{R}/latin1shots.jsonl", *O2], ["latin1shots.jsonl:2", "UTF-8"]),
    ("eval-shots-too-many", [*EVAL, "-d", "{R}/bench.jsonl", "--shots", "9", "--fewshot-from",
                             "{R}/shots.jsonl", *O2], ["shots.jsonl", "--shots"]),
    ("eval-workers-local", [*EVAL, "-d", "{R}/bench.jsonl", "--workers", "2", *O2],
     ["--workers"]),
    ("eval-out-file", [*EVAL, "-d", "{R}/bench.jsonl", "--out", "{R}/afile"], ["afile", "is a file"]),
    ("eval-out-generate-run", [*EVAL, "-d", "{R}/bench.jsonl", "--out", "{R}/gen"], ["'generate' run"]),
    ("eval-data-markup", [*EVAL, "-d", "{R}/[/x]b.jsonl", *O2], ["[/x]b.jsonl"]),
    ("eval-rerun-changed", [*EVAL, "-d", "{R}/bench.jsonl", "--votes", "3", "--out", "{R}/ev"],
     ["different config", "votes"]),
    ("eval-out-in-use", [*EVAL, "-d", "{R}/bench.jsonl", "--out", "{R}/locked"],
     ["{R}/locked is in use by process", "another --out"]),
    ("eval-temperature", [*EVAL, "-d", "{R}/bench.jsonl", "--temperature", "9", *O2],
     ["temperature"]),
    ("eval-answer-list", [*EVAL, "-d", "{R}/answerlist.jsonl", *O2],
     ["answerlist.jsonl:1", "answer", "[18, 3]"]),
    ("eval-answer-dict", [*EVAL, "-d", "{R}/answerdict.jsonl", *O2], ["answerdict.jsonl:2", "answer"]),
    ("eval-answer-bool", [*EVAL, "-d", "{R}/answerbool.jsonl", *O2], ["answerbool.jsonl:1", "true"]),
    ("eval-answer-nan", [*EVAL, "-d", "{R}/answernan.jsonl", *O2], ["answernan.jsonl:1", "NaN"]),
    # train (every case fails before a model loads)
    ("train-data-missing", [*TRAIN, "-d", "{R}/nope.jsonl", *O3], ["nope.jsonl", "not found"]),
    ("train-data-latin1", [*TRAIN, "-d", "{R}/latin1chat.jsonl", *O3],
     ["latin1chat.jsonl:2", "UTF-8"]),
    ("train-data-nomessages", [*TRAIN, "-d", "{R}/nomessages.jsonl", *O3],
     ["nomessages.jsonl:1", "messages"]),
    ("train-data-userlast", [*TRAIN, "-d", "{R}/userlast.jsonl", *O3],
     ["userlast.jsonl:1", "assistant"]),
    ("train-data-badrole", [*TRAIN, "-d", "{R}/badrole.jsonl", *O3], ["badrole.jsonl:1", "role"]),
    ("train-data-empty", [*TRAIN, "-d", "{R}/empty.jsonl", *O3], ["empty.jsonl", "no rows"]),
    ("train-out-file", [*TRAIN, "-d", "{R}/chat.jsonl", "--out", "{R}/afile"], ["afile", "is a file"]),
    ("train-out-eval-run", [*TRAIN, "-d", "{R}/chat.jsonl", "-o", "{R}/ev"], ["ev", "no crescent train run"]),
    ("train-out-foreign", [*TRAIN, "-d", "{R}/chat.jsonl", "--out", "{R}/foreign"], ["foreign", "not empty"]),
    ("train-out-unwritable", [*TRAIN, "-d", "{R}/chat.jsonl", "--out", "/proc/crescent-train"],
     ["/proc/crescent-train"]),
    ("train-out-in-use", [*TRAIN, "-d", "{R}/chat.jsonl", "--out", "{R}/locked"],
     ["{R}/locked is in use by process", "another --out"]),
    ("train-batch-zero", [*TRAIN, "-d", "{R}/chat.jsonl", "--batch-size", "0", *O3],
     ["batch_size"]),
    ("train-dtype", [*TRAIN, "-d", "{R}/chat.jsonl", "--gguf-dtype", "q9", *O3],
     ["--gguf-dtype"]),
    ("train-lr-inf", [*TRAIN, "-d", "{R}/chat.jsonl", "--lr", "inf", *O3], ["lr", "finite"]),
    ("train-epochs-nan", [*TRAIN, "-d", "{R}/chat.jsonl", "--epochs", "nan", *O3], ["epochs", "finite"]),
    # contamination
    ("contam-data-missing", [*CONTAM, "-d", "{R}/nope.jsonl", "-a", "{R}/bench.jsonl", *O4],
     ["nope.jsonl", "not found"]),
    ("contam-against-latin1", [*CONTAM, "-d", "{R}/bench.jsonl", "-a", "{R}/latin1.jsonl", *O4],
     ["latin1.jsonl:2", "UTF-8"]),
    ("contam-data-qnumber", [*CONTAM, "-d", "{R}/qnumber.jsonl", "-a", "{R}/bench.jsonl", *O4],
     ["qnumber.jsonl:1", "string"]),
    ("contam-against-missing", [*CONTAM, "-d", "{R}/bench.jsonl", *O4], ["against"]),
    ("contam-ngram-zero", [*CONTAM, "-d", "{R}/bench.jsonl", "-a", "{R}/bench.jsonl", "--ngram", "0",
                           *O4], ["ngram"]),
    ("contam-out-file", [*CONTAM, "-d", "{R}/bench.jsonl", "-a", "{R}/bench.jsonl", "--out", "{R}/afile"],
     ["afile", "is a file"]),
    ("contam-out-foreign", [*CONTAM, "-d", "{R}/bench.jsonl", "-a", "{R}/bench.jsonl", "-o", "{R}/foreign"],
     ["foreign", "not empty"]),
    ("contam-rerun-changed", [*CONTAM, "-d", "{R}/gen/data.jsonl", "-a", "{R}/bench.jsonl", "--ngram", "8",
                              "--out", "{R}/co"], ["different config", "ngram"]),
    ("contam-out-in-use", [*CONTAM, "-d", "{R}/bench.jsonl", "-a", "{R}/bench.jsonl", "-o", "{R}/locked"],
     ["{R}/locked is in use by process", "another --out"]),
    ("contam-openai-no-url", ["contamination", "--quiet", "--backend", "openai", "-d", "{R}/bench.jsonl",
                              "-a", "{R}/bench.jsonl", *O4], ["--base-url"]),
    # export: only into a new or empty folder, or its own earlier export; never over the run
    ("export-to-a-dataset-folder", [*EXPORT, "--to", "{R}/dataset"],
     ["{R}/dataset", "no export of", "--overwrite"]),
    ("export-to-the-runs-parent", [*EXPORT, "--to", "{R}", "--overwrite"], ["contains the run folder"]),
    ("export-into-the-run", [*EXPORT, "--to", "{R}/gen/ds", "--overwrite"], ["is inside the run folder"]),
    ("export-to-the-run", [*EXPORT, "--to", "{R}/gen", "--overwrite"], ["is the run folder itself"]),
    ("export-to-in-use", [*EXPORT, "--to", "{R}/locked"],
     ["{R}/locked is in use by process", "another --to"]),
    # report and compare write a file only where no other file is, or over their own kind of output
    ("report-out-store", ["report", "{R}/gen", "--out", "{R}/gen/run.sqlite"],
     ["run.sqlite", "not a report"]),
    ("report-out-data", ["report", "{R}/gen", "--out", "{R}/gen/data.jsonl"], ["data.jsonl", "not a report"]),
    ("compare-out-data", ["eval", "compare", "{R}/ev", "{R}/ev", "--out", "{R}/gen/data.jsonl"],
     ["data.jsonl", "not a comparison"]),
    ("compare-out-report", ["eval", "compare", "{R}/ev", "{R}/ev", "--out", "{R}/ev/results.json"],
     ["results.json", "not a comparison"]),
    # improve (refused while its options are parsed)
    ("improve-section-list", ["improve", "--quiet", "--config", "{R}/improvelist.yaml", *O5],
     ["improvelist.yaml", "generate", "mapping"]),
    ("improve-section-null", ["improve", "--quiet", "--config", "{R}/improvenull.yaml", *O5],
     ["improvenull.yaml", "train", "mapping"]),
    # report and export read the run store: a damaged one is a one-line refusal
    ("report-damaged-store", ["report", "{R}/damaged"], ["damaged/run.sqlite", "damaged"]),
    ("export-damaged-store", ["export", "{R}/damaged", "--to", "{R}/n6", "--format", "jsonl"],
     ["damaged/run.sqlite", "damaged"]),
]  # fmt: skip


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (folders as None) with its bytes; run stores are compared by their
    outputs, since opening one may rewrite its header."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
        if not p.name.startswith("run.sqlite") and p.name != LOCK_NAME  # a lock file holds its last PID
    }


@pytest.mark.parametrize(("argv", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    root: Path, argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(root)
    code, _, err = run_cli([a.replace("{R}", str(root)) for a in argv], capsys)
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("error: ") and not lines[0].startswith("error: error:")
    assert "--debug" not in lines[0] and "Error:" not in lines[0]  # no class names, no traceback hint
    for needle in needles:
        assert needle.replace("{R}", str(root)) in lines[0], lines[0]
    assert _snapshot(root) == before  # earlier output unchanged, and no new file or folder


def test_the_matrix_is_big_enough() -> None:
    commands = {argv[0] for _, argv, _ in CASES}
    assert len(CASES) >= 40
    assert commands == {"generate", "eval", "train", "contamination", "improve", "report", "export"}


def test_a_full_disk_at_the_start_is_one_line_and_leaves_no_empty_run(
    tmp_path: Path, full_disk: Callable[[int | None], None], capsys: pytest.CaptureFixture[str]
) -> None:
    """No raw OperationalError, and no 0-byte run.sqlite that a rerun would take for a run."""
    full_disk(None)
    out = tmp_path / "run"
    code, _, err = run_cli([*GEN, "--out", str(out)], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1, err
    assert lines[0].startswith(f"error: the disk holding {out / 'run.sqlite'} is full; free some space")
    assert not out.exists()


def test_a_disk_that_fills_mid_run_is_one_line_keeps_the_work_and_the_rerun_finishes(
    tmp_path: Path,
    full_disk: Callable[[int | None], None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    full_disk(0)  # no page beyond those the bound store has: the first commit that needs one fails
    out = tmp_path / "run"
    argv = [
        "generate",
        "--backend",
        "fake",
        "--quiet",
        "--questions",
        "40",
        "--votes",
        "5",
        "--out",
        str(out),
    ]
    code, _, err = run_cli(argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1, err
    assert "is full; free some space and rerun" in lines[0] and "Error" not in lines[0]
    monkeypatch.undo()  # space freed
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert len((out / "data.jsonl").read_text().splitlines()) > 0
