"""Layer pruning: which layers survive, that they are the originals, and that cached decoding still works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_model import build_tiny_model
from typer.testing import CliRunner

from crescent.backends.hf_loading import load_model
from crescent.cli import app
from crescent.errors import CrescentError
from crescent.train.prune import keep_layers, parse_keep


def test_parse_keep() -> None:
    assert parse_keep("every-other", 30) == [*range(0, 30, 2), 29]
    assert parse_keep("every-other", 5) == [0, 2, 4]
    assert parse_keep(" 3, 0,3 ", 4) == [0, 3]
    with pytest.raises(CrescentError, match="layer 30 does not exist"):
        parse_keep("0,30", 30)
    with pytest.raises(CrescentError, match="use 'every-other' or comma-separated"):
        parse_keep("half", 30)


def test_pruned_model_keeps_original_layers_and_decodes_with_cache(tmp_path: Path) -> None:
    source = build_tiny_model(tmp_path, layers=4)
    original = load_model(str(source), tokenizer=False).model
    pruned = keep_layers(load_model(str(source), tokenizer=False).model, [0, 2, 3])
    assert pruned.config.num_hidden_layers == 3
    assert [layer.self_attn.layer_idx for layer in pruned.model.layers] == [0, 1, 2]
    for new, old in zip(pruned.model.layers, [original.model.layers[i] for i in (0, 2, 3)], strict=True):
        assert torch.equal(new.mlp.down_proj.weight, old.mlp.down_proj.weight)
    ids = torch.tensor([[1, 9690, 198, 2683, 359, 253]])
    with torch.inference_mode():
        cached = pruned.generate(ids, max_new_tokens=6, do_sample=False)
        # Without a cache every step recomputes from scratch: equal only if the cache indexes layers right.
        uncached = pruned.generate(ids, max_new_tokens=6, do_sample=False, use_cache=False)
        assert not torch.equal(pruned(ids).logits, original(ids).logits)
    assert torch.equal(cached, uncached)


def test_prune_command_writes_a_loadable_student(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    result = CliRunner().invoke(
        app, ["prune", "--model", str(tiny_model_dir), "--keep", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "prune.json").read_text())
    assert summary["kept"] == [1] and summary["layers_before"] == 2 and summary["gguf"] == "model.gguf"
    assert (out / "model.gguf").read_bytes()[:4] == b"GGUF"
    assert load_model(str(out / "model"), tokenizer=False).model.config.num_hidden_layers == 1


def test_a_folder_of_other_files_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    from crescent.config import PruneConfig
    from crescent.train.prune import prune

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(CrescentError, match="not empty and holds no crescent prune run"):
        prune(PruneConfig(model=str(tmp_path / "no-such-model"), out=foreign))  # refused before loading it
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
