"""One config object per command: it is the Python API, the CLI flags and the YAML file.

Defaults and help live here only (as in TRL's dataclass configs). Precedence:
model defaults < YAML file < explicit CLI flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from crescent.errors import ConfigMismatch, CrescentError

# A short prompt: on SmolLM2-135M it gave more usable questions than a longer list of demands
# (benchmarks/README.md, "Design measurements").
DEFAULT_BAIT_PROMPT = (
    "Create a new math word problem for high-school students. Write only the problem, ending with a question."
)
MAX_QUESTIONS = 100_000  # one run's --questions: bigger is weeks of CPU, and almost surely a typo
DEFAULT_SOLVE_INSTRUCTION = (
    "Solve the following math problem step by step. "
    "Finish with a final line of the form 'The answer is N.' where N is a number."
)


class BackendConfig(BaseModel):
    """Which model, through which engine, and how long and how much a remote server may take."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(
        None, description="GGUF path, HF folder or hub id; empty = embedded SmolLM2-135M"
    )
    backend: str = Field(
        "llamacpp",
        description="inference engine: llamacpp, llamacpp-simple, transformers, openai, fake, or a plugin's",
    )
    n_ctx: int = Field(2048, ge=256, description="context window (llama.cpp)")
    threads: int | None = Field(
        None, ge=1, description="CPU threads (default: the cores not already busy, at least 1)"
    )
    batch_size: int = Field(16, ge=1, le=512, description="sequences decoded together")
    base_url: str | None = Field(None, description="OpenAI-compatible server URL (backend=openai)")
    api_key_env: str = Field("OPENAI_API_KEY", description="env var holding the API key (backend=openai)")
    request_timeout_s: float = Field(
        120.0, gt=0.0, le=86_400.0, description="seconds one HTTP request may wait for its answer (openai)"
    )
    request_deadline_s: float = Field(
        600.0,
        gt=0.0,
        le=86_400.0,
        description="seconds one request may take with all its retries; then the run stops, resumably "
        "(openai)",
    )
    retries: int = Field(4, ge=0, le=20, description="retries of a failed or timed-out request (openai)")
    concurrency: int = Field(8, ge=1, le=1024, description="HTTP requests in flight at once (openai)")
    request_budget: int | None = Field(
        None, ge=1, description="stop after sending this many HTTP requests, retries included (openai)"
    )
    token_budget: int | None = Field(
        None, ge=1, description="stop once the server reports this many tokens used (openai)"
    )

    # How the work runs, never what it produces: a resumed run may change them freely.
    RUNTIME_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "threads",
            "api_key_env",
            "request_timeout_s",
            "request_deadline_s",
            "retries",
            "concurrency",
            "request_budget",
            "token_budget",
        }
    )

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from crescent.backends.registry import available

        if value not in available():
            raise ValueError(f"unknown backend '{value}'; choose one of: {', '.join(sorted(available()))}")
        return value


class RunConfig(BackendConfig):
    """A command that samples through an executor (local, or Ray actors each holding a backend)."""

    executor: Literal["local", "ray"] = Field("local", description="where sampling runs")
    ray_address: str | None = Field(None, description="Ray cluster address (ray://host:10001 or auto)")
    workers: int = Field(2, ge=1, description="Ray actors, each holding one backend")
    quiet: bool = Field(False, description="no progress bars")

    @field_validator("ray_address", "workers")
    @classmethod
    def _ray_only(cls, value: Any, info: ValidationInfo) -> Any:
        # Only given values reach here (no validate_default): a flag that would be silently ignored.
        if info.data.get("executor", "local") != "ray" and value is not None:
            flag = "--address" if info.field_name == "ray_address" else "--workers"
            raise ValueError(f"{flag} applies only with --executor ray; add --executor ray or drop {flag}")
        return value


