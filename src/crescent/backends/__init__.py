"""Backend registry: a name maps to a loader, imported lazily so ``import crescent`` stays light."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from crescent.backends.base import Backend, BackendError, Completion, SampleRequest, SamplingParams, Usage
from crescent.config import BackendConfig
from crescent.errors import CrescentError

_REGISTRY: dict[str, str] = {
    "llamacpp": "crescent.backends.llamacpp:LlamaCppBackend",
    "llamacpp-simple": "crescent.backends.llamacpp:SimpleLlamaCppBackend",
    "transformers": "crescent.backends.transformers:TransformersBackend",
    "openai": "crescent.backends.openai:OpenAIBackend",
    "fake": "crescent.backends.fake:FakeBackend",
}

_INSTALL_HINT = {
    "transformers": "pip install 'crescent-llm[transformers]'",
    "openai": "pip install 'crescent-llm[openai]'",
}


def register(name: str, target: str) -> None:
    """Add a backend (``"module:Class"``) under ``name``; plugins call this."""
    _REGISTRY[name] = target


def backend_class(name: str) -> Callable[..., Backend]:
    if name not in _REGISTRY:
        raise CrescentError(f"unknown backend '{name}'; choose one of: {', '.join(sorted(_REGISTRY))}")
    module_name, _, attr = _REGISTRY[name].partition(":")
    try:
        module = import_module(module_name)
    except ImportError as exc:
        hint = _INSTALL_HINT.get(name, "pip install crescent-llm")
        raise CrescentError(
            f"backend '{name}' needs a missing package ({exc.name}); install it: {hint}"
        ) from exc
    return getattr(module, attr)


def create_backend(config: BackendConfig) -> Backend:
    """Build the backend a config names. Every backend takes the config object itself."""
    if config.backend == "fake":
        return backend_class("fake").from_spec(config.model)  # type: ignore[attr-defined]
    return backend_class(config.backend)(config)


__all__ = [
    "Backend",
    "BackendError",
    "Completion",
    "SampleRequest",
    "SamplingParams",
    "Usage",
    "backend_class",
    "create_backend",
    "register",
]
