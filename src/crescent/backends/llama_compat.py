"""Load-time workaround for llama.cpp's "extra buffer types" on AMX-capable CPUs.

With llama-cpp-python 0.3.36 built natively on an AMX-capable Xeon (this CI
machine), the first ``llama_decode`` segfaults whenever the model's weights are
placed in the CPU "extra" buffer types (AMX / repacked layouts). Loading with
``use_extra_bufts = False`` keeps the plain CPU buffers and decodes correctly
(measured: the same prompt crashes with the default and runs without it). The
SmolLM2 Q4_1 weights gain nothing from repacking, so nothing is lost.

``install()`` makes every llama.cpp model load in this process (the high-level
``Llama`` class, our low-level batched engine, and ``llama_cpp.server``) use that
setting; it is idempotent. ``python -m crescent.backends.llama_compat ARGS`` runs
llama-cpp-python's OpenAI-compatible server with it installed.
"""

from __future__ import annotations

import sys

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    import llama_cpp
    import llama_cpp.llama_cpp as bindings

    original = bindings.llama_model_default_params

    def model_params_without_extra_buffers():  # type: ignore[no-untyped-def]
        params = original()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = model_params_without_extra_buffers
    llama_cpp.llama_model_default_params = model_params_without_extra_buffers
    _installed = True


def serve(argv: list[str]) -> None:
    """Run ``llama_cpp.server`` (its own CLI arguments) with the workaround installed."""
    install()
    import runpy

    sys.argv = ["llama_cpp.server", *argv]
    runpy.run_module("llama_cpp.server", run_name="__main__")


if __name__ == "__main__":
    serve(sys.argv[1:])
