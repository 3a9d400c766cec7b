"""Run the ``crescent`` command line in-process, as a user would type it: one helper for every CLI test."""

from __future__ import annotations

import sys

import pytest

from crescent.cli import main


def exit_code(argv: list[str]) -> int:
    """``crescent ARGV`` -> its exit code, output left where it went; a ``SystemExit`` without an int code
    counts as 1."""
    old = sys.argv
    sys.argv = ["crescent", *argv]
    try:
        main()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``crescent ARGV`` -> (exit code, stdout, stderr)."""
    code = exit_code(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
