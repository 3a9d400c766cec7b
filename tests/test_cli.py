"""The CLI's contract: one-line errors with a non-zero exit, no traceback, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run_cli


def _generate(out: Path, *extra: str) -> list[str]:
    return [
        "generate",
        "--backend",
        "fake",
        "--questions",
        "4",
        "--votes",
        "3",
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


def test_generate_prints_where_the_data_went(tmp_path: Path, capsys) -> None:
    code, out, _ = run_cli(_generate(tmp_path / "run"), capsys)
    assert code == 0
    assert out.strip().endswith("data.jsonl") and Path(out.strip().splitlines()[-1]).exists()


def _assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    text = lines[0]
    assert text.startswith("error:")
    for needle in needles:
        assert needle in text


def test_missing_model_file(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(
        ["generate", "--model", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "r")], capsys
    )
    _assert_one_line_error(code, err, "model file not found", "nope.gguf")


def test_corrupt_model_file(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    code, _, err = run_cli(["generate", "--model", str(bad), "--out", str(tmp_path / "r")], capsys)
    _assert_one_line_error(code, err, "not a GGUF model file", "bad.gguf")


def test_truncated_gguf(tmp_path: Path, capsys) -> None:
    from crescent.models import default_model_path

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(default_model_path().read_bytes()[:100_000])
    code, _, err = run_cli(["generate", "--model", str(truncated), "--out", str(tmp_path / "r")], capsys)
    _assert_one_line_error(code, err, "truncated.gguf")


def test_bad_option_value(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(_generate(tmp_path / "r", "--dedup-threshold", "7"), capsys)
    _assert_one_line_error(code, err, "dedup_threshold")


def test_malformed_yaml_config(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("questions: [1, 2\nvotes: 3\n")
    code, _, err = run_cli(_generate(tmp_path / "r", "--config", str(config)), capsys)
    _assert_one_line_error(code, err, "malformed YAML", "c.yaml", "line")


def test_yaml_config_with_unknown_field(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("questionz: 3\n")
    code, _, err = run_cli(_generate(tmp_path / "r", "--config", str(config)), capsys)
    _assert_one_line_error(code, err, "questionz")


def test_yaml_config_fills_fields_and_flags_win(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("questions: 2\nvotes: 5\nbackend: fake\n")
    code, _, _ = run_cli(
        ["generate", "--config", str(config), "--votes", "3", "--quiet", "--out", str(tmp_path / "r")], capsys
    )
    assert code == 0
    stats = json.loads((tmp_path / "r" / "stats.json").read_text())
    assert stats["config"]["questions"] == 2 and stats["config"]["votes"] == 3


def test_foreign_out_dir_is_refused_and_untouched(tmp_path: Path, capsys) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    code, _, err = run_cli(_generate(foreign), capsys)
    _assert_one_line_error(code, err, "not empty", "mine")
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_out_path_is_a_file(tmp_path: Path, capsys) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = run_cli(_generate(target), capsys)
    _assert_one_line_error(code, err, "is a file")


def test_unwritable_out_dir(tmp_path: Path, capsys) -> None:
    # /proc refuses new directories even to root, unlike a chmod-ed folder
    code, _, err = run_cli(_generate(Path("/proc/crescent-test-run")), capsys)
    _assert_one_line_error(code, err, "cannot create --out directory", "/proc/crescent-test-run")


def test_contradicting_rerun_keeps_existing_output(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert run_cli(_generate(out), capsys)[0] == 0
    before = (out / "data.jsonl").read_text()
    code, _, err = run_cli(
        ["generate", "--backend", "fake", "--vote-temperature", "0.3", "-q", "-o", str(out)],
        capsys,
    )
    _assert_one_line_error(code, err, "different config", "vote_temperature")
    assert (out / "data.jsonl").read_text() == before


def test_garbage_model(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(_generate(tmp_path / "r", "--model", "garbage=1", "--max-attempts", "16"), capsys)
    _assert_one_line_error(code, err, "no usable question")
    assert (tmp_path / "r" / "run.sqlite").exists()


@pytest.mark.parametrize(
    ("typo", "fix"),
    [
        (["--model", "dealy=0.01"], ["--model", "delay=0.0"]),  # a fake-backend option misspelt
        (["--exclude", "bench.jsnol"], ["--exclude", "bench.jsonl"]),
        (["--backend", "openai"], ["--backend", "fake"]),  # no --base-url: the backend cannot start
    ],
    ids=["model", "exclude", "base-url"],
)
def test_generate_typo_then_fix_is_not_locked_out(
    tmp_path: Path, capsys, monkeypatch, typo: list[str], fix: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bench.jsonl").write_text('{"question": "What is 12 + 30?"}\n')
    base = ["generate", "--questions", "3", "--votes", "3", "--quiet", "--out", "run"]
    backend = [] if "--backend" in typo else ["--backend", "fake"]
    code, _, err = run_cli([*base, *backend, *typo], capsys)
    _assert_one_line_error(code, err)
    assert not Path("run").exists()
    code, _, err = run_cli([*base, *backend, *fix], capsys)
    assert code == 0, err
    assert Path("run/data.jsonl").exists()


@pytest.mark.parametrize(
    ("typo", "fix"),
    [
        (["--model", "acuracy=0.5"], ["--model", "accuracy=0.5"]),
        (["--fewshot-from", "shots.jsnol"], ["--fewshot-from", "shots.jsonl"]),
        (["--backend", "openai"], ["--backend", "fake"]),
    ],
    ids=["model", "fewshot-from", "base-url"],
)
def test_eval_typo_then_fix_is_not_locked_out(
    tmp_path: Path, capsys, monkeypatch, typo: list[str], fix: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bench.jsonl").write_text('{"question": "What is 12 + 30?", "answer": "42"}\n')
    Path("shots.jsonl").write_text(
        '{"question": "What is 1 + 1?", "solution": "1 + 1 = 2. The answer is 2."}\n'
    )
    base = [
        "eval",
        "--data",
        "bench.jsonl",
        "--shots",
        "1",
        "--fewshot-from",
        "shots.jsonl",
        "-q",
        "--out",
        "ev",
    ]
    backend = [] if "--backend" in typo else ["--backend", "fake"]
    code, _, err = run_cli([*base, *backend, *typo], capsys)
    _assert_one_line_error(code, err)
    assert not Path("ev").exists()
    code, _, err = run_cli([*base, *backend, *fix], capsys)
    assert code == 0, err
    assert json.loads(Path("ev/results.json").read_text())["n"] == 1


def test_help_shows_defaults_and_debug(capsys) -> None:
    for command in (["generate"], ["eval"], ["train"], ["contamination"]):
        code, out, _ = run_cli([*command, "--help"], capsys)
        assert code == 0
        flat = " ".join(out.split())
        assert "--debug" in flat and "[default:" in flat, command
    code, out, _ = run_cli(["contamination", "--help"], capsys)
    assert "--base-url" in out and "--request-timeout-s" in out


def test_markup_in_the_bait_prompt_and_paths_is_printed_literally(tmp_path: Path, capsys) -> None:
    out = tmp_path / "[bold]run[/x]"
    argv = _generate(
        out, "--bait-prompt", "Write a [/x] word problem", "--model", "garbage=1", "--max-attempts", "8"
    )
    code, _, err = run_cli(argv, capsys)
    _assert_one_line_error(code, err, "no usable question")
    assert "MarkupError" not in err


@pytest.mark.parametrize("columns", ["80", "40"])
def test_every_command_is_built_from_its_config(columns: str, capsys, monkeypatch) -> None:
    """Each command's help is its config's docstring, and each config field is one of its options, shown
    whole at any terminal width (a section's fields as --section.name, in the section's own panel)."""
    from crescent.cli.commands import COMMANDS, GROUPS
    from crescent.cli.options import ARGUMENTS, _section, command_help

    monkeypatch.setenv("COLUMNS", columns)
    every = {(name,): spec for name, spec in COMMANDS.items()}
    every |= {(group, sub): spec for group, (_, subs) in GROUPS.items() for sub, spec in subs.items()}
    every[("eval",)] = every[("eval", "run")]  # the group runs the eval itself
    for words, (config_cls, _) in every.items():
        code, out, _ = run_cli([*words, "--help"], capsys)
        assert code == 0, words
        assert "…" not in out, words
        lines = [line.strip("│ ").rstrip() for line in out.splitlines()]
        if columns == "80":
            flat = " ".join(" ".join(lines).split())
            assert " ".join(command_help(config_cls).split())[:40] in flat, words
        words_on_lines = {word for line in lines for word in line.replace(",", " ").split()}
        for name, field in config_cls.model_fields.items():
            if (section := _section(field)) is not None:
                flags = [
                    f"--{name}.{s.replace('_', '-')}"
                    for s, f in section.model_fields.items()
                    if not f.exclude
                ]
                assert f"{name} options (--{name}.*)" in out, (words, name)
            else:
                flags = [name.upper() if name in ARGUMENTS else f"--{name.replace('_', '-')}"]
            for flag in flags:
                assert flag in words_on_lines, (words, flag, columns)


def test_models_list_names_the_catalog_and_prints_paths(capsys) -> None:
    code, out, err = run_cli(["models", "list"], capsys)
    assert code == 0 and "qwen2.5-coder-0.5b" in err
    assert out.strip().endswith(".gguf")


@pytest.mark.parametrize("group", ["eval", "models"])
def test_a_group_given_nothing_shows_its_subcommands_and_runs_nothing(group: str, capsys) -> None:
    code, out, err = run_cli([group], capsys)
    subcommands = {"eval": ("run", "compare"), "models": ("list", "pull")}[group]
    assert code == 2 and "error:" not in err
    assert all(sub in out + err for sub in subcommands)


def test_unexpected_errors_never_print_error_twice_and_a_full_disk_needs_no_traceback() -> None:
    import errno
    import sqlite3
    import struct

    from crescent.cli import _explain

    message, code = _explain(struct.error("unpack_from requires a buffer of at least 8 bytes"))
    assert message.startswith("struct.error: unpack_from") and code == 1  # was "error: error: unpack..."
    message, code = _explain(OSError(errno.ENOSPC, "No space left on device", "/runs/x/data.jsonl.tmp"))
    assert message == (
        "the disk is full while writing /runs/x/data.jsonl.tmp; free some space and rerun the same command"
    )
    message, _ = _explain(sqlite3.OperationalError("database or disk is full"))
    assert message.startswith("the disk is full;") and "--debug" not in message
