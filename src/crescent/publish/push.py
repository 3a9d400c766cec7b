"""Uploading an exported folder to the Hugging Face Hub: the one place that talks to it.

``huggingface_hub`` is imported here lazily; the local export is written before any of this runs, so a
missing token or a failed upload costs nothing but the upload.
"""

from __future__ import annotations

import re
from pathlib import Path

from crescent.errors import CrescentError
from crescent.locking import LOCK_NAME
from crescent.publish.target import MARKER

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def check_repo_id(repo_id: str) -> None:
    if not REPO_ID.match(repo_id):
        raise CrescentError(f"--push-to-hub {repo_id!r} is not OWNER/NAME (e.g. alice/crescent-math)")


def push(folder: Path, repo_id: str, *, private: bool) -> str:
    """Create (or reuse) the dataset repo and upload ``folder``; returns the dataset's URL."""
    try:
        import huggingface_hub
    except ImportError as exc:
        raise CrescentError(
            f"--push-to-hub needs huggingface_hub: pip install huggingface_hub; the export in {folder} "
            "is complete"
        ) from exc
    token = huggingface_hub.get_token()
    if not token:
        raise CrescentError(
            f"no Hugging Face token: run 'hf auth login' or set HF_TOKEN, then rerun; the export in {folder} "
            "is complete"
        )
    api = huggingface_hub.HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="dataset",
            commit_message="crescent export",
            ignore_patterns=[".cache/*", LOCK_NAME, MARKER],  # crescent's own bookkeeping stays local
        )
    except Exception as exc:  # the network boundary: any failure is one line, the folder stays
        detail = " ".join(str(exc).split())[:200]
        raise CrescentError(
            f"push to {repo_id} failed ({type(exc).__name__}: {detail}); the export in {folder} is complete, "
            "rerun to retry"
        ) from exc
    return f"https://huggingface.co/datasets/{repo_id}"
