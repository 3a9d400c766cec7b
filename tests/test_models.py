"""``--model hf://OWNER/REPO/FILE.gguf``: resolved through the Hub cache; the download is faked here."""

from __future__ import annotations

from pathlib import Path

import pytest

from crescent.errors import CrescentError
from crescent.models import parse_hub_reference, resolve_model


def test_hub_reference_is_downloaded_through_hf_hub_download(tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub

    cached = tmp_path / "model.gguf"
    cached.write_bytes(b"GGUF")
    calls = []

    def fake_download(*, repo_id: str, filename: str) -> str:
        calls.append((repo_id, filename))
        return str(cached)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert resolve_model("hf://bartowski/SmolLM2-360M-GGUF/sub/model-Q4.gguf") == str(cached)
    assert calls == [("bartowski/SmolLM2-360M-GGUF", "sub/model-Q4.gguf")]
    assert resolve_model("local.gguf") == "local.gguf"


def test_no_network_is_one_line_that_says_how_to_pass_a_local_file(monkeypatch) -> None:
    import huggingface_hub

    def offline(**_: str) -> str:
        raise huggingface_hub.errors.LocalEntryNotFoundError(
            "Cannot find the requested files in the disk cache and outgoing traffic has been disabled.\n"
            "To enable hf.co look-ups and downloads online, set 'local_files_only' to False."
        )

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(CrescentError) as failed:
        resolve_model("hf://owner/repo/file.gguf")
    message = str(failed.value)
    assert "\n" not in message and "--model PATH/TO/FILE.gguf" in message and "hf://owner/repo" in message


@pytest.mark.parametrize("bad", ["hf://owner/repo", "hf://owner", "hf:///repo/file.gguf"])
def test_malformed_hub_reference(bad: str) -> None:
    with pytest.raises(CrescentError, match=r"hf://OWNER/REPO/FILE\.gguf"):
        parse_hub_reference(bad)
