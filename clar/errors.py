"""The one error type users see: a single line that names the culprit and what to do."""


class ClarError(Exception):
    """A user-facing failure: bad parameter, missing file, failed download, diverged run.

    Stage scripts print ``error: <message>`` and exit 1 instead of a traceback.
    """
