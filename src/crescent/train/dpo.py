"""``--method dpo``: prefer the majority answer to the least-voted one, on generate's ``pairs.jsonl``.

Written against TRL 1.x's ``DPOTrainer`` (pyproject pins ``trl>=1.16,<2``): the subclass below uses its
fused LM head (``fused_lm_head=True`` returns per-token log-probs) and its metric store.

The loss is ScPO's (arXiv 2411.04109): DPO's sigmoid loss plus an NLL term on the chosen answer (without
it, DPO lowers the chosen answers' likelihood too; IRPO, arXiv 2404.19733), both scaled per pair by the
pair's ``weight``, the vote margin ``(votes_chosen - votes_rejected) / K``, so a question the votes
barely settled teaches little. The installed TRL (1.x) writes DPO + NLL as ``loss_type=["sigmoid",
"sft"]`` with ``loss_weights=[1, nll_weight]``; that is what :func:`make_trainer` configures.

Why a subclass: TRL's ``DPOTrainer`` has no per-example weights (its ``use_weighting`` is WPO's weight
computed from the policy's own probabilities, a different thing), and it drops unknown columns. So
:class:`WeightedDPOTrainer` keeps the ``weight`` column, passes it through the collator and computes the
same two losses with each pair's term multiplied by its weight. With every weight 1 the loss is TRL's
own, to float precision (``tests/train/test_dpo.py`` checks this against TRL's ``compute_loss``).

Reference log-probs are computed once before training (``precompute_ref_log_probs``), so no second
model sits in memory and each step costs one forward of the policy; with LoRA the reference is the
model with its adapter disabled. A resumed run recomputes them from the same starting model (the
trainer is built, and the reference scored, before the checkpoint's weights are loaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from crescent.config import TrainConfig
from crescent.train.rows import read_pairs
from crescent.train.run import lora_config, training_arguments

if TYPE_CHECKING:
    from crescent.backends.hf_loading import LoadedModel

LOSS_TYPES = ["sigmoid", "sft"]  # DPO + NLL on the chosen answer, in the order of ``loss_weights``
_NOT_MODEL_INPUTS = ("completion_mask", "ref_chosen_logps", "ref_rejected_logps", "weight")
# TRL's per-step logs kept in train_stats.json's curve (DPO's own figures; "loss" is the sum).
CURVE_KEYS = ("loss", "dpo_loss", "nll_loss", "rewards/margins", "rewards/accuracies", "logps/chosen")


def read_rows(config: TrainConfig) -> list[dict[str, Any]]:
    return read_pairs(config.data, weighted=config.pair_weights)


@dataclass
class WeightedPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator, plus each pair's ``weight`` as a float tensor (1.0 when absent)."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().torch_call(examples)
        batch["weight"] = torch.tensor([float(e.get("weight", 1.0)) for e in examples])
        return batch


class WeightedDPOTrainer(DPOTrainer):
    """DPO + NLL with per-pair weights (see the module docstring for why it exists)."""

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if "weight" not in self._signature_columns:
            self._signature_columns.append("weight")

    def compute_ref_log_probs(self, model: Any, inputs: dict[str, Any]) -> Any:
        return super().compute_ref_log_probs(model, {k: v for k, v in inputs.items() if k != "weight"})

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        if self.loss_types != LOSS_TYPES:
            raise ValueError(f"WeightedDPOTrainer computes {LOSS_TYPES}, not {self.loss_types}")
        weight = inputs["weight"].to(inputs["input_ids"].device)
        completion_mask = inputs["completion_mask"]
        mask = completion_mask[:, 1:]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        model_inputs = {k: v for k, v in inputs.items() if k not in _NOT_MODEL_INPUTS}
        outputs = model(**model_inputs, labels=labels, use_cache=False, fused_lm_head=True)
        per_token = outputs.log_probs[:, -mask.size(1) :] * mask
        chosen_logps, rejected_logps = per_token.sum(dim=1).chunk(2)
        if self.precompute_ref_logps:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_chosen, ref_rejected = self.compute_ref_log_probs(self.ref_model or self.model, inputs)
        chosen_ratio, rejected_ratio = chosen_logps - ref_chosen, rejected_logps - ref_rejected
        dpo = -F.logsigmoid(self.beta * (chosen_ratio - rejected_ratio))
        chosen_mask, _ = mask.chunk(2)
        chosen_token_logps, _ = per_token.chunk(2)
        # TRL's "sft" term is the mean NLL over every chosen token of the batch; weighting each pair's
        # tokens keeps that form, so weights of 1 give TRL's loss exactly.
        nll = -(weight * chosen_token_logps.sum(dim=1)).sum() / chosen_mask.sum().clamp(min=1)
        dpo_loss = (weight * dpo).mean()
        dpo_weight, nll_weight = self.loss_weights
        loss = dpo_weight * dpo_loss + nll_weight * nll
        self._log_pair_metrics(dpo_loss, nll, chosen_ratio, rejected_ratio, chosen_logps, rejected_logps)
        return (loss, outputs) if return_outputs else loss

    def _log_pair_metrics(
        self,
        dpo_loss: torch.Tensor,
        nll: torch.Tensor,
        chosen_ratio: torch.Tensor,
        rejected_ratio: torch.Tensor,
        chosen_logps: torch.Tensor,
        rejected_logps: torch.Tensor,
    ) -> None:
        """The figures TRL's own loss logs (rewards, margins, accuracies, log-probs), and the two terms."""
        mode = "train" if self.model.training else "eval"
        gather = self.accelerator.gather_for_metrics
        chosen_rewards = self.beta * chosen_ratio.detach()
        rejected_rewards = self.beta * rejected_ratio.detach()
        figures = {
            "dpo_loss": dpo_loss.detach(),
            "nll_loss": nll.detach(),
            "rewards/chosen": chosen_rewards,
            "rewards/rejected": rejected_rewards,
            "rewards/margins": chosen_rewards - rejected_rewards,
            "rewards/accuracies": (chosen_rewards > rejected_rewards).float(),
            "logps/chosen": chosen_logps.detach(),
            "logps/rejected": rejected_logps.detach(),
        }
        for name, value in figures.items():
            self._metrics[mode][name].append(gather(value).float().mean().item())


