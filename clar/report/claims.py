"""The three claims of PAPER.md, split into parts that can be checked, judged on the results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from clar.report.aggregate import (
    Data,
    Key,
    fractions_of,
    gather,
    inputs_of,
    objective_name,
    objectives_of,
)
from clar.report.e1 import (
    AugmentationStudy,
    augmentation_study,
    pair_name,
    study_keys,
    study_label,
    unique_cells,
)
from clar.report.e4 import CONVERGENCE_SHARE, Curve, convergence_curves, curves_by_dataset
from clar.report.results import ACCURACY
from clar.report.tables import pct, points
from clar.vocabulary import (
    BEST_PAIR,
    CONTRASTIVE,
    FULL_FRACTION,
    HYBRID,
    RAW,
    SPECTROGRAM,
    SUPERVISED,
)

SUPPORTED = "supported"
PARTLY = "partly supported"
NOT_SUPPORTED = "not supported"
UNJUDGED = "cannot be judged"

# Claim 1 needs a number for "much better": the spread between the best and the worst
# augmentation cell of a data set must reach this many percentage points.
MUCH_BETTER_POINTS = 5.0
# The pair the paper finds best.


@dataclass(frozen=True)
class Claim:
    """One checkable part of a PAPER.md claim, with the measured verdict and its margins."""

    number: int  # the claim's number in PAPER.md
    statement: str
    verdict: str  # SUPPORTED, PARTLY, NOT_SUPPORTED or UNJUDGED
    detail: str
    holds: int = 0  # comparisons where the claim holds ...
    total: int = 0  # ... out of this many that could be made

    @property
    def supported(self) -> bool | None:
        """True/False when judged (partly counts as False), None when it can't be judged."""
        return None if self.verdict == UNJUDGED else self.verdict == SUPPORTED

    def sentence(self) -> str:
        return f"**{self.statement}**: {self.verdict}. {self.detail}"


def verdict(holds: int, total: int) -> str:
    if total == 0:
        return UNJUDGED
    if holds == total:
        return SUPPORTED
    return NOT_SUPPORTED if holds == 0 else PARTLY


def _signed(value: float, unit: str) -> str:
    # Epoch differences are whole numbers; a decimal would suggest a precision they lack.
    return points(value) if unit == "points" else f"{value:+.0f}".replace("-", "−")


def _margin_range(margins: Sequence[float], unit: str) -> str:
    low, high = min(margins), max(margins)
    if math.isclose(low, high):
        return f"{_signed(low, unit)} {unit}"
    return f"{_signed(low, unit)} to {_signed(high, unit)} {unit}"


def _comparison_claim(
    number: int,
    statement: str,
    what: str,
    margins: dict[str, float],
    missing: str,
    unit: str = "points",
    list_all: bool = False,
) -> Claim:
    """A claim judged by the sign of ``margins`` (positive: the claimed direction; ties fail).

    The failing comparisons are always named; ``list_all`` names every one, for claims whose
    comparisons differ in a way the reader must see (such as which label fraction was used).
    """
    if not margins:
        return Claim(number, statement, UNJUDGED, missing)
    holds = sum(m > 0 for m in margins.values())
    total = len(margins)
    span = _margin_range(list(margins.values()), unit)
    detail = f"Holds in {holds} of {total} {what}; margins {span}."
    if list_all:
        named = [f"{name} ({_signed(m, unit)})" for name, m in margins.items()]
        detail += " Compared: " + ", ".join(named) + "."
    else:
        fails = [f"{name} ({_signed(m, unit)})" for name, m in margins.items() if m <= 0]
        if fails:
            detail += " It does not hold for " + ", ".join(fails) + "."
    return Claim(number, statement, verdict(holds, total), detail, holds, total)


