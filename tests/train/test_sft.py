"""``crescent train`` on a tiny random Llama: labels, full and LoRA training, resume, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from crescent.backends.hf_loading import load_model
from crescent.cli import app
from crescent.config import TrainConfig
from crescent.errors import ConfigMismatch, CrescentError
from crescent.results.train import TrainStats
from crescent.train.rows import read_chat_rows
from crescent.train.run import describe_checkpoints, last_complete_checkpoint, train
from crescent.train.supervised import make_trainer

from .conftest import ROWS


def tiny_config(model: Path, data: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(
        model=str(model),
        data=data,
        out=out,
        batch_size=4,
        max_length=96,
        logging_steps=1,
        save_steps=100,
        threads=2,
        quiet=True,
        gguf=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_only_answer_tokens_carry_labels(tiny_model_dir: Path, chat_data: Path, tmp_path: Path) -> None:
    loaded = load_model(str(tiny_model_dir))
    rows = read_chat_rows(chat_data)
    trainer = make_trainer(tiny_config(tiny_model_dir, chat_data, tmp_path / "run"), loaded, rows)
    tok = loaded.tokenizer
    for row, example in zip(rows, trainer.train_dataset, strict=True):
        prompt = tok.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
        ids, labels = example["input_ids"], example["labels"]
        assert ids[:n_prompt] == tok(prompt, add_special_tokens=False)["input_ids"]
        assert labels[:n_prompt] == [-100] * n_prompt
        assert labels[n_prompt:] == ids[n_prompt:]
        answer = tok.decode(ids[n_prompt:])
        assert answer.startswith(row["completion"][0]["content"])
        assert "<|im_end|>" in answer  # the end-of-turn token is trained, so the model learns to stop


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_training_changes_weights_and_lowers_loss(
    tiny_model_dir: Path, chat_data: Path, tmp_path: Path, lora: bool
) -> None:
    # Only the LoRA run exports a GGUF: the adapter must be merged before export (test_gguf_export.py
    # checks what the GGUF computes).
    config = tiny_config(
        tiny_model_dir,
        chat_data,
        tmp_path / "run",
        lora=lora,
        max_steps=8,
        lr=3e-2 if lora else 5e-3,
        gguf=lora,
    )
    result = train(config)
    stats = json.loads(result.stats_path.read_text())
    assert stats["method"] == "sft" and stats["weights"] == ("lora" if lora else "full")
    assert stats["steps"] == 8 and len(stats["loss_curve"]) == 8
    assert stats["final_loss"] < 0.8 * stats["first_loss"]
    assert stats["tokens_seen"] > 0 and stats["tokens_per_s"] > 0
    assert stats["config"]["lora"] is lora
    by_epoch = TrainStats.from_dir(result.out).loss_by_epoch
    assert by_epoch and f"mean loss by epoch {' -> '.join(map(str, by_epoch))}," in result.describe()
    before, after = weights(tiny_model_dir), weights(result.model_dir)
    assert before.keys() == after.keys()  # a LoRA adapter is merged: plain Llama tensors, nothing extra
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(before[q], after[q])
    if lora:  # LoRA leaves what it does not target (embeddings, norms) untouched
        assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
    assert not (result.model_dir / "adapter_config.json").exists()
    if lora:
        assert result.gguf_path == tmp_path / "run" / "model.gguf" and stats["gguf"] == "model.gguf"
        assert result.gguf_path.read_bytes()[:4] == b"GGUF"
    assert load_model(str(result.model_dir), tokenizer=False).model.config.num_hidden_layers == 2


def test_resumes_from_last_checkpoint_and_refuses_changed_options(
    tiny_model_dir: Path, chat_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    first = train(tiny_config(tiny_model_dir, chat_data, out, max_steps=2, save_steps=2, lr=1e-3))
    assert first.stats.resumed_from is None
    clock = out / "checkpoints" / "checkpoint-2" / "crescent_time.json"
    assert 0 < json.loads(clock.read_text())["train_time_s"] <= first.stats.train_time_s
    clock.write_text('{"train_time_s": 10')  # damaged: the resume stops with the file's name, before training
    with pytest.raises(CrescentError, match=r"checkpoint-2/crescent_time.json is unreadable.*delete it"):
        train(tiny_config(tiny_model_dir, chat_data, out, max_steps=3, save_steps=2, lr=1e-3))
    clock.write_text('{"train_time_s": 1000.0}')  # as if the first session had been long: the clock goes on

    moved = tmp_path / "elsewhere" / "same-data.jsonl"  # the data is compared by content, not path
    moved.parent.mkdir()
    moved.write_bytes(chat_data.read_bytes())
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(moved),
            "--out",
            str(out),
            "--max-steps",
            "3",
            "--lr",
            "1e-3",
            "--batch-size",
            "4",
            "--max-length",
            "96",
            "--save-steps",
            "2",
            "--threads",
            "2",
            "--no-gguf",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "train_stats.json").read_text())
    assert stats["resumed_from"] == "checkpoint-2"
    assert stats["steps"] == 3 and stats["steps_this_session"] == 1
    assert stats["train_time_s"] > 1000.0  # both sessions' time
    assert [p["step"] for p in stats["loss_curve"]] == [1, 2, 3]  # the history survives the resume

    with pytest.raises(ConfigMismatch, match="lr"):
        train(tiny_config(tiny_model_dir, chat_data, out, max_steps=4, save_steps=2, lr=5e-3))


def test_bad_data_names_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    good = json.dumps(
        {"messages": [{"role": "user", "content": ROWS[0][0]}, {"role": "assistant", "content": ROWS[0][1]}]}
    )
    data.write_text(good + "\n" + json.dumps({"question": "q", "answer": "1"}) + "\n")
    with pytest.raises(CrescentError, match=r"data\.jsonl:2: missing or empty field 'messages'"):
        read_chat_rows(data)
    data.write_text(good + "\n\n" + json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    with pytest.raises(CrescentError, match=r"data\.jsonl:3: 'messages' must end with an assistant turn"):
        read_chat_rows(data)
    data.write_text(json.dumps({"messages": [{"role": "robot", "content": "q"}]}) + "\n")
    with pytest.raises(CrescentError, match=r"data\.jsonl:1: each item of 'messages' needs a role"):
        read_chat_rows(data)
    data.write_text("\n")
    with pytest.raises(CrescentError, match="holds no rows"):
        read_chat_rows(data)


def test_unloadable_model_is_one_clear_error(chat_data: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(CrescentError, match=r"has no config\.json"):
        train(tiny_config(broken, chat_data, tmp_path / "a"))
    (broken / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(CrescentError, match="cannot load a"):
        train(tiny_config(broken, chat_data, tmp_path / "b"))
    fake_gguf = tmp_path / "model.gguf"
    fake_gguf.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(CrescentError, match="cannot load a"):
        train(tiny_config(fake_gguf, chat_data, tmp_path / "c"))


@pytest.mark.parametrize("damage", ["no-state", "half-state"])
def test_a_checkpoint_whose_save_was_cut_short_is_skipped_on_resume(
    tiny_model_dir: Path, chat_data: Path, tmp_path: Path, damage: str
) -> None:
    """Old behaviour: every rerun picked the newest folder, loaded the model, and failed on its missing
    ``trainer_state.json``. The trainer writes that file last: without it (or with half of it) the save
    did not finish, and the checkpoint before it is the one to resume."""
    out = tmp_path / "run"
    train(tiny_config(tiny_model_dir, chat_data, out, max_steps=2, save_steps=2, threads=1))
    checkpoints = out / "checkpoints"
    partial = checkpoints / "checkpoint-4"
    shutil.copytree(checkpoints / "checkpoint-2", partial)  # a later save, stopped before its state
    state = partial / "trainer_state.json"
    if damage == "no-state":
        state.unlink()
    else:
        state.write_text(state.read_text()[:40])
    assert last_complete_checkpoint(checkpoints) == checkpoints / "checkpoint-2"
    assert describe_checkpoints(checkpoints) == "saved checkpoint-2"
    result = train(tiny_config(tiny_model_dir, chat_data, out, max_steps=4, save_steps=2, threads=1))
    assert result.stats.resumed_from == "checkpoint-2" and result.stats.steps == 4
    assert last_complete_checkpoint(checkpoints) == partial  # the rerun's own save replaced the partial one


def test_no_complete_checkpoint_means_a_fresh_start(tmp_path: Path) -> None:
    assert last_complete_checkpoint(tmp_path / "missing") is None
    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / "checkpoint-x").mkdir()
    assert last_complete_checkpoint(tmp_path) is None
    assert describe_checkpoints(tmp_path) == "nothing was saved"


def test_a_loss_that_becomes_nan_stops_training_and_saves_no_model(
    tiny_model_dir: Path, chat_data: Path, tmp_path: Path
) -> None:
    """A finite but absurd learning rate blows the weights up: the run must fail, not save an all-NaN
    model and report success."""
    out = tmp_path / "run"
    with pytest.raises(CrescentError, match=r"training diverged: the (loss|grad norm) became (nan|inf)"):
        train(tiny_config(tiny_model_dir, chat_data, out, max_steps=4, lr=1e30, threads=1))
    assert not (out / "model").exists() and not (out / "train_stats.json").exists()
