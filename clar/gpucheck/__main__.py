"""``python -m clar.gpucheck OUT_DIR [--device cuda|cpu]``: :mod:`clar.gpucheck.runner`."""

import sys

from clar.cli import run
from clar.gpucheck.runner import main


def entry(argv: list[str]) -> None:
    if main(argv):
        sys.exit(1)


if __name__ == "__main__":
    run(entry)
