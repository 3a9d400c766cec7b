"""Which backend names exist: built-ins, run-time registrations and plugins' entry points.

A leaf module (no crescent imports), so the config can validate ``--backend`` without importing any
backend. Plugins declare an entry point in the ``crescent.backends`` group (``name = "module:Class"``).
"""

from __future__ import annotations

from importlib.metadata import entry_points

_REGISTRY: dict[str, str] = {
    "llamacpp": "crescent.backends.llamacpp:LlamaCppBackend",
    "llamacpp-simple": "crescent.backends.llamacpp:SimpleLlamaCppBackend",
    "transformers": "crescent.backends.transformers:TransformersBackend",
    "openai": "crescent.backends.openai:OpenAIBackend",
    "fake": "crescent.backends.fake:FakeBackend",
}

ENTRY_POINT_GROUP = "crescent.backends"


def register(name: str, target: str) -> None:
    """Add a backend (``"module:Class"``) under ``name`` at run time (tests, notebooks)."""
    _REGISTRY[name] = target


def available() -> dict[str, str]:
    """Built-in backends, those registered at run time, and those plugins declare as entry points."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**found, **_REGISTRY}