def _augmentation_claims(data: Data, study: AugmentationStudy) -> list[Claim]:
    matter = "Augmentations matter: some choices are much better than others"
    fade_tm = "Fade in/out + time masking is the best pair"
    if not study.matrices:
        why = (
            "No augmentation-study runs (experiment = `augmentation`) in this run's results; "
            "the profile may not include E1."
        )
        return [Claim(1, matter, UNJUDGED, why), Claim(1, fade_tm, UNJUDGED, why)]
    spreads, ranks = [], []
    holds_spread = holds_rank = judged_rank = 0
    keys = study_keys(study, data.datasets)
    target = BEST_PAIR
    for key in keys:
        label = study_label(study, key)
        cells = unique_cells(study.matrices[key], study.axis)
        best = max(cells, key=lambda c: cells[c].mean)
        worst = min(cells, key=lambda c: cells[c].mean)
        spread = 100 * (cells[best].mean - cells[worst].mean)
        holds_spread += spread >= MUCH_BETTER_POINTS
        spreads.append(
            f"{label}: best {pair_name(best)} {100 * cells[best].mean:.1f} %, worst "
            f"{pair_name(worst)} {100 * cells[worst].mean:.1f} %, spread {spread:.1f} points "
            f"({len(cells)} cells measured)"
        )
        pairs = {c: s for c, s in cells.items() if c[0] != c[1]}
        if target not in pairs:
            ranks.append(f"{label}: {pair_name(target)} not measured")
            continue
        judged_rank += 1
        rank = 1 + sum(s.mean > pairs[target].mean for s in pairs.values())
        holds_rank += rank == 1
        top = max(pairs, key=lambda c: pairs[c].mean)
        ranks.append(
            f"{label}: {pair_name(target)} ranks {rank} of {len(pairs)} pairs "
            f"({100 * pairs[target].mean:.1f} %; best pair {pair_name(top)} "
            f"{100 * pairs[top].mean:.1f} %)"
        )
    matter_detail = (
        f"The best and the worst augmentation cell (singles and pairs) differ by at least "
        f"{MUCH_BETTER_POINTS:g} points on {holds_spread} of {len(keys)} data sets. "
        + "; ".join(spreads)
        + "."
    )
    rank_detail = (
        f"{pair_name(target).capitalize()} is the best pair on {holds_rank} of {judged_rank} "
        "data sets where it was measured. " + "; ".join(ranks) + "."
    )
    if judged_rank == 0:
        rank_detail = "; ".join(ranks) + "."
    return [
        Claim(1, matter, verdict(holds_spread, len(keys)), matter_detail, holds_spread, len(keys)),
        Claim(1, fade_tm, verdict(holds_rank, judged_rank), rank_detail, holds_rank, judged_rank),
    ]


def _input_claim(data: Data) -> Claim:
    grid = data.grid.get(ACCURACY, {})
    margins: dict[str, float] = {}
    complete: dict[str, bool] = {}
    for dataset in data.datasets:
        for objective in objectives_of(grid, dataset):
            raw = grid.get((dataset, RAW, objective, FULL_FRACTION))
            spec = grid.get((dataset, SPECTROGRAM, objective, FULL_FRACTION))
            if raw and spec:
                margin = 100 * (spec.mean - raw.mean)
                margins[f"{dataset}/{objective_name(objective)}"] = margin
                complete[dataset] = complete.get(dataset, True) and margin > 0
    claim = _comparison_claim(
        2,
        "Spectrogram input beats raw waveform for supervised, self-supervised and CLAR",
        f"(data set, objective) comparisons of evaluation-head accuracy at {pct(FULL_FRACTION)} "
        "labels (margin = spectrogram − raw)",
        margins,
        "No data set has grid runs with both raw and spectrogram input at "
        f"{pct(FULL_FRACTION)} labels; the profile may train one input only.",
    )
    if complete:
        wins = sum(complete.values())
        detail = (
            f"{claim.detail} Spectrogram wins for every measured objective on {wins} of "
            f"{len(complete)} data sets."
        )
        claim = replace(claim, detail=detail)
    return claim


