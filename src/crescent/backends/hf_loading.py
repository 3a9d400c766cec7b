"""Loading a causal LM and its tokenizer with transformers, from any place crescent accepts a model.

One function serves the transformers backend, ``crescent train`` and ``crescent prune``, so that all
three accept the same strings: nothing (the embedded SmolLM2 GGUF), a ``.gguf`` file (transformers
dequantizes it to float32), a local HF folder, or a hub id. A model read from a GGUF remembers that
file (``source_gguf``): its tokenizer and metadata are the template for exporting back to GGUF.
"""

from __future__ import annotations

import contextlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crescent.errors import CrescentError
from crescent.models import GGUF_MAGIC, resolve_model

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# What transformers raises on a model it cannot read. A truncated or damaged GGUF fails inside its byte
# reader (struct.error, EOFError, IndexError), not with an error of its own.
_TRUNCATED = (struct.error, EOFError, IndexError)
_LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, NotImplementedError, *_TRUNCATED)


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    source: str
    source_gguf: Path | None


def _is_gguf(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _locate(model: str | None) -> tuple[str, dict[str, Any], Path | None]:
    """``(from_pretrained target, extra kwargs, source GGUF)`` for a model string."""
    ref = resolve_model(model)
    path = Path(ref).expanduser()
    if _is_gguf(path):
        return str(path.parent), {"gguf_file": path.name}, path.resolve()
    if path.suffix == ".gguf" and not path.exists():
        raise CrescentError(f"model file not found: {path}; pass --model PATH to an existing .gguf file")
    if path.is_file():
        raise CrescentError(f"model file {path} is not a GGUF file nor an HF model folder; pass one of those")
    if path.is_dir() and not (path / "config.json").is_file():
        raise CrescentError(
            f"model folder {path} has no config.json; pass an HF model folder or a .gguf file"
        )
    return ref, {}, None


@contextlib.contextmanager
def _quiet():
    """transformers prints GGUF dequantization bars on stderr; keep them out of crescent's own output."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def load_tokenizer(model: str | None) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    target, kwargs, source_gguf = _locate(model)
    try:
        with _quiet():
            tokenizer = AutoTokenizer.from_pretrained(target, **kwargs)
    except _LOAD_ERRORS as exc:
        if source_gguf is not None and isinstance(exc, _TRUNCATED):
            raise CrescentError(_damaged_gguf(source_gguf, exc)) from exc
        raise CrescentError(
            f"cannot load a tokenizer from {target} ({_first_line(exc)}); check --model"
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise CrescentError(f"the tokenizer of {target} has no chat template; use an instruct (chat) model")
    return tokenizer


def load_model(model: str | None, *, dtype: Any = None, tokenizer: bool = True) -> LoadedModel:
    """Load a causal LM (and its tokenizer); every failure is one :class:`CrescentError` line."""
    import torch
    from transformers import AutoModelForCausalLM

    target, kwargs, source_gguf = _locate(model)
    tok = load_tokenizer(model) if tokenizer else None
    try:
        with _quiet():
            lm = AutoModelForCausalLM.from_pretrained(target, dtype=dtype or torch.float32, **kwargs)
    except _LOAD_ERRORS as exc:
        if source_gguf is not None and isinstance(exc, _TRUNCATED):
            raise CrescentError(_damaged_gguf(source_gguf, exc)) from exc
        raise CrescentError(
            f"cannot load a causal language model from {target} ({_first_line(exc)}); "
            "pass an HF model folder, a hub id or a .gguf file of a supported architecture"
        ) from exc
    drop_gguf_origin(lm)
    return LoadedModel(lm, tok, str(source_gguf or target), source_gguf)  # type: ignore[arg-type]


def drop_gguf_origin(model: PreTrainedModel) -> None:
    """A model read from GGUF carries a ``quantization_config`` naming the file; once dequantized it is an
    ordinary float model, and saving that config would make the saved folder unloadable without the GGUF."""
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("hf_quantizer", "quantization_method"):
        if getattr(model, attr, None) is not None:
            with contextlib.suppress(AttributeError):
                setattr(model, attr, None)
    model.is_quantized = False


def _damaged_gguf(path: Path, exc: BaseException) -> str:
    return (
        f"cannot read model file {path}: it is truncated or damaged ({_first_line(exc)}); "
        "download or copy it again"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
