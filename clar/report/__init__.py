"""The report: the paper's tables, figures and claims, rendered from two tables.

:func:`build` is the ``report`` stage: it collects every run folder into ``results.csv`` (one
row per run and metric, :mod:`~clar.report.results`) and ``per_clip.csv`` (which test clips each
evaluation got right, :mod:`~clar.report.per_clip`) and renders the rest from those tables
alone, so any number in the reports, every interval included, can be re-checked from the CSVs.
The files it writes are declared in :mod:`~clar.report.files`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clar import grid
from clar.atomic import as_a_set, write_atomic, write_json, write_text
from clar.config import Params
from clar.report import (
    aggregate,
    claims,
    comparisons,
    completeness,
    confusions,
    e1,
    e2,
    e3,
    e4,
    files,
    forest,
    heads,
    index,
    per_clip,
    provenance,
    settings,
)
from clar.report.curves import write_curves
from clar.report.figures import write_figure
from clar.report.results import collect, select, selected, summary


def render(
    results: pd.DataFrame,
    run_info: dict,
    out_dir: Path,
    clips: pd.DataFrame | None = None,
) -> list[Path]:
    """Write every table, figure, the curves and index.md into out_dir; return the written
    paths.

    ``clips`` is the per-clip table (:mod:`~clar.report.per_clip`); without it every
    comparison says it cannot be judged. Every file of :data:`files.RENDERED` is always
    written, saying what is missing where an experiment has no rows, so the DVC stage's
    outputs never depend on the profile.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = aggregate.gather(results, run_info, clips)
    study = e1.augmentation_study(data.df)
    curves = e4.convergence_curves(data.df)
    races = e4.races(data, curves)
    compared = comparisons.grid_comparisons(data)
    tables = {
        files.E1_TABLE: e1.table(data, study),
        files.E2_TABLE: e2.table(data, compared),
        files.E3_TABLE: e3.table(data, compared),
        files.E4_TABLE: e4.table(data, curves, races),
        files.HEADS_TABLE: heads.table(data, run_info),
    }
    written = [write_text(out_dir / name, text) for name, text in tables.items()]
    found = claims.judge(data, study, compared, races)
    figures = {
        files.FOREST_FIGURE: forest.figure(found),
        files.E1_FIGURE: e1.figure(data, study),
        files.E2_FIGURE: e2.figure(data, compared, claims.corrected_states(found, 2)),
        files.E3_FIGURE: e3.figure(data, compared),
        files.E4_FIGURE: e4.figure(data, curves),
        files.CONFUSIONS_FIGURE: confusions.figure(confusions.best_confusions(data, run_info)),
    }
    for stem, fig in figures.items():
        written += write_figure(fig, out_dir, stem)
    written.append(write_curves(results, out_dir / files.CURVES))
    page = index.page(data, run_info, found, tables)
    written.append(write_text(out_dir / files.INDEX, page))
    return written


def build(
    params: Params, runs_dir: Path, prepared_dir: Path, features_dir: Path, out_dir: Path
) -> list[Path]:
    """The report stage: the runs the params define, from ``runs_dir``, into ``out_dir`` as
    :data:`files.ALL`; returns the written paths.

    Refuses when evaluations the params call for are missing, unless
    ``report.allow_incomplete`` (then run_info.json and index.md list them). The files are
    written apart and moved in together: a killed stage leaves the previous report whole.
    """
    absent = completeness.check(params, runs_dir)
    rev = provenance.git_revision()
    table = select(collect(runs_dir, params.profile, rev), params)
    outcomes = per_clip.collect(runs_dir)
    outcomes = outcomes[selected(outcomes, params)].reset_index(drop=True)
    data = list(params.data.names)
    info = provenance.run_info(data, prepared_dir, params.profile, rev, list(params.grid.seeds))
    # The switches where the pipeline may depart from the paper's protocol (docs/method.md).
    info["protocol"] = {
        "identical_views": params.augment.identical_views,
        "head_selection": params.evaluate.selection,
    }
    # The encoders in grid.inputs' order: E2 sets the others against the first.
    info["inputs"] = list(params.grid.inputs)
    # The grid's objectives: those the tables and claims speak of (a registered objective no
    # run used adds no row and no claim).
    info["objectives"] = list(grid.objectives(params))
    info["missing"] = absent
    if params.evaluate.extra_heads:  # only then: without them run_info.json stays as it was
        extra = list(params.evaluate.extra_heads)
        info["heads"] = {"head": params.evaluate.head, "extra_heads": extra}
    reason = provenance.e1_absent(params)
    if reason:  # only then: a run with E1 keeps its run_info.json as it was
        info["e1_absent"] = reason
    # What each run trained with, from its run.json: the front page's settings per objective.
    info["training"] = settings.collect(runs_dir, params)
    timings = provenance.timings(data, prepared_dir, features_dir, runs_dir)
    with as_a_set(out_dir) as work:
        written = [
            write_atomic(work / files.RESULTS, lambda tmp: table.to_csv(tmp, index=False)),
            write_atomic(work / files.PER_CLIP, lambda tmp: outcomes.to_csv(tmp, index=False)),
            write_json(work / files.RUN_INFO, info),
            write_json(work / files.SUMMARY, summary(table)),
            write_json(work / files.TIMINGS, timings),
            *render(table, info, work, outcomes),
        ]
    return [Path(out_dir) / path.name for path in written]
