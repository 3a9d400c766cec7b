"""Which license a dataset inherits from the model that wrote it.

Generated text follows the model's terms, so the card states the model's license: the embedded
SmolLM2-135M-Instruct is apache-2.0; a GGUF file may carry ``general.license`` in its metadata; an HF
folder's README front matter may say ``license:``. Anything else is unknown ("other"), and the user says
which with ``--license``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

EMBEDDED_LICENSE = "apache-2.0"  # HuggingFaceTB/SmolLM2-135M-Instruct's model card
UNKNOWN = "other"


def model_license(model: str | None, backend: str) -> str | None:
    """The model's license identifier, or None when it cannot be told without the network."""
    if backend == "fake":
        return None
    if model in (None, "", "default"):
        return EMBEDDED_LICENSE
    path = _cached_hub_file(str(model)) or Path(str(model)).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return _gguf_license(path)
    if path.is_dir():
        return _readme_license(path / "README.md")
    return None


def _cached_hub_file(model: str) -> Path | None:
    """An ``hf://`` model's file if it is already in the local Hub cache (no network)."""
    if not model.startswith("hf://"):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        from crescent.models import parse_hub_reference

        cached = try_to_load_from_cache(*parse_hub_reference(model))
    except Exception:
        return None
    return Path(cached) if isinstance(cached, str) else None


def _gguf_license(path: Path) -> str | None:
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).fields.get("general.license")
        if field is None:
            return None
        return bytes(field.parts[field.data[0]]).decode().strip() or None
    except Exception:  # an optional package, or a file it cannot parse: the license stays unknown
        return None


def _readme_license(readme: Path) -> str | None:
    try:
        text = readme.read_text()
    except OSError:
        return None
    if not text.startswith("---"):
        return None
    try:
        meta = yaml.safe_load(text.split("---", 2)[1])
    except (yaml.YAMLError, IndexError):
        return None
    value = meta.get("license") if isinstance(meta, dict) else None
    return str(value) if value else None