def make_trainer(config: TrainConfig, loaded: LoadedModel, rows: list[dict[str, Any]]) -> WeightedDPOTrainer:
    from datasets import Dataset

    tokenizer = loaded.tokenizer
    args = DPOConfig(
        **training_arguments(config, DPOConfig),
        beta=config.beta,
        loss_type=list(LOSS_TYPES),
        loss_weights=[1.0, config.nll_weight],
        precompute_ref_log_probs=True,
    )
    collator = WeightedPreferenceCollator(
        pad_token_id=tokenizer.pad_token_id,
        max_length=args.max_length,
        truncation_mode=args.truncation_mode,
        pad_to_multiple_of=args.pad_to_multiple_of,
    )
    return WeightedDPOTrainer(
        model=loaded.model,
        args=args,
        data_collator=collator,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(config),
    )


def method_stats(config: TrainConfig, trainer: DPOTrainer, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The DPO terms and reward margins per logged step, and the pair weights trained on."""
    curve = [
        {"step": e["step"], **{k: round(e[k], 5) for k in CURVE_KEYS if k in e}}
        for e in trainer.state.log_history
        if "dpo_loss" in e
    ]
    weights = [row["weight"] for row in rows]
    return {
        "dpo": {
            "beta": config.beta,
            "nll_weight": config.nll_weight,
            "pair_weights": config.pair_weights,
            "mean_pair_weight": round(sum(weights) / len(weights), 4),
            "curve": curve,
            "first_margin": curve[0].get("rewards/margins") if curve else None,
            "final_margin": curve[-1].get("rewards/margins") if curve else None,
            "final_accuracy": curve[-1].get("rewards/accuracies") if curve else None,
        }
    }