class VotingConfig(RunConfig):
    """How questions are answered and labelled: shared by ``generate`` and ``audit`` so the audit measures
    exactly the labelling path that makes training data (see ``crescent.pipeline.labels``)."""

    votes: int = Field(5, ge=1, le=64, description="sampled answers per question (the most, when adaptive)")
    seed: int = Field(0, description="seed for every sample of the run")
    solve_instruction: str = Field(DEFAULT_SOLVE_INSTRUCTION, min_length=1)
    vote_temperature: float = Field(0.7, ge=0.0, le=2.0)
    vote_top_p: float = Field(0.95, gt=0.0, le=1.0)
    vote_max_tokens: int = Field(320, ge=8, description="cap on each vote's length in tokens")
    adaptive_votes: bool = Field(
        False, description="draw votes in waves and stop a question once no further vote can change it"
    )
    min_consensus: float = Field(
        0.5, ge=0.0, le=1.0, description="drop questions whose winning share is below this"
    )
    max_consensus: float = Field(
        1.0, ge=0.0, le=1.0, description="drop questions whose winning share is above this (difficulty band)"
    )
    drop_unfinished_votes: bool = Field(
        True, description="votes cut at the token cap or without an answer do not vote"
    )
    drop_ties: bool = Field(True, description="no label when two answers share the top vote count")
    min_valid_votes: int = Field(2, ge=1, description="a label needs at least this many votes that voted")
    arithmetic_check: bool = Field(
        True, description="the chosen solution's stated 'a op b = c' steps must hold"
    )
    shortcut_filter: bool = Field(
        True, description="drop answers copied from the question when the solution does no valid arithmetic"
    )
    self_check: bool = Field(
        False,
        description="ask the same model whether each question has exactly one numeric answer and drop it on "
        "'no' (one greedy sample of a few tokens per question)",
    )

    # Label options: a pure function of the stored votes, so changing them relabels without sampling
    # (switching ``self_check`` on samples only the verdicts still missing, never a vote).
    LABEL_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "min_consensus",
            "max_consensus",
            "drop_unfinished_votes",
            "drop_ties",
            "min_valid_votes",
            "arithmetic_check",
            "shortcut_filter",
            "self_check",
        }
    )

    @model_validator(mode="after")
    def _band(self) -> VotingConfig:
        if self.max_consensus < self.min_consensus:
            raise ValueError(
                f"max_consensus ({self.max_consensus}) must be >= min_consensus ({self.min_consensus})"
            )
        return self


class GenerateConfig(VotingConfig):
    """``crescent generate``: bait -> self-dedup -> majority vote -> DIR/data.jsonl + DIR/stats.json."""

    out: Path = Field(..., description="run directory (created; resumed if it holds a run)")
    questions: int = Field(
        100, ge=1, description=f"accepted questions wanted (at most {MAX_QUESTIONS:,}; split bigger jobs)"
    )
    bait_prompt: str = Field(DEFAULT_BAIT_PROMPT, min_length=1)
    bait_temperature: float = Field(0.9, ge=0.0, le=2.0)
    bait_top_p: float = Field(0.95, gt=0.0, le=1.0)
    bait_max_tokens: int = Field(128, ge=8)
    max_attempts: int | None = Field(None, ge=1, description="bait samples budget (default 20 x questions)")
    dedup_threshold: float = Field(
        0.75,
        gt=-1.0,
        le=1.0,
        description="reject a question whose centered cosine to its nearest accepted one is >= this "
        "(0.75: scripts/calibrate_dedup.py on SmolLM2-135M: 96% paraphrase recall, 3% false rejection)",
    )
    exclude: list[Path] = Field(
        default_factory=list, description="JSONL files whose questions must not be produced"
    )

    @field_validator("questions")
    @classmethod
    def _sane_size(cls, value: int) -> int:
        # Weeks of CPU and a store of millions of rows: almost surely a typo (an extra zero or three).
        if value > MAX_QUESTIONS:
            raise ValueError(
                f"{value:,} questions is more than the {MAX_QUESTIONS:,} one run may ask for; "
                "run several --out directories with different --seed values instead"
            )
        return value

    @model_validator(mode="after")
    def _budget(self) -> GenerateConfig:
        if self.max_attempts is not None and self.max_attempts < self.questions:
            raise ValueError(f"max_attempts ({self.max_attempts}) must be >= questions ({self.questions})")
        return self

    @property
    def attempt_budget(self) -> int:
        return self.max_attempts or 20 * self.questions

    # Fields that may change between a run and its resume without changing its data.
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = (
        frozenset(
            {
                "out",
                "questions",
                "max_attempts",
                "quiet",
                "executor",
                "ray_address",
                "workers",
            }
        )
        | VotingConfig.LABEL_FIELDS
        | BackendConfig.RUNTIME_FIELDS
    )


NGRAM = 13  # the GPT-3 / Llama-2 contamination studies' word n-gram


