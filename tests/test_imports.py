"""The package's import graph has no cycle, and its layers point one way.

Every ``import`` counts, also those inside functions: a lazy import that closes a cycle still couples
two modules both ways and is only a cycle waiting for someone to move it to the top of a file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "crescent"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            found |= subs or ({node.module} & MODULES.keys())
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & MODULES.keys()
    module = _module(path)
    return {m for m in found if m != module and not module.startswith(m + ".")}  # a package's own init


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node], _ = 2, stack.pop()
        return None

    for name in sorted(GRAPH):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    assert len(GRAPH) > 30  # the walk found the package
    cycle = _cycle()
    assert cycle is None, " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("crescent.backends", "crescent.train"),
        ("crescent.backends", "crescent.pipeline"),
        ("crescent.pipeline", "crescent.eval"),
        ("crescent.pipeline", "crescent.cli"),
        ("crescent.similarity", "crescent.pipeline"),
    ],
)
def test_layers_do_not_import_upwards(lower: str, upper: str) -> None:
    offenders = sorted(
        f"{name} -> {dep}"
        for name, deps in GRAPH.items()
        if name == lower or name.startswith(lower + ".")
        for dep in deps
        if dep == upper or dep.startswith(upper + ".")
    )
    assert not offenders, offenders


def test_a_plugin_backend_is_found_through_its_entry_point(monkeypatch) -> None:
    """simonw/llm-style plugins: an installed package's entry point makes ``--backend NAME`` valid."""
    from importlib.metadata import EntryPoint

    from crescent.backends import create_backend, registry
    from crescent.config import BackendConfig

    plugin = EntryPoint(
        name="echo", value="crescent.backends.fake:FakeBackend", group=registry.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(registry, "entry_points", lambda group: [plugin] if group == plugin.group else [])
    backend = create_backend(BackendConfig(backend="echo", model="accuracy=1.0"))
    assert backend.name == "fake" and not backend.overlapping_calls
    backend.cancel_all()  # part of the interface, a no-op for a backend whose calls cannot overlap
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    with pytest.raises(ValueError, match="unknown backend 'echo'"):
        BackendConfig(backend="echo")


def test_the_version_is_the_installed_distributions() -> None:
    """``__version__`` is read from the metadata pip wrote from pyproject.toml, never typed a second time."""
    from importlib.metadata import version

    import crescent

    assert crescent.__version__ == version("crescent-llm")
