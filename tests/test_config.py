"""Options refuse nonsense when they are parsed: NaN and inf, true as a number, bad YAML sections and
duplicate keys, unusable server URLs. Each refusal is a one-line CrescentError naming the option (and
the file, for YAML). Each option's role lives on its field, and the sets of options a resumed run may
change are derived from the roles."""

from __future__ import annotations

import math
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from crescent.cli.commands import COMMANDS, GROUPS
from crescent.config import (
    AuditConfig,
    BackendConfig,
    ContaminationConfig,
    DistillConfig,
    EvalConfig,
    GenerateConfig,
    ImproveConfig,
    Options,
    RunConfig,
    TrainConfig,
    VotingConfig,
    _read_yaml,
    check_base_url,
    fields_with,
    load_config,
    resumable_changes,
    role,
)
from crescent.errors import CrescentError

CONFIGS: list[type[BaseModel]] = [spec[0] for spec in COMMANDS.values()] + [
    spec[0] for _, subcommands in GROUPS.values() for spec in subcommands.values()
]


def _float_fields() -> list[tuple[type[BaseModel], str]]:
    found = []
    for cls in CONFIGS:
        for name, field in cls.model_fields.items():
            if float in (field.annotation, *typing.get_args(field.annotation)):
                found.append((cls, name))
    return found


FLOAT_FIELDS = _float_fields()


def test_every_float_option_is_found() -> None:
    names = {name for _, name in FLOAT_FIELDS}
    assert {"lr", "epochs", "vote_temperature", "dedup_threshold", "request_timeout_s", "top_p"} <= names


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize(("cls", "name"), FLOAT_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in FLOAT_FIELDS])
def test_nan_and_inf_are_refused_with_their_own_message(cls: type[BaseModel], name: str, bad: float) -> None:
    with pytest.raises(ValidationError) as info:
        cls.model_validate({name: bad})
    errors = [e for e in info.value.errors() if e["loc"] == (name,)]
    assert [e["type"] for e in errors] == ["finite_number"]  # not a range message such as "<= 2"


def test_the_cli_message_names_the_option_and_says_finite() -> None:
    with pytest.raises(CrescentError, match=r"^invalid option lr: inf is not a usable number; give a finite"):
        load_config(TrainConfig, None, data=Path("d.jsonl"), out=Path("o"), lr=math.inf)
    with pytest.raises(CrescentError, match=r"invalid option epochs: nan is not a usable number"):
        load_config(TrainConfig, None, data=Path("d.jsonl"), out=Path("o"), epochs=math.nan)


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("questions: true\n", ["questions", "(from", "expected a whole number, got true"]),
        ("dedup_threshold: false\n", ["dedup_threshold", "got false"]),
        ("votes: 3\nquestions: 4\nvotes: 5\n", ["c.yaml:3", "'votes'", "twice", "line 1"]),
    ],
)
def test_generate_yaml_refuses_bool_numbers_and_duplicate_keys(
    tmp_path: Path, text: str, needles: list[str]
) -> None:
    with pytest.raises(CrescentError) as info:
        load_config(GenerateConfig, _yaml(tmp_path, text), out=Path("o"))
    assert all(n in str(info.value) for n in needles), str(info.value)
    assert "c.yaml" in str(info.value)


IMPROVE_FLAGS = {"generate": {"votes": None}, "train": {"lr": None}, "eval": {"limit": None}}


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("generate: [1, 2]\neval: {data: b.jsonl}\n", ["generate", "mapping", "not list"]),
        ("train: null\neval: {data: b.jsonl}\n", ["train", "mapping", "not null"]),
        ("generate: 3\neval: {data: b.jsonl}\n", ["generate", "mapping", "not int"]),
        ("generate:\n  votes: 3\n  votes: 4\neval: {data: b.jsonl}\n", ["c.yaml:3", "'votes'", "twice"]),
    ],
)
def test_improve_yaml_sections_must_be_mappings(tmp_path: Path, text: str, needles: list[str]) -> None:
    """A section given as a list or null used to be replaced by defaults, and a 100-question round ran."""
    with pytest.raises(CrescentError) as info:
        load_config(ImproveConfig, _yaml(tmp_path, text), out=Path("o"), **IMPROVE_FLAGS)
    message = str(info.value)
    assert all(n in message for n in needles) and "c.yaml" in message, message
    assert "Section" not in message  # no class names


def test_a_list_section_is_refused_even_when_a_flag_sets_one_of_its_options(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "generate: [1, 2]\neval: {data: b.jsonl}\n")
    with pytest.raises(CrescentError, match="generate"):
        load_config(ImproveConfig, path, out=Path("o"), generate={"votes": 3}, eval={"limit": None})