def _label_claims(data: Data) -> list[Claim]:
    """CLAR against self-supervised at every label fraction, and against supervised at the
    lowest."""
    grid = data.grid.get(ACCURACY, {})
    versus_contrastive: dict[str, float] = {}
    versus_supervised: dict[str, float] = {}
    for dataset in data.datasets:
        for input_ in inputs_of(grid, dataset):
            fractions = fractions_of(grid, dataset, input_)
            for fraction in fractions:
                hybrid = grid.get((dataset, input_, HYBRID, fraction))
                contrastive = grid.get((dataset, input_, CONTRASTIVE, fraction))
                if hybrid and contrastive:
                    name = f"{dataset}/{input_}/{pct(fraction)}"
                    versus_contrastive[name] = 100 * (hybrid.mean - contrastive.mean)
            low = [
                f
                for f in fractions
                if f < FULL_FRACTION
                and (dataset, input_, HYBRID, f) in grid
                and (dataset, input_, SUPERVISED, f) in grid
            ]
            if low:
                f = low[0]
                diff = grid[(dataset, input_, HYBRID, f)].mean
                diff -= grid[(dataset, input_, SUPERVISED, f)].mean
                versus_supervised[f"{dataset}/{input_} at {pct(f)} labels"] = 100 * diff
    return [
        _comparison_claim(
            3,
            "CLAR beats self-supervised pre-training + evaluation head at every label fraction",
            "(data set, input, label fraction) comparisons of evaluation-head accuracy "
            "(margin = CLAR − self-supervised)",
            versus_contrastive,
            "No grid configuration has both CLAR (hybrid) and self-supervised "
            "(contrastive) runs; the run may have trained one loss only.",
        ),
        _comparison_claim(
            3,
            "CLAR beats supervised training at the lowest label fraction",
            "(data set, input) comparisons of evaluation-head accuracy at the lowest label "
            "fraction below 100 % that both were run at (margin = CLAR − supervised)",
            versus_supervised,
            "No data set has both CLAR and supervised grid runs below "
            f"{pct(FULL_FRACTION)} labels.",
            list_all=True,
        ),
    ]


def _convergence_claim(data: Data, curves: dict[Key, Curve]) -> Claim:
    share = f"{100 * CONVERGENCE_SHARE:g} %"
    epochs_saved: dict[str, float] = {}
    notes = []
    for hybrid in (c for cs in curves_by_dataset(data, curves).values() for c in cs):
        key = hybrid.key
        if key[2] != HYBRID or (other := curves.get((*key[:2], CONTRASTIVE, key[3]))) is None:
            continue
        name = f"{key[0]}/{key[1]}/{pct(float(key[3]))}"
        h, c = hybrid.converged_epoch(), other.converged_epoch()
        epochs_saved[name] = c - h
        notes.append(
            f"{name}: CLAR at epoch {h} (final {100 * hybrid.final.mean:.1f} %), "
            f"self-supervised at epoch {c} (final {100 * other.final.mean:.1f} %)"
        )
    claim = _comparison_claim(
        3,
        "CLAR converges faster than the self-supervised model",
        f"convergence comparisons; a model has converged at the first epoch whose seed-mean "
        f"held-out accuracy reaches {share} of its own final seed-mean held-out accuracy "
        "(margin = self-supervised epoch − CLAR epoch)",
        epochs_saved,
        "No convergence runs (experiment = `convergence`) for both CLAR and "
        "the self-supervised model.",
        unit="epochs",
    )
    if notes:
        claim = replace(claim, detail=f"{claim.detail} {'; '.join(notes)}.")
    return claim


def judge(data: Data, study: AugmentationStudy, curves: dict[Key, Curve]) -> list[Claim]:
    """Every claim part, in PAPER.md's order, from the aggregates a render computed."""
    return [
        *_augmentation_claims(data, study),
        _input_claim(data),
        *_label_claims(data),
        _convergence_claim(data, curves),
    ]


def check(results: pd.DataFrame, run_info: dict | None = None) -> list[Claim]:
    """The three claims of PAPER.md, split into checkable parts, judged on ``results``."""
    data = gather(results, run_info or {})
    return judge(data, augmentation_study(data.df), convergence_curves(data.df))
