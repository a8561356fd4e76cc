"""Which evaluations the parameters call for and the run folders lack.

The report is drawn from whatever evaluations it finds; a run killed before its evaluation, a
cell with fewer seeds than ``grid.seeds`` or a label fraction never scored would otherwise just
be absent from the tables, and a mean over two seeds would read as one over three. The report
stage refuses such a set of runs, naming what is missing, unless ``report.allow_incomplete`` is
set; then the front page lists what is missing.
"""

from __future__ import annotations

from pathlib import Path

from clar import grid, runs
from clar.config import Params
from clar.errors import ClarError
from clar.layout import PARAMS
from clar.runs import Run

SHOWN = 10  # missing evaluations named in the error line; the rest are counted


def expected(params: Params) -> list[tuple[Run, str, float]]:
    """Every evaluation the parameters define (:func:`clar.grid.every_run`), as (run,
    experiment, label fraction), in the order the stages of dvc.yaml train them."""
    return [
        (scored.run, cell.experiment, fraction)
        for cell, scored in grid.every_run(params)
        for fraction in scored.fractions
    ]


def missing(params: Params, runs_dir: Path) -> list[str]:
    """The evaluations of :func:`expected` without their scores or per-clip predictions under
    ``runs_dir``, each as ``<run folder>/<missing file>``."""
    out = []
    for run, experiment, fraction in expected(params):
        folder = runs.folder(run, experiment, runs_dir)
        for name in (runs.evaluation_file(fraction), runs.predictions_file(fraction)):
            if not (folder / name).is_file():
                out.append(str(folder / name))
    return out


def check(params: Params, runs_dir: Path) -> list[str]:
    """:func:`missing`, refused in one line unless ``report.allow_incomplete`` is set."""
    absent = missing(params, runs_dir)
    if absent and not params.report.allow_incomplete:
        more = f" and {len(absent) - SHOWN} more" if len(absent) > SHOWN else ""
        raise ClarError(
            f"{len(absent)} evaluation file(s) that {PARAMS} calls for are missing: "
            f"{', '.join(absent[:SHOWN])}{more}; run `dvc repro` to finish those runs, or set "
            "report.allow_incomplete: true to report without them (index.md lists them)"
        )
    return absent
