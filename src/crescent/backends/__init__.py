"""Backend registry: a name maps to a loader, imported lazily so ``import crescent`` stays light.

Plugins add backends without touching crescent, as simonw/llm's do: a package declares an entry point
in the ``crescent.backends`` group (``name = "module:Class"``), and ``--backend name`` then works and is
validated like a built-in one. The class follows ``crescent.backends.base.Backend``.
"""

from __future__ import annotations

from importlib import import_module

from crescent.backends.base import Backend, BackendError, Completion, SampleRequest, SamplingParams, Usage
from crescent.backends.registry import available, register
from crescent.config import BackendConfig
from crescent.errors import CrescentError

_INSTALL_HINT = {
    "transformers": "pip install 'crescent-llm[transformers]'",
    "openai": "pip install 'crescent-llm[openai]'",
}


def backend_class(name: str) -> type[Backend]:
    known = available()
    if name not in known:
        raise CrescentError(f"unknown backend '{name}'; choose one of: {', '.join(sorted(known))}")
    module_name, _, attr = known[name].partition(":")
    try:
        module = import_module(module_name)
    except ImportError as exc:
        hint = _INSTALL_HINT.get(name, "pip install crescent-llm")
        raise CrescentError(
            f"backend '{name}' needs a missing package ({exc.name}); install it: {hint}"
        ) from exc
    return getattr(module, attr)


def create_backend(config: BackendConfig) -> Backend:
    """Build the backend a config names."""
    return backend_class(config.backend).from_config(config)


__all__ = [
    "Backend",
    "BackendError",
    "Completion",
    "SampleRequest",
    "SamplingParams",
    "Usage",
    "available",
    "backend_class",
    "create_backend",
    "register",
]
