"""Progress that reads well both in a terminal and in a log.

- :func:`progress_bar`: every progress bar of the project. On a terminal it is tqdm as tqdm
  draws it; when its stream is not a terminal (CI, ``dvc exp run --queue``, output redirected
  to a file) it writes a plain line now and then, with the count, rate and time left, instead of
  hundreds of carriage-return redraws.
- :func:`announce_stage`: under ``dvc repro`` a stage says where it stands in the pipeline
  ("stage 7 of 26: train@speech-raw-hybrid"); DVC names the stage it runs but not its place.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from itertools import product
from pathlib import Path
from typing import Any, TextIO

import yaml
from tqdm import tqdm

# In a log, a line at most every LOG_SECONDS and every LOG_PERCENT % of the total: a bar
# writes at most 100 / LOG_PERCENT lines plus its first and last, however long it runs.
LOG_SECONDS = 30.0
LOG_PERCENT = 5.0


class _Lines:
    """A stream that writes each of tqdm's redraws as one line.

    tqdm has no line-per-update mode (tqdm/tqdm#750): it redraws with a carriage return and
    pads with spaces, so a log holds every redraw glued on one line. This drops the carriage
    returns, the padding and the blank redraws tqdm uses to erase a bar, and ends each
    remaining redraw with a newline.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").rstrip()
        if line:
            self._stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _LogBar(tqdm):
    """tqdm for a log: a new postfix waits for the next line that is due.

    tqdm redraws at once on every ``set_postfix`` (a line per epoch in a log) unless the caller
    passes ``refresh=False``; callers write for the terminal, so the log bar passes it.
    """

    def set_postfix(
        self, ordered_dict: Mapping | None = None, refresh: bool = True, **kw: Any
    ) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kw)


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(
    iterable: Iterable | None = None, *, file: TextIO | None = None, **options: Any
) -> tqdm:
    """A tqdm bar over ``iterable`` (or updated by hand), written to ``file`` (stderr).

    ``options`` are tqdm's (``total``, ``desc``, ``unit``, ``disable`` ...). Off a terminal the
    bar logs sparsely (:data:`LOG_SECONDS`, :data:`LOG_PERCENT`) and always leaves its last
    line; tqdm's own ``TQDM_MININTERVAL`` / ``TQDM_MINITERS`` environment variables override
    those two.
    """
    file = sys.stderr if file is None else file
    if is_terminal(file):
        return tqdm(iterable, file=file, **options)
    total = options.get("total")
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    log = {
        "mininterval": LOG_SECONDS,
        # tqdm prints when both this many units and mininterval have passed.
        "miniters": max(1.0, total * LOG_PERCENT / 100) if total else None,
        # tqdm's monitor thread would otherwise drop miniters to 1 after maxinterval (10 s)
        # without a line, and print on every update from then on.
        "maxinterval": float("inf"),
    }
    log = {k: v for k, v in log.items() if f"TQDM_{k.upper()}" not in os.environ}
    # A bar that erases itself on a terminal (leave=False) would leave no final count in a log.
    return _LogBar(iterable, file=_Lines(file), **{**log, **options, "leave": True})


def pipeline_stages(dvc_yaml: Mapping, params: Mapping) -> list[str]:
    """The stages of ``dvc_yaml`` (dvc.yaml, parsed) in the order it lists them, each
    ``matrix`` expanded as DVC names its members (``train@speech-raw-hybrid``).

    A matrix axis is a list or a ``${dotted.key}`` of ``params`` (params.yaml, parsed); DVC
    runs the stages in this order when dvc.yaml lists each stage after those it depends on
    (tests/test_progress.py checks that it does).
    """
    names = []
    for stage, body in dvc_yaml.get("stages", {}).items():
        matrix = body.get("matrix")
        if matrix is None:
            names.append(stage)
            continue
        axes = [_resolve(values, params) for values in matrix.values()]
        for combination in product(*(enumerate(axis) for axis in axes)):
            parts = [
                f"{key}{i}" if isinstance(value, (dict, list)) else str(value)
                for key, (i, value) in zip(matrix, combination, strict=True)
            ]
            names.append(f"{stage}@{'-'.join(parts)}")
    return names


def _resolve(values: object, params: Mapping) -> list:
    if isinstance(values, str) and values.startswith("${") and values.endswith("}"):
        for key in values[2:-1].split("."):
            params = params[key]
        values = params
    if not isinstance(values, list):
        raise TypeError(f"a matrix axis is not a list: {values!r}")
    return values


def announce_stage(environ: Mapping[str, str] = os.environ, stream: TextIO | None = None) -> None:
    """Print "stage k of N: <name>" when DVC runs this process as a stage.

    DVC gives its stage command ``DVC_STAGE`` (the stage's name) and ``DVC_ROOT``. N counts every
    stage of the pipeline: ``dvc repro`` skips the unchanged ones (it says so), so k can jump.
    Reading the two YAML files takes milliseconds; asking DVC itself (its Python API) for the
    stage list takes seconds per stage, as long as a short stage's work.
    """
    name, root = environ.get("DVC_STAGE"), environ.get("DVC_ROOT")
    # The processes torchrun starts for a data-parallel stage inherit DVC's variables; the stage's
    # own process has announced it already.
    if not name or not root or "RANK" in environ:
        return
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        dvc_yaml = yaml.load((Path(root) / "dvc.yaml").read_text(), Loader=loader)
        params = yaml.load((Path(root) / "params.yaml").read_text(), Loader=loader)
        stages = pipeline_stages(dvc_yaml, params)
    # A stage never fails for its counter: DVC itself validates dvc.yaml before it runs one.
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return
    if name in stages:
        print(f"stage {stages.index(name) + 1} of {len(stages)}: {name}", file=stream or sys.stderr)
