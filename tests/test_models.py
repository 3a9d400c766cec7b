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


def test_a_real_download_with_no_network_is_quiet_and_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The real hub client against a closed port: its retries used to print a dozen lines, and the
    useful part of its message was cut off."""
    import time

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(time, "sleep", lambda _: None)  # the hub backs off for ~25 s between retries
    with pytest.raises(CrescentError) as failed:
        resolve_model("hf://owner/repo/file.gguf")
    message = str(failed.value)
    assert message.startswith("cannot download --model hf://owner/repo/file.gguf: the Hugging Face Hub ")
    assert "cannot be reached (" in message and "not in the local cache" in message
    assert "\n" not in message and "Error" not in message and "--model PATH/TO/FILE.gguf" in message
    assert capfd.readouterr().err == ""  # no "Retrying in 1s [Retry 1/5]" lines


def test_a_missing_hub_file_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def missing(**_: str) -> str:
        raise huggingface_hub.errors.EntryNotFoundError("404 Client Error.\n\nEntry Not Found for url: ...")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", missing)
    with pytest.raises(CrescentError, match=r"repo owner/repo has no file sub/f\.gguf; check the file name"):
        resolve_model("hf://owner/repo/sub/f.gguf")
