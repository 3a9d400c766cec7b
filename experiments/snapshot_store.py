"""Copy a run's SQLite store whole, even while its run is still writing to it (crescent.store.snapshot_store
says why `cp` will not do). Used to commit a stopped run's store (NAME-partial/) so a fresh clone resumes it,
and by experiments/common.sh `rescore` to score a finished audit's votes again without touching the original.

    python experiments/snapshot_store.py SOURCE.sqlite DEST.sqlite
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crescent.errors import CrescentError
from crescent.store import snapshot_store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the run's run.sqlite")
    parser.add_argument("dest", type=Path, help="where the copy goes (an older snapshot there is replaced)")
    args = parser.parse_args(argv)
    try:
        snapshot_store(args.source, args.dest)
    except CrescentError as error:
        sys.exit(f"snapshot_store: {error}")


if __name__ == "__main__":
    main()
