"""Crescent: a language model improves itself with no outside data (Sun et al., 2025, arXiv 2502.13441).

Python API::

    from crescent import GenerateConfig, generate
    result = generate(GenerateConfig(out="runs/demo", questions=50, votes=3))
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from crescent.config import GenerateConfig

try:  # pyproject.toml's version is the one source; the installed metadata carries it
    __version__ = version("crescent-llm")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from crescent.pipeline.generate import GenerateResult


def generate(config: GenerateConfig, **kwargs: Any) -> GenerateResult:
    from crescent.pipeline.generate import generate as run

    return run(config, **kwargs)


__all__ = ["GenerateConfig", "__version__", "generate"]
