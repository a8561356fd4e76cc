"""The compared pairs of the E2-E3 grid, each with its paired interval, computed once per render.

- E2: spectrogram − raw, per data set and objective, at 100 % labels;
- E3: CLAR (hybrid) − supervised and CLAR − self-supervised (contrastive + evaluation head),
  per data set, input and label fraction.

Runs are paired by seed: a seed fixes the labelled subset and the test clips.
"""

from __future__ import annotations

from dataclasses import dataclass

from clar.report.aggregate import Data, Key, objective_name, objectives_of
from clar.report.intervals import paired
from clar.report.per_clip import Config, Correctness
from clar.report.results import ACCURACY
from clar.report.verdicts import Comparison
from clar.runs import GRID
from clar.vocabulary import (
    CONTRASTIVE,
    FULL_FRACTION,
    HYBRID,
    RAW,
    SPECTROGRAM,
    SUPERVISED,
)


def compare(clips: Correctness, a: Config, b: Config, name: str) -> Comparison:
    """A − B in points of test accuracy, paired by seed."""
    d, why = clips.paired(a, b)
    return Comparison(name, None if d is None else paired(d), why)


@dataclass(frozen=True)
class GridComparisons:
    """Keyed by (dataset, objective) for ``inputs`` and (dataset, input, fraction) for the
    CLAR comparisons."""

    inputs: dict[Key, Comparison]
    vs_supervised: dict[Key, Comparison]
    vs_self_supervised: dict[Key, Comparison]


def _augmentations(data: Data) -> str:
    # select() keeps one grid augmentation setting; should a table mix several, the most
    # common one is compared (the tables say which were used).
    grid = data.df[data.df["experiment"] == GRID]["augmentations"]
    return str(grid.mode().iloc[0]) if not grid.empty else ""


def grid_comparisons(data: Data) -> GridComparisons:
    """Every pair the grid's accuracy cells allow."""
    grid = data.grid.get(ACCURACY, {})
    augs = _augmentations(data)

    def config(dataset: str, input_: str, objective: str, fraction: float) -> Config:
        return (GRID, dataset, input_, objective, float(fraction), augs)

    inputs: dict[Key, Comparison] = {}
    versus: dict[str, dict[Key, Comparison]] = {SUPERVISED: {}, CONTRASTIVE: {}}
    for dataset in data.datasets:
        for objective in objectives_of(grid, dataset):
            spec = (dataset, SPECTROGRAM, objective, FULL_FRACTION)
            raw = (dataset, RAW, objective, FULL_FRACTION)
            if spec in grid and raw in grid:
                name = f"{dataset}/{objective_name(objective)}"
                inputs[(dataset, objective)] = compare(
                    data.clips, config(*spec), config(*raw), name
                )
        for input_, fraction in sorted({(k[1], k[3]) for k in grid if k[0] == dataset}):
            hybrid = (dataset, input_, HYBRID, fraction)
            if hybrid not in grid:
                continue
            for other, table in versus.items():
                baseline = (dataset, input_, other, fraction)
                if baseline in grid:
                    name = f"{dataset}/{input_}/{data.fraction_label(dataset, fraction)}"
                    table[(dataset, input_, fraction)] = compare(
                        data.clips, config(*hybrid), config(*baseline), name
                    )
    return GridComparisons(inputs, versus[SUPERVISED], versus[CONTRASTIVE])
