"""The compared pairs of the E2-E3 grid, each with its paired interval, computed once per render.

- E2: each encoder of ``grid.inputs`` against the first (spectrogram − raw by default), per
  data set and objective, at 100 % labels;
- E3: each objective against every objective its ``compared_with`` names (CLAR (hybrid) −
  supervised and CLAR − self-supervised by default), per data set, input and label fraction.

Runs are paired by seed: a seed fixes the labelled subset and the test clips.
"""

from __future__ import annotations

from dataclasses import dataclass

from clar.report.aggregate import Data, Key, compared_pairs, objective_name, objectives_of
from clar.report.intervals import paired
from clar.report.per_clip import Config, Correctness
from clar.report.results import ACCURACY
from clar.report.verdicts import Comparison
from clar.runs import GRID
from clar.vocabulary import FULL_FRACTION

Pair = tuple[str, str]


def compare(clips: Correctness, a: Config, b: Config, name: str) -> Comparison:
    """A − B in points of test accuracy, paired by seed."""
    d, why = clips.paired(a, b)
    return Comparison(name, None if d is None else paired(d), why)


@dataclass(frozen=True)
class GridComparisons:
    """``inputs``: (encoder, baseline encoder) -> (dataset, objective) -> its comparison;
    ``versus``: (objective, other) -> (dataset, input, fraction) -> its comparison. Every pair
    the parameters and the registry define is a key, compared or not; ``objectives`` are the
    report's (:attr:`Data.objectives`)."""

    inputs: dict[Pair, dict[Key, Comparison]]
    versus: dict[Pair, dict[Key, Comparison]]
    objectives: tuple[str, ...]


def compared_augmentations(data: Data) -> str:
    # select() keeps one grid augmentation setting; should a table mix several, the most
    # common one is compared (the tables say which were used).
    grid = data.df[data.df["experiment"] == GRID]["augmentations"]
    return str(grid.mode().iloc[0]) if not grid.empty else ""


def encoder_pairs(data: Data) -> list[Pair]:
    """(encoder, baseline) for each encoder of the grid after the first, the baseline."""
    return [(encoder, data.inputs[0]) for encoder in data.inputs[1:]]


def grid_comparisons(data: Data) -> GridComparisons:
    """Every pair the grid's accuracy cells allow."""
    grid = data.grid.get(ACCURACY, {})
    augs = compared_augmentations(data)

    def config(dataset: str, input_: str, objective: str, fraction: float) -> Config:
        return (GRID, dataset, input_, objective, float(fraction), augs)

    encoders = encoder_pairs(data)
    inputs: dict[Pair, dict[Key, Comparison]] = {pair: {} for pair in encoders}
    versus: dict[Pair, dict[Key, Comparison]] = {
        pair: {} for pair in compared_pairs(data.objectives)
    }
    for dataset in data.datasets:
        for objective in objectives_of(grid, data.objectives, dataset):
            for (encoder, baseline), table in inputs.items():
                mine = (dataset, encoder, objective, FULL_FRACTION)
                theirs = (dataset, baseline, objective, FULL_FRACTION)
                if mine in grid and theirs in grid:
                    # The encoder is named only where there are several to tell apart.
                    which = f"/{encoder}" if len(encoders) > 1 else ""
                    name = f"{dataset}/{objective_name(objective)}{which}"
                    table[(dataset, objective)] = compare(
                        data.clips, config(*mine), config(*theirs), name
                    )
        for input_, fraction in sorted({(k[1], k[3]) for k in grid if k[0] == dataset}):
            for (objective, other), table in versus.items():
                mine = (dataset, input_, objective, fraction)
                theirs = (dataset, input_, other, fraction)
                if mine in grid and theirs in grid:
                    name = f"{dataset}/{input_}/{data.fraction_label(dataset, fraction)}"
                    table[(dataset, input_, fraction)] = compare(
                        data.clips, config(*mine), config(*theirs), name
                    )
    return GridComparisons(inputs, versus, tuple(data.objectives))
