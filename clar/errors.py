"""The one error type users see: a single line that names the culprit and what to do."""


class ClarError(Exception):
    """A user-facing failure: bad parameter, missing file, failed download, diverged run.

    Stage scripts print ``error: <message>`` and exit 1 instead of a traceback.
    """


def invalid(source: object, key: str, value: object, allowed: str) -> ClarError:
    """A parameter's error in the one form users meet everywhere: the file, the key, the value
    given and what is allowed."""
    return ClarError(f"{source}: {key} = {value!r} is invalid; allowed: {allowed}")