def test_good_yaml_still_loads_and_flags_still_win(tmp_path: Path) -> None:
    text = "generate:\n  votes: 3\n  questions: 7\ntrain: {lr: 0.001}\neval: {data: b.jsonl}\nrounds: 2\n"
    config = load_config(ImproveConfig, _yaml(tmp_path, text), out=Path("o"), generate={"votes": 5})
    assert (config.generate.votes, config.generate.questions, config.train.lr) == (5, 7, 0.001)
    assert config.rounds == 2
    anchors = "base: &b {votes: 3}\ngenerate:\n  <<: *b\n  votes: 4\n"
    assert _read_yaml(_yaml(tmp_path, anchors))["generate"] == {"votes": 4}  # a merge key is no duplicate


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[::1:8000/v1", ["brackets"]),
        ("http://::1:8000/v1", ["port"]),
        ("http://host:99999/v1", ["port out of range"]),
        ("http://host:abc/v1", ["port"]),
        ("ftp://host/v1", ["scheme"]),
        ("http:///v1", ["no host"]),
        ("127.0.0.1:8000", ["scheme"]),
    ],
)
def test_unusable_server_urls_are_refused_when_parsed(url: str, words: list[str]) -> None:
    with pytest.raises(CrescentError) as info:
        load_config(GenerateConfig, None, out=Path("o"), backend="openai", base_url=url)
    message = str(info.value)
    assert message.startswith("invalid option base_url:") and url in message and "--base-url" in message
    assert all(w in message for w in words), message
    assert "Error" not in message  # no ValueError / OverflowError class names


def test_good_server_urls_pass() -> None:
    for url in ("http://127.0.0.1:8000/v1", "https://api.example.com/v1", "http://[::1]:8000", "http://h"):
        assert check_base_url(url) == url
        assert BackendConfig(backend="openai", base_url=url).base_url == url


# The sets as they were hand-written before the roles moved onto the fields (each command's
# RESUMABLE_CHANGES plus the input files its call site added): the derived sets must stay exactly these.
_RUNTIME = {
    "threads",
    "api_key_env",
    "request_timeout_s",
    "request_deadline_s",
    "retries",
    "concurrency",
    "request_budget",
    "token_budget",
}
_LABEL = {
    "min_consensus",
    "max_consensus",
    "drop_unfinished_votes",
    "drop_ties",
    "min_valid_votes",
    "arithmetic_check",
    "shortcut_filter",
    "self_check",
}
_SETTLING = {"votes", "adaptive_votes"}
_SAMPLING_PLACE = {"quiet", "executor", "ray_address", "workers"}


@pytest.mark.parametrize(
    ("cls", "roles", "expected"),
    [
        (BackendConfig, ("runtime",), _RUNTIME),
        (VotingConfig, ("label",), _LABEL),
        (VotingConfig, ("settling",), _SETTLING),
        (GenerateConfig, ("output",), {"paths", "pair_probes"}),
        (EvalConfig, ("code",), {"exec_timeout_s"}),
        (TrainConfig, ("dpo",), {"beta", "nll_weight", "pair_weights"}),
    ],
)
def test_role_sets_are_todays(cls: type[BaseModel], roles: tuple, expected: set[str]) -> None:
    assert fields_with(cls, *roles) == expected


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (
            GenerateConfig,
            {"out", "questions", "max_attempts", "questions_from"}
            | _SAMPLING_PLACE
            | _LABEL
            | _SETTLING
            | {"paths", "pair_probes"}
            | _RUNTIME,
        ),
        (ContaminationConfig, {"out", "quiet", "batch_size", "data", "against"} | _RUNTIME),
        (
            EvalConfig,
            {"out", "limit", "batch_size", "data", "fewshot_from"} | _SAMPLING_PLACE | _RUNTIME,
        ),
        (
            AuditConfig,
            {"out", "limit", "greedy", "batch_size", "data"}
            | _SAMPLING_PLACE
            | _LABEL
            | _SETTLING
            | _RUNTIME,
        ),
        (
            TrainConfig,
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
                "data",
            },
        ),
        (ImproveConfig, {"quiet", "threads", "out"}),
        (DistillConfig, {"quiet", "threads", "out"}),
    ],
)
def test_resumable_changes_are_todays(cls: type[Options], expected: set[str]) -> None:
    assert resumable_changes(cls) == expected


def test_label_fields_stay_readable_by_name() -> None:
    """pipeline/labels.py reads ``config.LABEL_FIELDS`` off a generate or audit config."""
    assert GenerateConfig.LABEL_FIELDS == AuditConfig.LABEL_FIELDS == _LABEL


def test_a_runtime_option_is_one_edit() -> None:
    """A new field with the runtime role resumes freely in a command, with nothing else to edit."""

    class WithRetryJitter(GenerateConfig):
        jitter_s: float = Field(0.0, json_schema_extra=role("runtime"))

    assert resumable_changes(WithRetryJitter) == resumable_changes(GenerateConfig) | {"jitter_s"}
    assert "jitter_s" in fields_with(WithRetryJitter, "runtime")
    assert "jitter_s" not in resumable_changes(RunConfig)  # RunConfig is no command: it resumes on nothing


def test_a_misspelt_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role 'runtine'"):
        role("runtine")  # type: ignore[arg-type]
