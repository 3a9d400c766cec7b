"""``crescent train``: fine-tune a model on crescent's own data, by SFT or DPO, full or LoRA, resumable.

The driver both methods share. A method decides only how its training file is read
(:mod:`crescent.train.rows`), which TRL trainer runs on the rows and what it adds to the stats
(:mod:`crescent.train.supervised` for ``--method sft``, :mod:`crescent.train.dpo` for ``--method dpo``);
loading, the training arguments, LoRA, checkpoints and resume, saving, GGUF export and the stats are this
module's, once.

The run folder holds ``checkpoints/`` (every ``save_steps``; a rerun resumes from the newest one, if the
config that shapes the training is unchanged), then ``adapter/`` (LoRA only: the trained adapter alone, in
bfloat16, to commit; ``crescent merge`` rebuilds ``model.gguf`` from it and the base model), ``model/`` (HF
folder; a LoRA adapter is merged first), ``model.gguf`` (for the llama.cpp backend) and
``train_stats.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
import warnings
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from crescent import interrupts
from crescent.config import TrainConfig, fields_with
from crescent.errors import CrescentError
from crescent.results.train import GgufSkipped, TrainStats
from crescent.run_folder import RunFolder, fingerprint, read_record, resumes, write_record
from crescent.runs import path_in_run
from crescent.store import write_atomic
from crescent.threads import default_threads

if TYPE_CHECKING:
    from peft import LoraConfig
    from transformers import Trainer

    from crescent.backends.hf_loading import LoadedModel

_CHECKPOINT = re.compile(r"checkpoint-(\d+)")  # the trainer's folder names
RECORD = "train_config.json"  # what shaped the run: a folder holding it is a train run
ADAPTER_DIR = "adapter"
# --method -> the module that reads its rows (``read_rows``), builds its TRL trainer (``make_trainer``) and
# adds its own figures to the stats (``method_stats``); imported when used, so ``--help`` stays light.
METHODS = {"sft": "crescent.train.supervised", "dpo": "crescent.train.dpo"}


@dataclass
class TrainResult:
    out: Path
    model_dir: Path
    gguf_path: Path | None
    stats_path: Path
    stats: TrainStats

    def stdout(self) -> str:
        return str(self.model_dir)

    def describe(self) -> str:
        s = self.stats
        resumed = f", resumed from {s.resumed_from}" if s.resumed_from else ""
        by_epoch = " -> ".join(str(loss) for loss in s.loss_by_epoch) or "—"
        line = (
            f"done ({s.method}, {s.weights}{resumed}): {s.steps} steps, mean loss by epoch {by_epoch}, "
            f"{s.tokens_per_s} tok/s in {s.train_time_s} s"
        )
        skipped = s.gguf.skipped if isinstance(s.gguf, GgufSkipped) else None
        return line if self.gguf_path else f"{line}\nno GGUF written: {skipped}"


def train(config: TrainConfig) -> TrainResult:
    """Fine-tune, save ``model/`` (+ ``model.gguf``) and ``train_stats.json``; resumes a checkpointed run.

    Everything that can be checked cheaply (the data, ``--out``, a resumed run's options) is checked
    before the model loads, and the run is recorded in ``--out`` only after it has loaded.
    """
    import torch

    torch.set_num_threads(config.threads or default_threads())
    if config.quiet:
        _silence_progress_bars()
    method = import_module(METHODS[config.method])
    rows = method.read_rows(config)
    out = Path(config.out)
    checkpoints = out / "checkpoints"
    with RunFolder(out, "train", RECORD).hold(lambda: describe_checkpoints(checkpoints)):
        return _train(config, method, rows, out, checkpoints)


def _train(
    config: TrainConfig, method: ModuleType, rows: list[dict], out: Path, checkpoints: Path
) -> TrainResult:
    from crescent.backends.hf_loading import load_model

    wanted, resume_from = _resume_point(config, out, checkpoints)
    loaded = load_model(config.model)
    write_record(out / RECORD, wanted)
    trainer = method.make_trainer(config, loaded, rows)
    if config.quiet:
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    meter = _Meter(resume_from)
    trainer.add_callback(meter)
    trainer.add_callback(StopOnNonFiniteLoss())
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    model = trainer.model
    if config.lora:
        with warnings.catch_warnings():  # peft looks for a config.json beside a GGUF base; none is needed
            warnings.filterwarnings("ignore", message="Could not find a config file")
            # before merging: the adapter, worth committing; merged from exactly what the file holds
            model.save_pretrained(str(out / ADAPTER_DIR), state_dict=_round_adapter(model))
        model = model.merge_and_unload()
    model_dir = out / "model"
    model.save_pretrained(str(model_dir))
    loaded.tokenizer.save_pretrained(str(model_dir))
    gguf_path, gguf_note = _export(config, model, loaded)
    stats = _stats(config, trainer, model, meter, rows, resume_from, gguf_path, gguf_note)
    stats.update(method.method_stats(config, trainer, rows))
    summary = TrainStats.from_json(stats)
    stats_path = summary.to_dir(out)
    return TrainResult(out, model_dir, gguf_path, stats_path, summary)


def _round_adapter(model: Any) -> dict[str, Any]:
    """Round the trained LoRA weights to bfloat16 in place, and return them in bfloat16 for the adapter file.

    The committed adapter is then half the size (17 MB, not 34, for r = 16 on Qwen-0.5B), and the model that
    is exported and evaluated is merged from exactly the values the file holds, so ``crescent merge`` still
    rebuilds it tensor for tensor. bfloat16 moves each LoRA weight by at most 2^-8 of itself, far below what
    the 4- or 8-bit export of the merged model rounds away."""
    import torch

    rounded = {}
    for name, param in model.named_parameters():
        if "lora_" in name:
            half = param.data.to(torch.bfloat16)
            param.data.copy_(half)
            rounded[name] = half
    return rounded


def training_arguments(config: TrainConfig, args_class: type) -> dict[str, Any]:
    """The ``TrainingArguments`` fields every method sets the same way (TRL's SFTConfig and DPOConfig both
    extend it); ``args_class`` is the one the method uses, to pick names this transformers version knows."""
    import torch

    cuda = torch.cuda.is_available()
    # 135M-class models fit in memory; recomputing activations would only slow training down. Newer
    # transformers renamed the option (the old name still works but warns).
    fields = {f.name for f in dataclasses.fields(args_class)}
    checkpointing = next(n for n in ("activation_checkpointing", "gradient_checkpointing") if n in fields)
    return {
        "output_dir": str(Path(config.out) / "checkpoints"),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps or -1,
        "learning_rate": config.learning_rate,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "warmup_steps": config.warmup_steps,
        "max_length": config.max_length,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        "seed": config.seed,
        "data_seed": config.seed,
        "report_to": "none",
        "use_cpu": not cuda,
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "include_num_input_tokens_seen": "non_padding",
        "logging_nan_inf_filter": False,  # a NaN loss must reach the log, where StopOnNonFiniteLoss sees it
        "disable_tqdm": config.quiet,
        "dataloader_num_workers": 0,
        checkpointing: False,
    }


def lora_config(config: TrainConfig) -> LoraConfig | None:
    """The adapter both methods train with ``--lora`` (None: all weights train)."""
    if not config.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def _resume_point(config: TrainConfig, out: Path, checkpoints: Path) -> tuple[dict[str, Any], Path | None]:
    """What shapes this run, and the checkpoint to resume from (refusing a changed config).

    The data is compared by content, not by the path as typed: ``--data ./d.jsonl`` and
    ``--data /abs/d.jsonl`` are the same run, and an edited file at the same path is not.
    """
    ignored: frozenset[str] = frozenset()
    if config.method == "sft":  # the record of an SFT run from before --method existed still matches
        ignored = fields_with(TrainConfig, "dpo") | {"method"}
    wanted = fingerprint(config, {"data": config.data}, ignore=ignored)
    last = last_complete_checkpoint(checkpoints)  # the work a train run holds
    saved = read_record(out / RECORD) if last else None
    if saved is not None:
        saved.pop("data", None)  # records before 0.2 also held the path as typed
    resumes(out, wanted, saved)
    return wanted, last


def last_complete_checkpoint(checkpoints: Path) -> Path | None:
    """The newest ``checkpoint-N`` whose save finished.

    The trainer writes ``trainer_state.json`` last, and not atomically, so a save cut short by a signal
    or a kill leaves a folder without it (or with half of it); resuming from such a folder loads the model
    and then fails, on every rerun. The one before it is complete.
    """
    if not checkpoints.is_dir():
        return None
    numbered = [(int(m.group(1)), p) for p in checkpoints.iterdir() if (m := _CHECKPOINT.fullmatch(p.name))]
    for _, folder in sorted(numbered, reverse=True):
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return folder
    return None


def describe_checkpoints(checkpoints: Path) -> str:
    """What an interrupted train keeps: its newest complete checkpoint."""
    last = last_complete_checkpoint(checkpoints)
    return f"saved {last.name}" if last else interrupts.NOTHING_SAVED


def _silence_progress_bars() -> None:
    """``--quiet`` means quiet: datasets' map bars, transformers' and the hub's bars and warnings too, and
    TRL's bar over the reference log-probs (it reads only ``TQDM_DISABLE``)."""
    import os

    import datasets
    import huggingface_hub
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    huggingface_hub.utils.disable_progress_bars()
    os.environ.setdefault("TQDM_DISABLE", "1")


def _export(config: TrainConfig, model: Any, loaded: LoadedModel) -> tuple[Path | None, str | None]:
    """Write model.gguf; a model the exporter cannot express is reported in the stats, not fatal,
    because the HF folder is already saved and usable with ``--backend transformers``."""
    if not config.gguf:
        return None, "disabled (--no-gguf)"
    from crescent.train.gguf_export import export_run_model

    try:
        path = export_run_model(model, loaded, Path(config.out), config.gguf_dtype)
    except CrescentError as exc:
        return None, str(exc)
    return path, None


class StopOnNonFiniteLoss(TrainerCallback):
    """A loss (or gradient norm) that is NaN or infinite means the weights are, or are about to be, garbage:
    stop with an error instead of saving an all-NaN model and exiting 0. Checked at each logged step
    (``--logging-steps``), whose loss is the mean over the steps since the last one, so a NaN anywhere
    in between shows too."""

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for name in ("loss", "grad_norm"):
            value = (logs or {}).get(name)
            if isinstance(value, int | float) and not math.isfinite(value):
                raise CrescentError(
                    f"training diverged: the {name.replace('_', ' ')} became {value} at step "
                    f"{state.global_step} (learning rate {args.learning_rate:g}); no model was saved; "
                    "lower --lr and rerun with a new --out"
                )


class _Meter(TrainerCallback):
    """Wall time of all sessions, tokens of this session (a resumed run's state also counts its checkpoint's).

    The trainer's state keeps no wall time, so each checkpoint gets ``TIME_FILE`` with the seconds spent up
    to it, and a resumed run starts its clock there: a training cut by a session's end then still reports
    what it cost in all.
    """

    TIME_FILE = "crescent_time.json"

    def __init__(self, resume_from: Path | None = None) -> None:
        self.started = self.ended = time.perf_counter()
        self.tokens_start = self.tokens_end = 0
        self.steps_start = 0
        self.earlier_s = 0.0  # a checkpoint from before this file existed: its sessions' time is unknown
        if resume_from is not None and (resume_from / self.TIME_FILE).is_file():
            path = resume_from / self.TIME_FILE
            try:
                self.earlier_s = float(json.loads(path.read_text(encoding="utf-8"))["train_time_s"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CrescentError(
                    f"{path} is unreadable ({exc!r}); delete it to resume, and train_time_s will count "
                    "from this session"
                ) from exc

    @property
    def seconds(self) -> float:
        return self.earlier_s + self.ended - self.started

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.ended = time.perf_counter()
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"  # the trainer's naming
        if folder.is_dir():
            write_atomic(folder / self.TIME_FILE, json.dumps({"train_time_s": round(self.seconds, 2)}))

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.perf_counter()
        self.tokens_start = self.tokens_end = state.num_input_tokens_seen
        self.steps_start = state.global_step

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.ended = time.perf_counter()
        self.tokens_end = state.num_input_tokens_seen


def _stats(
    config: TrainConfig,
    trainer: Trainer,
    model: Any,
    meter: _Meter,
    rows: list[dict[str, Any]],
    resume_from: Path | None,
    gguf_path: Path | None,
    gguf_note: str | None,
) -> dict[str, Any]:
    state = trainer.state
    curve = [{"step": e["step"], "loss": round(e["loss"], 5)} for e in state.log_history if "loss" in e]
    seconds = meter.ended - meter.started
    tokens = meter.tokens_end - meter.tokens_start
    return {
        "method": config.method,
        "weights": "lora" if config.lora else "full",
        "adapter": ADAPTER_DIR if config.lora else None,  # paths relative to the run folder
        "rows": len(rows),
        "steps": state.global_step,
        "steps_this_session": state.global_step - meter.steps_start,
        "epochs": round(state.epoch or 0.0, 4),
        "learning_rate": config.learning_rate,
        "loss_curve": curve,
        "first_loss": curve[0]["loss"] if curve else None,
        "final_loss": curve[-1]["loss"] if curve else None,
        "train_time_s": round(meter.seconds, 2),  # all sessions
        "tokens_seen": state.num_input_tokens_seen,
        "tokens_per_s": round(tokens / seconds, 1) if seconds > 0 else 0.0,  # this session
        "parameters": sum(p.numel() for p in model.parameters()),
        "resumed_from": resume_from.name if resume_from else None,
        "gguf": path_in_run(gguf_path, config.out) if gguf_path else {"skipped": gguf_note},
        "config": config.model_dump(mode="json"),
    }
