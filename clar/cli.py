"""What every entry point shares: one-line errors instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable

from clar.errors import ClarError


def run(main: Callable[[list[str]], object]) -> None:
    """Call ``main(sys.argv[1:])``; a :class:`ClarError` prints one line and exits 1."""
    try:
        main(sys.argv[1:])
    except ClarError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
