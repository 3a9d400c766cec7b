"""``crescent merge``: a base model + a committed LoRA adapter -> the GGUF that was evaluated.

A LoRA run's ``model.gguf`` is hundreds of MB; its ``adapter/`` tens (17 MB at r = 16 on Qwen-0.5B).
Committing the adapter and rebuilding the GGUF on demand lets anyone check an evaluated model on other
benchmarks. The rebuild is train's own path: the base is loaded as train loads it, the adapter merged as train
merges it, and the GGUF written by :func:`crescent.train.gguf_export.export_gguf`, quantized like the base
GGUF, so the file matches the ``model.gguf`` of a run trained with that same ``--gguf-dtype``.

Without an adapter, the base model alone takes the same path (load, dequantize, re-export): the model a
trained run must beat. A base GGUF re-quantized from its own dequantized weights is not bit-identical to
the original, and a difference of a point on a benchmark may be that alone; train with zero steps would
give the same file, since a fresh LoRA adapter adds exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crescent.config import GGUFDtype, MergeConfig
from crescent.errors import CrescentError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from crescent.backends.hf_loading import LoadedModel


@dataclass
class MergeResult:
    out: Path
    dtype: GGUFDtype
    base: str
    adapter: Path | None

    def stdout(self) -> str:
        return str(self.out)

    def describe(self) -> str:
        added = " + adapter" if self.adapter else " alone (no adapter: the zero-training-step control)"
        return f"done: {self.out} ({self.dtype}) = {self.base}{added}"


def merge(config: MergeConfig) -> MergeResult:
    """Merge ``config.adapter`` (if any) into ``config.model`` and export the result to ``config.out``."""
    from crescent.backends.hf_loading import load_model
    from crescent.train.gguf_export import export_gguf, gguf_dtype_of

    adapter = Path(config.adapter) if config.adapter is not None else None
    out = Path(config.out)
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise CrescentError(
            f"--adapter {adapter} holds no adapter_config.json; pass the adapter/ of a train --lora run"
        )
    if out.exists():  # never overwrite a file crescent may not have written
        raise CrescentError(f"--out {out} already exists; choose a new file name")
    if not out.parent.is_dir():
        raise CrescentError(f"--out {out}: folder {out.parent} does not exist; create it first")
    loaded = load_model(config.model)
    dtype = config.gguf_dtype or (gguf_dtype_of(loaded.source_gguf) if loaded.source_gguf else "f16")
    model = loaded.model if adapter is None else _merged(loaded, adapter)
    export_gguf(model, out, tokenizer=loaded.tokenizer, source_gguf=loaded.source_gguf, dtype=dtype)
    return MergeResult(out, dtype, loaded.source, adapter)


def _merged(loaded: LoadedModel, adapter: Path) -> PreTrainedModel:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(loaded.model, str(adapter)).merge_and_unload()
    except (RuntimeError, ValueError, KeyError) as exc:  # e.g. shapes of another base model
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CrescentError(
            f"cannot apply adapter {adapter} to {loaded.source} ({first}); pass the --model it was trained on"
        ) from exc
