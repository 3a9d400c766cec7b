"""A server that accepts connections and never answers: the run fails in bounded time, and Ctrl-C or
SIGTERM ends it within seconds, with one line on stderr and no run store left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STOP_S = 5.0  # the CLI's watchdog ends a stuck cleanup after 2 s; allow for interpreter start-up


class SilentServer:
    """Accepts every connection on 127.0.0.1 and reads nothing, answers nothing, closes nothing."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.accepted: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def wait_for_connection(self, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.accepted:
            assert proc.poll() is None, proc.communicate()[1].decode()[-500:]
            assert time.monotonic() < deadline, "the client never connected"
            time.sleep(0.05)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    server.thread.start()
    yield server
    server.stopped.set()
    for conn in server.accepted:
        conn.close()
    server.sock.close()
    server.thread.join(timeout=2)


def _generate(url: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "crescent", "generate", "--backend", "openai", "--base-url", url,
        "--questions", "2", "--votes", "2", "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _one_line(err: bytes) -> str:
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in lines[0], lines
    return lines[0]


def test_a_silent_server_fails_the_run_within_its_deadline(silent: SilentServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = _generate(
        silent.url, out, "--request-timeout-s", "0.5", "--request-deadline-s", "1.5", "--retries", "9"
    )
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, timeout=60, env=_env())
    elapsed = time.monotonic() - started
    assert proc.returncode != 0
    line = _one_line(proc.stderr)
    assert "no answer within 0.5 s" in line and "--request-deadline-s 1.5" in line
    assert elapsed < 1.5 + 15  # the deadline plus interpreter start-up, never 9 retries x 0.5 s x ...
    assert not out.exists()  # nothing was produced, so nothing holds --out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_a_run_stuck_on_a_silent_server(
    silent: SilentServer, tmp_path: Path, signum: signal.Signals
) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(_generate(silent.url, out), stderr=subprocess.PIPE, env=_env())
    try:
        silent.wait_for_connection(proc)
        time.sleep(0.2)  # the request is in flight, waiting on its 120 s timeout
        sent = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=STOP_S + 5)
        assert time.monotonic() - sent < STOP_S
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum
    assert f"interrupted by {signum.name}" in _one_line(err)
    assert not out.exists()  # nothing was produced: the corrected or repeated command starts afresh
