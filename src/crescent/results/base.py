"""The shape every run summary shares: typed fields for what crescent reads, every other key kept as is.

A summary file (``stats.json``, ``results.json`` ...) is read by the report, the card, ``improve`` and the
experiment scripts, and committed under ``experiments/results``. So a typed result must read any file an
older crescent wrote (fields it lacks stay unset) and write back the very bytes it read: the keys in the
file's order, keys no field names kept (pydantic's ``extra="allow"``), and a field the file lacks left out
(``exclude_unset``). Pydantic rather than dataclasses: it validates nested records from plain JSON and
keeps unknown keys, which dataclasses would need hand-written code for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    RootModel,
    ValidationError,
    model_serializer,
    model_validator,
)

from crescent.errors import CrescentError

Number = int | float  # a figure JSON may hold as either; pydantic keeps the type it read (5 stays 5)


class Record(BaseModel):
    """A JSON object with typed fields for the keys crescent reads; the rest ride along in file order."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    _keys: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> Any:
        record = handler(data)
        if isinstance(data, dict):
            record._keys = list(data)
        return record

    @model_serializer(mode="wrap")
    def _in_file_order(self, handler: Any) -> dict[str, Any]:
        values = handler(self)
        place = {key: i for i, key in enumerate(self._keys)}
        return dict(sorted(values.items(), key=lambda kv: place.get(kv[0], len(place))))

    def as_json(self) -> dict[str, Any]:
        """The record as the plain dict it was read from (or would be written as)."""
        return self.model_dump(mode="python", exclude_unset=True)


class ConfigEcho(Record):
    """The options a run was made with, as its summary echoes them (the command's config as JSON).

    Typed here are the ones reports and cards read; a summary written before an option existed lacks it
    (``None``), and every other option rides along untouched.
    """

    model: str | None = None  # None: the embedded default
    backend: str | None = None
    data: str | None = None
    exclude: list[str] | None = None
    questions: int | None = None
    votes: int | None = None
    dedup_threshold: Number | None = None
    paths: int | None = None
    solve_instruction: str | None = None


class SummaryFile:
    """``to_dir``/``from_dir`` for a run kind's summary: ``FILE`` in the run folder, written as
    ``json.dumps(..., indent=2)`` plus a newline, ``ASCII`` as each command has always written it."""

    FILE: ClassVar[str]
    ASCII: ClassVar[bool] = False  # rounds.json and train_stats.json escape non-ASCII; the rest do not

    @classmethod
    def path(cls, run_dir: Path | str) -> Path:
        return Path(run_dir) / cls.FILE

    @classmethod
    def exists_in(cls, run_dir: Path | str) -> bool:
        return cls.path(run_dir).is_file()

    @classmethod
    def from_json(cls, data: Any, source: Path | str = "") -> Self:
        try:
            return cls.model_validate(data)  # type: ignore[attr-defined]
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            raise CrescentError(
                f"{source or cls.FILE}: field '{where}' is not what crescent writes "
                f"({error['msg'].lower()}); the file was edited or written by another program: rerun "
                "the command that wrote it"
            ) from exc

    @classmethod
    def from_dir(cls, run_dir: Path | str) -> Self:
        path = cls.path(run_dir)
        return cls.from_json(read_json(path), path)

    def dumps(self) -> str:
        data = self.model_dump(mode="python", exclude_unset=True)  # type: ignore[attr-defined]
        return json.dumps(data, indent=2, ensure_ascii=self.ASCII) + "\n"

    def to_dir(self, run_dir: Path | str) -> Path:
        from crescent.store import write_atomic

        path = self.path(run_dir)
        write_atomic(path, self.dumps())
        return path


class Summary(SummaryFile, Record):
    """A summary that is one JSON object (all kinds but ``improve``'s list of rounds)."""


class SummaryList(SummaryFile, RootModel):  # type: ignore[type-arg]
    """A summary that is a JSON list (``rounds.json``); subclasses fix the item type."""


def read_json(path: Path | str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise CrescentError(f"{path} not found; is this the folder of a finished run?") from exc
    except json.JSONDecodeError as exc:
        raise CrescentError(f"{path} is not valid JSON (line {exc.lineno}); rerun the command") from exc
