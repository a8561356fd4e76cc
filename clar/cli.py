"""What every entry point shares: one-line errors instead of tracebacks, the stage's place in the
pipeline and its time."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import psutil

from clar.atomic import write_json
from clar.errors import ClarError
from clar.layout import timing
from clar.progress import announce_stage


class Parser(argparse.ArgumentParser):
    """argparse with its errors as one line (exit status 1, like every other error)."""

    def error(self, message: str) -> NoReturn:
        raise ClarError(f"{self.prog}: {message}; see {self.prog} --help")


def run(main: Callable[[list[str]], object]) -> None:
    """Call ``main(sys.argv[1:])``; a :class:`ClarError` prints one line and exits 1.

    Under ``dvc repro`` it first says which stage of the pipeline this is.
    """
    announce_stage()
    try:
        main(sys.argv[1:])
    except ClarError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


def record_stage(output: Path, group: str) -> float:
    """Write the stage's group and wall time so far, from the start of its process (so imports
    count: they are a real share of a short stage), to :func:`clar.layout.timing` of its
    ``output``; return the seconds."""
    seconds = round(time.time() - psutil.Process().create_time(), 2)
    path = timing(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"group": group, "seconds": seconds})
    return seconds
