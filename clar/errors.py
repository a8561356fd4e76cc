"""The one error type users see: a single line that names the culprit and what to do."""

import difflib
from collections.abc import Sequence


class ClarError(Exception):
    """A user-facing failure: bad parameter, missing file, failed download, diverged run.

    Stage scripts print ``error: <message>`` and exit 1 instead of a traceback.
    """


def invalid(source: object, key: str, value: object, allowed: str) -> ClarError:
    """A parameter's error in the one form users meet everywhere: the file, the key, the value
    given and what is allowed."""
    return ClarError(f"{source}: {key} = {value!r} is invalid; allowed: {allowed}")


def unknown_key(
    source: object, key: str, allowed: Sequence[str], what: str = "a parameter"
) -> ClarError:
    """A key that does not exist (``key`` dotted, its last part the name given), as one line
    with the nearest valid name and every valid one."""
    near = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(allowed), n=1)
    hint = f"did you mean '{near[0]}'? " if near else ""
    return ClarError(f"{source}: {key} is not {what}; {hint}allowed: {', '.join(allowed)}")
