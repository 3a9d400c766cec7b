"""``--method sft``: supervised fine-tuning on generate's ``data.jsonl``, loss on the answer only.

TRL's ``assistant_only_loss`` needs ``{% generation %}`` markers in the chat template, which SmolLM2's
template lacks (and TRL ships no patched copy of it), so each chat is split into a conversational *prompt*
(every turn before the last) and *completion* (the final assistant turn); TRL then tokenizes
``prompt + completion`` with the model's own template and sets the label of every prompt token to -100
(``completion_only_loss``). The completion includes the template's end-of-turn token, so the model also
learns to stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crescent.config import TrainConfig
from crescent.train.rows import read_chat_rows
from crescent.train.run import lora_config, training_arguments

if TYPE_CHECKING:
    from trl import SFTTrainer

    from crescent.backends.hf_loading import LoadedModel


def read_rows(config: TrainConfig) -> list[dict[str, Any]]:
    return read_chat_rows(config.data)


def make_trainer(config: TrainConfig, loaded: LoadedModel, rows: list[dict[str, Any]]) -> SFTTrainer:
    """The TRL trainer for one run (public so tests can inspect its tokenized dataset and labels)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(**training_arguments(config, SFTConfig), completion_only_loss=True)
    return SFTTrainer(
        model=loaded.model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=loaded.tokenizer,
        peft_config=lora_config(config),
    )


def method_stats(config: TrainConfig, trainer: SFTTrainer, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """SFT adds nothing to the shared stats: its loss is the loss curve."""
    return {}
