"""What every entry point shares: one-line errors instead of tracebacks, and the stage's time."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from clar.errors import ClarError
from clar.layout import STAGE_FILE


def run(main: Callable[[list[str]], object]) -> None:
    """Call ``main(sys.argv[1:])``; a :class:`ClarError` prints one line and exits 1."""
    try:
        main(sys.argv[1:])
    except ClarError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


def record_stage(folder: Path, group: str) -> None:
    """Write ``folder/stage.json``: the stage group and the stage's wall time so far, from the
    start of its process (so imports count: they are a real share of a short stage)."""
    seconds = time.time() - psutil.Process().create_time()
    (folder / STAGE_FILE).write_text(
        json.dumps({"group": group, "seconds": round(seconds, 2)}) + "\n"
    )
