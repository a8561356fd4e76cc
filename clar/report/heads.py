"""The head table: every grid run scored by each head of ``evaluate.extra_heads`` beside
``evaluate.head``, on the same frozen embeddings and labelled clips.

Per data set, encoder, objective and label fraction: each head's test accuracy (mean over seeds)
and its paired difference against the evaluation head, in points, runs paired by seed and test
clip as E3 pairs objectives (:func:`clar.report.comparisons.compare`). The file is always
written (dvc.yaml declares it); without extra heads it says so in one line, and index.md links
it only when it holds a table.
"""

from __future__ import annotations

from clar.report.aggregate import (
    Data,
    fractions_of,
    inputs_of,
    objective_name,
    objectives_of,
)
from clar.report.comparisons import compare, compared_augmentations
from clar.report.intervals import PAIRED
from clar.report.per_clip import head_config
from clar.report.results import ACCURACY, head_metric
from clar.report.tables import cell, md_table
from clar.report.verdicts import MARKS_LEGEND
from clar.runs import GRID

TITLE = "Evaluation heads"
# What heads.md says when the parameters score no head beside evaluate.head.
NONE = "No evaluation head was scored beside `evaluate.head` (`evaluate.extra_heads` is empty).\n"


def heads_of(run_info: dict) -> tuple[str, list[str]]:
    """``evaluate.head`` and ``evaluate.extra_heads`` as :func:`clar.report.build` records
    them in run_info.json (only when there are extra heads)."""
    heads = run_info.get("heads") or {}
    return str(heads.get("head", "")), list(heads.get("extra_heads", []))


def present(run_info: dict) -> bool:
    """Whether the report has a head table (index.md links it only then)."""
    return bool(heads_of(run_info)[1])


def _dataset_table(data: Data, dataset: str, head: str, extra: list[str]) -> str:
    grid = data.grid.get(ACCURACY, {})
    augs = compared_augmentations(data)
    header = ["encoder", "objective", "fraction", head]
    for other in extra:
        header += [other, f"{other} − {head}, points [95 % CI]"]
    rows = []
    for input_ in inputs_of(grid, dataset):
        for objective in objectives_of(grid, data.objectives, dataset, input_):
            for fraction in fractions_of(grid, dataset, input_):
                key = (dataset, input_, objective, fraction)
                if key not in grid:
                    continue
                row = [input_, objective_name(objective), data.fraction_label(dataset, fraction)]
                row.append(cell(grid[key]))
                config = (GRID, dataset, input_, objective, float(fraction), augs)
                for other in extra:
                    stat = data.grid.get(head_metric(other, ACCURACY), {}).get(key)
                    name = f"{dataset}/{input_}/{objective}/{other}"
                    d = compare(data.clips, head_config(config, other), config, name)
                    seeds = f" (n={d.interval.seeds})" if d.interval is not None else ""
                    row += [cell(stat), d.cell() + seeds]
                rows.append(row)
    if not rows:
        return ""
    return f"\n## {dataset}\n\n" + md_table(header, rows)


def table(data: Data, run_info: dict) -> str:
    """heads.md: the head table of every data set, or the one-line note of :data:`NONE`."""
    head, extra = heads_of(run_info)
    text = f"# {TITLE}\n\n"
    if not extra:
        return text + NONE
    text += (
        f"Test accuracy of each evaluation head fitted on the same frozen embeddings and "
        f"labelled clips as `evaluate.head` ({head}), in %, mean ± sample std over seeds (n), "
        f"and its difference against {head} in points: the {PAIRED}; n counts the paired "
        f"seeds. {MARKS_LEGEND}\n"
    )
    for dataset in data.datasets:
        text += _dataset_table(data, dataset, head, extra)
    return text
