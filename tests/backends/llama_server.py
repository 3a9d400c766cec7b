"""Run llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) for tests.

Run as a script it is that server, with one change: llama.cpp's "extra buffer types"
(weight repacking, e.g. for AMX) are off. On CPUs that report AMX inside some sandboxes,
the repacked matmul kills the process on any batch of more than one token; repacking is
only a speed-up, so turning it off changes no output.

Imported, it offers ``running_server()``, which starts that script on a free 127.0.0.1 port,
waits (bounded) until it answers, and always stops it.
"""

from __future__ import annotations

import contextlib
import runpy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(
    model: Path, log: Path, *, n_ctx: int = 2048, ready_s: float = 120.0, extra_args: Sequence[str] = ()
) -> Iterator[str]:
    """Yield the server's base URL (``http://127.0.0.1:PORT/v1``); its output goes to ``log``.

    ``extra_args`` are more ``llama_cpp.server`` flags (e.g. ``--flash_attn true``).
    """
    port = free_port()
    command = [
        sys.executable,
        __file__,
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        "1",
        "--n_threads_batch",
        "1",
        *extra_args,
    ]
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + ready_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}; see {log}")
                try:
                    with urllib.request.urlopen(f"{url}/models", timeout=2):
                        break
                except (urllib.error.URLError, OSError):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"llama_cpp.server silent for {ready_s:g} s; see {log}") from None
                    time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def _main() -> None:
    import llama_cpp.llama_cpp as lib  # the module llama_cpp.Llama reads its defaults from

    default_params = lib.llama_model_default_params

    def without_repacking():  # type: ignore[no-untyped-def]
        params = default_params()
        params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = without_repacking
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _main()
