"""A weaker student by layer dropping: keep some decoder layers of a model, drop the rest.

Why: the paper's question is whether a model can improve itself; a pruned copy of the default model is a
cheap, clearly weaker student that a stronger teacher (or the student itself) can generate data for and
then train, without any download. ``every-other`` keeps layers 0, 2, 4, ... and always the last layer,
whose output the final norm and LM head were trained to read (SmolLM2-135M: 30 -> 16 layers, about
85 M parameters, 28 M of them the embedding). An explicit comma list (``0,5,29``) keeps exactly those.
No weights are changed: the kept layers are the originals, renumbered so the KV cache indexes them.
Untrained, the every-other student of SmolLM2-135M emits mostly noise (measured: greedy GSM8K answers are
token salad), so it is a starting point for ``crescent train`` on a teacher's data, not a usable model.

Writes ``DIR/model`` (HF folder) and ``DIR/model.gguf`` (for the llama.cpp backend).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crescent.errors import CrescentError
from crescent.run_folder import RunFolder
from crescent.runs import path_in_run

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from crescent.config import PruneConfig

MODEL_DIR = "model"  # written first: a folder holding it is one a prune (or a train) wrote, and may rewrite


@dataclass
class PruneResult:
    model_dir: Path
    gguf_path: Path | None
    kept: list[int]
    layers_before: int
    parameters: int

    def stdout(self) -> str:
        return str(self.gguf_path or self.model_dir)

    def describe(self) -> str:
        return (
            f"done: kept {len(self.kept)} of {self.layers_before} layers {self.kept}, "
            f"{self.parameters / 1e6:.1f} M parameters"
        )


def parse_keep(spec: str, layers: int) -> list[int]:
    """Layer indices to keep from ``every-other`` or a comma list; an error names the bad part."""
    text = spec.strip().lower()
    if text in ("every-other", "every_other", "alternate"):
        kept = list(range(0, layers, 2))
        return kept if kept[-1] == layers - 1 else [*kept, layers - 1]
    try:
        kept = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise CrescentError(f"--keep '{spec}': use 'every-other' or comma-separated layer numbers") from exc
    if not kept:
        raise CrescentError(f"--keep '{spec}' keeps no layer; name at least one")
    bad = [i for i in kept if not 0 <= i < layers]
    if bad:
        raise CrescentError(f"--keep '{spec}': layer {bad[0]} does not exist (the model has 0..{layers - 1})")
    return kept


def keep_layers(model: PreTrainedModel, kept: list[int]) -> PreTrainedModel:
    """Drop, in place, every decoder layer not in ``kept`` and renumber the rest."""
    import torch

    decoder = model.get_decoder()
    layers = getattr(decoder, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise CrescentError(f"cannot prune a '{model.config.model_type}' model: no decoder layer list found")
    decoder.layers = torch.nn.ModuleList([layers[i] for i in kept])
    for new_index, layer in enumerate(decoder.layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    layer_types = getattr(model.config, "layer_types", None)
    if layer_types:
        model.config.layer_types = [layer_types[i] for i in kept]
    model.config.num_hidden_layers = len(kept)
    return model


def prune(config: PruneConfig) -> PruneResult:
    """Write the pruned model into ``--out`` (a new folder, or one an earlier prune wrote), held locked."""
    with RunFolder(Path(config.out), "prune", MODEL_DIR).hold():
        return _prune(config)


def _prune(config: PruneConfig) -> PruneResult:
    from crescent.backends.hf_loading import load_model
    from crescent.train.gguf_export import export_run_model

    loaded = load_model(config.model)
    before = loaded.model.config.num_hidden_layers
    kept = parse_keep(config.keep, before)
    model = keep_layers(loaded.model, kept)
    model_dir = Path(config.out) / MODEL_DIR
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(model_dir))
    loaded.tokenizer.save_pretrained(str(model_dir))
    gguf_path = None
    if config.gguf:
        gguf_path = export_run_model(model, loaded, Path(config.out), config.gguf_dtype)
    result = PruneResult(model_dir, gguf_path, kept, before, sum(p.numel() for p in model.parameters()))
    summary = {
        "source": loaded.source,
        "layers_before": before,
        "kept": kept,
        "parameters": result.parameters,
        "gguf": path_in_run(gguf_path, config.out) if gguf_path else None,  # relative to --out
    }
    (Path(config.out) / "prune.json").write_text(json.dumps(summary, indent=2) + "\n")
    return result