class ContaminationConfig(BackendConfig):
    """``crescent contamination``: flag generated questions that share a 13-gram with, or embed near, a
    benchmark question -> DIR/summary.json + DIR/flagged.jsonl."""

    data: Path = Field(..., description="generated JSONL (generate's data.jsonl) with 'question' per row")
    against: list[Path] = Field(..., min_length=1, description="benchmark JSONL files, 'question' per row")
    out: Path = Field(..., description="output folder: flagged.jsonl and summary.json")
    ngram: int = Field(NGRAM, ge=1, le=64, description="word n-gram size of the overlap check")
    threshold: float = Field(
        GenerateConfig.model_fields["dedup_threshold"].default,
        gt=-1.0,
        le=1.0,
        description="flag a centered cosine >= this (default: generate's dedup threshold for the same model)",
    )
    embeddings: bool = Field(True, description="also run the embedding check (loads the model)")
    quiet: bool = Field(False, description="no spinner")

    # Options that change how the check runs, never what it flags.
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = (
        frozenset({"out", "quiet", "batch_size"}) | BackendConfig.RUNTIME_FIELDS
    )


C = TypeVar("C", bound=BaseModel)


def load_config(cls: type[C], yaml_path: Path | None = None, **overrides: Any) -> C:
    """Build ``cls`` from an optional YAML file plus explicit overrides (``None`` = not given)."""
    values: dict[str, Any] = {}
    if yaml_path is not None:
        try:
            raw = Path(yaml_path).read_bytes()
            loaded = yaml.safe_load(raw.decode("utf-8"))
        except FileNotFoundError as exc:
            raise CrescentError(f"config file not found: {yaml_path}") from exc
        except OSError as exc:
            raise CrescentError(f"cannot read config file {yaml_path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise CrescentError(
                f"{yaml_path}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8"
            ) from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise CrescentError(f"malformed YAML in {yaml_path}{where}: fix the syntax") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise CrescentError(f"config file {yaml_path} must hold a mapping of option: value")
        values.update(loaded or {})
    _merge(values, overrides)
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "config"
        source = f" (from {yaml_path})" if yaml_path and field in (values.keys() - overrides.keys()) else ""
        message = first["msg"].removeprefix("Value error, ")
        raise CrescentError(f"invalid option {field}{source}: {message}") from exc


