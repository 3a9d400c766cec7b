"""``crescent train --method dpo`` on a tiny random Llama: the margin grows, weights count, resume, GGUF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from trl import DPOTrainer

from crescent.backends.hf_loading import load_model
from crescent.config import TrainConfig
from crescent.errors import CrescentError
from crescent.train.dpo import make_trainer
from crescent.train.rows import read_pairs
from crescent.train.run import train

from .conftest import PAIRS, write_pairs


def dpo_config(model: Path, data: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(
        model=str(model),
        data=data,
        out=out,
        method="dpo",
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


def margins(model: torch.nn.Module, tokenizer, pairs=PAIRS) -> torch.Tensor:
    """log p(chosen) - log p(rejected) per toy pair, answer tokens only."""

    def answer_logp(question: str, answer: str) -> float:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
        )
        full = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}, {"role": "assistant", "content": answer}], tokenize=False
        )
        n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        ids = torch.tensor([tokenizer(full, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            logps = model(ids).logits[0, :-1].log_softmax(-1).gather(-1, ids[0, 1:, None])[:, 0]
        return float(logps[n_prompt - 1 :].sum())

    model.eval()
    return torch.tensor([answer_logp(q, c) - answer_logp(q, r) for q, c, r, _ in pairs])


def one_batch(trainer) -> dict:
    return next(iter(trainer.get_train_dataloader()))


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_dpo_moves_weights_and_grows_the_chosen_margin(
    tiny_model_dir: Path, pairs_data: Path, tmp_path: Path, lora: bool
) -> None:
    # The LoRA run also exports a GGUF and keeps its adapter (``crescent merge`` rebuilds the GGUF from it).
    config = dpo_config(
        tiny_model_dir,
        pairs_data,
        tmp_path / "run",
        lora=lora,
        max_steps=6,
        lr=3e-2 if lora else 3e-3,
        gguf=lora,
    )
    base = load_model(str(tiny_model_dir))
    before = margins(base.model, base.tokenizer)
    result = train(config)
    stats = json.loads(result.stats_path.read_text())
    assert stats["method"] == "dpo" and stats["weights"] == ("lora" if lora else "full")
    assert stats["steps"] == 6 and len(stats["dpo"]["curve"]) == 6
    assert stats["dpo"]["mean_pair_weight"] == pytest.approx(sum(p[3] for p in PAIRS) / len(PAIRS))
    assert stats["dpo"]["final_margin"] > stats["dpo"]["first_margin"]
    after = margins(load_model(str(result.model_dir)).model, base.tokenizer)
    assert (after - before).mean() > 1.0, (before, after)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(
        load_file(str(tiny_model_dir / "model.safetensors"))[q],
        load_file(str(result.model_dir / "model.safetensors"))[q],
    )
    if lora:
        assert (result.out / "adapter" / "adapter_config.json").is_file()
        assert result.gguf_path is not None and result.gguf_path.read_bytes()[:4] == b"GGUF"
        assert stats["adapter"] == "adapter"  # relative to the run folder


def test_unit_weights_give_trls_own_loss_and_weights_change_it(
    tiny_model_dir: Path, pairs_data: Path, tmp_path: Path
) -> None:
    loaded = load_model(str(tiny_model_dir))
    config = dpo_config(tiny_model_dir, pairs_data, tmp_path / "run", nll_weight=0.7)
    trainer = make_trainer(config, loaded, read_pairs(pairs_data, weighted=False))
    batch = trainer._prepare_inputs(one_batch(trainer))
    assert torch.equal(batch["weight"], torch.ones(4))
    model = trainer.model.train()
    ours = trainer.compute_loss(model, batch)
    trls = DPOTrainer.compute_loss(trainer, model, {k: v for k, v in batch.items() if k != "weight"})
    torch.testing.assert_close(ours, trls)

    weighted = make_trainer(config, loaded, read_pairs(pairs_data))
    batch = weighted._prepare_inputs(one_batch(weighted))
    assert sorted(batch["weight"].tolist()) == pytest.approx(sorted(p[3] for p in PAIRS))
    loss_weighted = weighted.compute_loss(model, batch)
    assert loss_weighted < ours - 1e-3  # weights below 1 shrink both terms
    halved = weighted.compute_loss(model, {**batch, "weight": batch["weight"] / 2})
    torch.testing.assert_close(halved, loss_weighted / 2)  # the loss is linear in the pair weights


def test_dpo_resumes_from_its_checkpoint(tiny_model_dir: Path, pairs_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = train(dpo_config(tiny_model_dir, pairs_data, out, max_steps=2, save_steps=2, lr=1e-3))
    assert first.stats.resumed_from is None and (out / "checkpoints" / "checkpoint-2").is_dir()
    again = train(dpo_config(tiny_model_dir, pairs_data, out, max_steps=3, save_steps=2, lr=1e-3))
    assert again.stats.resumed_from == "checkpoint-2"
    assert again.stats.steps == 3 and again.stats.steps_this_session == 1
    assert [p["step"] for p in again.stats.dpo["curve"]] == [1, 2, 3]


def test_bad_pairs_name_file_and_line(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.jsonl")
    lines = path.read_text().splitlines()
    row = json.loads(lines[1])
    for broken, message in (
        ({**row, "weight": 1.5}, r"pairs\.jsonl:2: 'weight' must be a number in \[0, 1\]"),
        ({**row, "weight": float("nan")}, r"pairs\.jsonl:2: 'weight' must be a number"),
        ({**row, "weight": "high"}, r"pairs\.jsonl:2: 'weight' must be a number"),
        ({**row, "chosen": "text"}, r"pairs\.jsonl:2: missing or empty field 'chosen'"),
        ({**row, "rejected": [{"role": "user", "content": "x"}]}, r"pairs\.jsonl:2: 'rejected' must be one"),
        ({**row, "prompt": row["chosen"]}, r"pairs\.jsonl:2: 'prompt' must end with a user turn"),
    ):
        path.write_text(lines[0] + "\n" + json.dumps(broken) + "\n")
        with pytest.raises(CrescentError, match=message):
            read_pairs(path)
    del row["weight"]
    path.write_text(json.dumps(row) + "\n")
    assert read_pairs(path)[0]["weight"] == 1.0
    path.write_text("\n")
    with pytest.raises(CrescentError, match="holds no pairs"):
        read_pairs(path)


def test_dpo_on_chat_rows_is_a_clear_error(tiny_model_dir: Path, chat_data: Path, tmp_path: Path) -> None:
    with pytest.raises(CrescentError, match=r"data\.jsonl:1: missing or empty field 'prompt'"):
        train(dpo_config(tiny_model_dir, chat_data, tmp_path / "run"))
    assert not (tmp_path / "run").exists()  # refused before the model loaded or --out was written
