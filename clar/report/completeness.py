"""Which evaluations the parameters call for and the run folders lack.

The report is drawn from whatever evaluations it finds; a run killed before its evaluation, a
cell with fewer seeds than ``grid.seeds`` or a label fraction never scored would otherwise just
be absent from the tables, and a mean over two seeds would read as one over three. The report
stage refuses such a set of runs, naming what is missing, unless ``report.allow_incomplete`` is
set; then the front page lists what is missing.
"""

from __future__ import annotations

from pathlib import Path

from clar import runs
from clar.config import Params
from clar.errors import ClarError
from clar.layout import PARAMS
from clar.runs import Run
from clar.vocabulary import FULL_FRACTION

SHOWN = 10  # missing evaluations named in the error line; the rest are counted


def expected(params: Params) -> list[tuple[Run, str, float]]:
    """Every evaluation the parameters define, as (run, experiment, label fraction), in the
    order the stages of dvc.yaml train them."""
    grid, study, loss = params.grid, params.augmentation_study, params.loss
    out = []
    for dataset in params.data.names:
        for input in grid.inputs:
            fractions = grid.fractions_for(input)
            for objective in (*loss.fraction_trained, *loss.label_free):
                label_free = objective in loss.label_free
                for seed in grid.seeds:
                    for trained_at in (None,) if label_free else fractions:
                        run = runs.grid_run(
                            dataset, input, objective, trained_at, seed, grid.augmentations
                        )
                        scored = fractions if label_free else (run.fraction,)
                        out += [(run, runs.GRID, fraction) for fraction in scored]
    for dataset in study.datasets:
        for objective in loss.label_free:
            for combo in study.combos:
                run = Run(dataset, study.input, objective, FULL_FRACTION, study.seed, combo)
                out.append((run, runs.AUGMENTATION, FULL_FRACTION))
    return out


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