def _merge(values: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Explicit overrides win; ``None`` means not given; nested sections merge key by key."""
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            _merge(values[key], value)
        elif isinstance(value, dict):
            values[key] = {}
            _merge(values[key], value)
        else:
            values[key] = value


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_same_config(stored: dict[str, Any], current: dict[str, Any], where: Path | str) -> None:
    """The one check every resumable command makes: a rerun must not contradict the run it resumes.

    Nested sections compare field by field, so the message names ``generate.votes``, not ``generate``.
    """
    old, new = _flat(stored), _flat(current)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed:
        detail = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:3])
        raise ConfigMismatch(
            f"{where} holds a run with a different config ({detail}); "
            "rerun with the original options or use a new --out directory"
        )


def fingerprint(config: BaseModel, ignore: frozenset[str]) -> dict[str, Any]:
    """The part of a config that determines the run's data, as JSON-safe values."""
    return {k: v for k, v in config.model_dump(mode="json").items() if k not in ignore}


class EvalConfig(RunConfig):
    """``crescent eval``: accuracy (maj@K) of a model on a JSONL benchmark of question/answer rows
    -> DIR/results.json (accuracy, Wilson 95% CI) + DIR/predictions.jsonl."""

    out: Path = Field(..., description="run directory (created; resumed if it holds this eval)")
    data: Path = Field(..., description="JSONL benchmark: {'question', 'answer'} per line, 'id' optional")
    limit: int | None = Field(None, ge=1, description="evaluate only the first N items (default: all)")
    shots: int = Field(0, ge=0, le=32, description="worked examples before each question (few-shot)")
    fewshot_from: Path | None = Field(
        None,
        validate_default=True,
        description="JSONL with 'question' and 'solution' (or GSM8K-style 'answer') to draw shots from",
    )
    votes: int = Field(1, ge=1, le=64, description="sampled answers per question; the majority one is scored")
    seed: int = Field(0, description="seed for shot selection and every sample")
    temperature: float | None = Field(
        None, ge=0.0, le=2.0, description="sampling temperature (default: 0 for one vote, 0.7 for several)"
    )
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(320, ge=8, description="cap on each answer's length in tokens")
    solve_instruction: str = Field(DEFAULT_SOLVE_INSTRUCTION, min_length=1)

    @field_validator("fewshot_from")
    @classmethod
    def _shots_source(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A field validator (not a model one) so the error names the option to set.
        shots = info.data.get("shots", 0)
        if shots and value is None:
            raise ValueError(f"--shots {shots} needs --fewshot-from FILE.jsonl (worked examples)")
        return value

    @property
    def sampling_temperature(self) -> float:
        """Greedy decoding is the usual single-answer score; maj@K needs diverse samples to vote on."""
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.votes == 1 else 0.7

    # Fields that may change between an eval and its resume without changing any item's result: each item's
    # samples are seeded by the item id alone, so batch size and where the work runs do not matter, and
    # ``limit`` only says how many items to score (extend it to evaluate more).
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = (
        frozenset(
            {
                "out",
                "limit",
                "quiet",
                "batch_size",
                "executor",
                "ray_address",
                "workers",
            }
        )
        | BackendConfig.RUNTIME_FIELDS
    )


class AuditConfig(VotingConfig):
    """``crescent audit``: the labelling path of generate, on gold-answered questions: how often is a
    kept label right? -> DIR/audit.json + DIR/audit.html. Every voting and filter option of generate
    applies."""

    out: Path = Field(..., description="audit directory: audit.json, audit.html (resumed if it holds one)")
    data: Path = Field(..., description="JSONL with 'question' and 'answer' per line (e.g. GSM8K train)")
    limit: int | None = Field(None, ge=1, description="audit only the first N items (default: all)")
    greedy: bool = Field(False, description="also score one greedy answer per question")

    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = (
        frozenset(
            {
                "out",
                "limit",
                "greedy",
                "quiet",
                "batch_size",
                "executor",
                "ray_address",
                "workers",
            }
        )
        | VotingConfig.LABEL_FIELDS
        | BackendConfig.RUNTIME_FIELDS
    )


class TrainConfig(BaseModel):
    """``crescent train``: supervised fine-tuning on data.jsonl chat rows (loss on the answer only)
    -> DIR/model, DIR/model.gguf, DIR/train_stats.json."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(
        None, description="GGUF path, HF folder or hub id; empty = embedded SmolLM2-135M"
    )
    data: Path = Field(
        ..., description="JSONL with a 'messages' chat per row (crescent generate's data.jsonl)"
    )
    out: Path = Field(..., description="output folder: model/, model.gguf, train_stats.json, checkpoints/")
    lora: bool = Field(
        False, description="train a LoRA adapter (merged before saving) instead of all weights"
    )
    lora_r: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    epochs: float = Field(1.0, gt=0.0, description="passes over the data (ignored when max_steps is set)")
    lr: float | None = Field(None, gt=0.0, description="learning rate (default 2e-4 with LoRA, 2e-5 full)")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; overrides epochs")
    seed: int = Field(0, description="seed for initialization of LoRA weights, shuffling and dropout")
    batch_size: int = Field(8, ge=1, le=512, description="rows per device step")
    grad_accum: int = Field(1, ge=1, description="steps accumulated per optimizer update")
    max_length: int = Field(1024, ge=32, description="tokens per row; longer rows are truncated")
    warmup_steps: int = Field(0, ge=0)
    save_steps: int = Field(100, ge=1, description="checkpoint every this many steps (resumed on rerun)")
    logging_steps: int = Field(1, ge=1, description="record the loss every this many steps")
    threads: int | None = Field(None, ge=1, description="CPU threads (default: all cores)")
    gguf: bool = Field(True, description="also write model.gguf for the llama.cpp backend")
    gguf_dtype: Literal["f16", "f32", "q8_0", "q4_k_m"] = Field(
        "f16", description="GGUF weight type; q8_0/q4_k_m quantize with llama.cpp (compare like with like)"
    )
    quiet: bool = False

    # Fields that may change between a run and its resume from a checkpoint.
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = frozenset(
        {
            "out",
            "epochs",
            "max_steps",
            "save_steps",
            "logging_steps",
            "threads",
            "gguf",
            "gguf_dtype",
            "quiet",
        }
    )

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (2e-4 if self.lora else 2e-5)


class PruneConfig(BaseModel):
    """``crescent prune``: a weaker student made by dropping decoder layers (see crescent.train.prune)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(
        None, description="GGUF path, HF folder or hub id; empty = embedded SmolLM2-135M"
    )
    keep: str = Field(
        "every-other", description="'every-other' (plus the last layer) or layer numbers '0,2,29'"
    )
    out: Path = Field(..., description="output folder: model/ and model.gguf")
    gguf: bool = Field(True, description="also write model.gguf for the llama.cpp backend")
    gguf_dtype: Literal["f16", "f32", "q8_0", "q4_k_m"] = Field(
        "f16", description="GGUF weight type; q8_0/q4_k_m quantize with llama.cpp (compare like with like)"
    )


def _section(base: type[C], owned: tuple[str, ...], doc: str) -> type[C]:
    """``base`` with the fields ``improve`` fills in per round made optional (and hidden from the CLI)."""
    fields: dict[str, Any] = {name: (Any, Field(None, exclude=True)) for name in owned}
    section = create_model(
        f"{base.__name__.removesuffix('Config')}Section", __base__=base, __doc__=doc, **fields
    )
    section.IMPROVE_OWNS = frozenset(owned)  # type: ignore[attr-defined]
    return section


GenerateSection = _section(
    GenerateConfig,
    ("out", "model"),
    "``improve``'s generate step: every GenerateConfig option but out/model.",
)
TrainSection = _section(
    TrainConfig,
    ("out", "model", "data"),
    "``improve``'s train step: every TrainConfig option but out/model/data.",
)
EvalSection = _section(
    EvalConfig, ("out", "model"), "``improve``'s eval step: every EvalConfig option but out/model."
)


class ImproveConfig(BaseModel):
    """``crescent improve``: round 0 evaluates; then each round generates, trains, evaluates
    -> rounds.json + report.html. Sections: --generate.*, --train.*, --eval.*.

    It *holds* the three commands' configs as sections (YAML ``generate:``/``train:``/``eval:`` mappings,
    or ``--generate.votes 3``-style flags), so every option of those commands is reachable here and is
    defined once. ``improve`` fills in only what a round decides: each step's ``out``, the model (the
    current one, or the teacher when distilling), the training data, and ``generate.seed + round``.
    The generate step also excludes ``eval.data`` from the questions it may produce.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    out: Path = Field(..., description="run directory: round-N/{data,train,eval}, rounds.json, report.html")
    model: str | None = Field(None, description="starting model (GGUF path); empty = embedded SmolLM2-135M")
    student: str | None = Field(
        None, description="distillation: train this model (GGUF/HF) on data from --model, not --model itself"
    )
    rounds: int = Field(1, ge=1, le=20, description="rounds of generate -> train -> eval")
    threads: int | None = Field(
        None, ge=1, description="CPU threads for every step (overrides the sections')"
    )
    quiet: bool = Field(False, description="no progress bars in any step")
    generate: GenerateSection = Field(default_factory=GenerateSection)  # type: ignore[valid-type]
    train: TrainSection = Field(default_factory=TrainSection)  # type: ignore[valid-type]
    eval: EvalSection  # type: ignore[valid-type]


class ExportConfig(BaseModel):
    """``crescent export``: a generate run's kept rows (or an eval's predictions) as a Hugging Face dataset
    folder with a dataset card, optionally pushed to the Hub."""

    model_config = ConfigDict(extra="forbid")

    run_dir: Path = Field(..., description="folder of a finished generate or eval run")
    to: Path = Field(..., description="dataset folder to write: README.md (the card) and data/")
    format: Literal["parquet", "jsonl"] = Field("parquet", description="data file format")
    push_to_hub: str | None = Field(None, description="also upload to this Hub dataset repo (OWNER/NAME)")
    private: bool = Field(False, description="create the Hub repo private (with --push-to-hub)")
    license: str | None = Field(
        None, description="license id for the card (default: the model's; 'other' when unknown)"
    )
    audit: Path | None = Field(
        None, description="folder of a crescent audit: its label precision goes in the card"
    )


class ReportConfig(BaseModel):
    """``crescent report``: one self-contained HTML page for a generate, eval, audit or improve folder."""

    model_config = ConfigDict(extra="forbid")

    run_dir: Path = Field(..., description="folder of a finished generate, eval, audit or improve run")
    out: Path | None = Field(None, description="HTML file to write (default: RUN_DIR/report.html)")


class CompareConfig(BaseModel):
    """``crescent eval compare``: paired comparison of two evals on the items both scored."""

    model_config = ConfigDict(extra="forbid")

    baseline: Path = Field(..., description="baseline eval folder (A)")
    candidate: Path = Field(..., description="candidate eval folder (B)")
    out: Path | None = Field(None, description="also write the comparison to this JSON file")
    resamples: int = Field(10_000, ge=100, description="paired bootstrap resamples")
    seed: int = Field(0, description="bootstrap seed")


class ModelsListConfig(BaseModel):
    """``crescent models list``: the named models, and where each is (or would be) cached."""

    model_config = ConfigDict(extra="forbid")


class ModelsPullConfig(BaseModel):
    """``crescent models pull``: download, join and verify a named model; then pass --model NAME to any
    command."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="a name from 'crescent models list'")
