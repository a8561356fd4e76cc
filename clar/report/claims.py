"""The paper's three claims (docs/method.md), split into checkable parts, each judged from paired
95 % intervals corrected for the part's number of comparisons (:mod:`clar.report.verdicts`):
supported, contradicted, mixed, inconclusive, or cannot be judged."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from clar.report import e4
from clar.report.aggregate import (
    Data,
    Key,
    compared_pairs,
    encoder_title,
    gather,
    label_free,
    objective_order,
    objective_short,
)
from clar.report.comparisons import GridComparisons, grid_comparisons
from clar.report.e1 import (
    AugmentationStudy,
    augmentation_study,
    pair_name,
    spread,
    study_keys,
    study_label,
    versus_best_pair,
)
from clar.report.tables import pct
from clar.report.verdicts import (
    CONTRADICTED,
    INCONCLUSIVE,
    MIXED,
    SUPPORTED,
    UNJUDGED,
    Comparison,
    Judged,
    corrected,
    overall,
    tally,
)
from clar.vocabulary import BEST_PAIR, FULL_FRACTION

__all__ = [
    "CONTRADICTED",
    "INCONCLUSIVE",
    "MIXED",
    "SUPPORTED",
    "UNJUDGED",
    "Claim",
    "check",
    "judge",
]


@dataclass(frozen=True)
class Claim:
    """One checkable part of a claim of the paper: its verdict and the comparisons behind it."""

    number: int  # the claim's number in the paper
    statement: str
    verdict: str  # one of verdicts.VERDICTS
    criterion: str  # what is compared, in one or two sentences
    judged: tuple[Judged, ...] = ()  # every comparison, with its corrected state
    why: str = ""  # why the claim cannot be judged at all

    @property
    def states(self) -> tuple[str, ...]:
        """The corrected state of each comparison."""
        return tuple(j.state for j in self.judged)

    @property
    def supported(self) -> bool | None:
        """True/False when judged (inconclusive counts as False), None when it can't be."""
        return None if self.verdict == UNJUDGED else self.verdict == SUPPORTED

    def count(self, state: str) -> int:
        return sum(s == state for s in self.states)

    def counts(self) -> str:
        """``2 of 9 supported, 0 contradicted, 7 inconclusive``, after the correction."""
        return tally(self.states, "comparisons")

    def sentence(self) -> str:
        """The one-line verdict: statement, verdict, counts (never the comparisons)."""
        if not self.judged:
            return f"**{self.statement}**: {self.verdict} ({self.why})"
        judged = sum(s != UNJUDGED for s in self.states)
        holm = f"; Holm-corrected over {judged}" if judged > 1 else ""
        return f"**{self.statement}**: {self.verdict}; {self.counts()}{holm}"


def _from_comparisons(
    number: int,
    statement: str,
    comparisons: Sequence[Comparison],
    criterion: str,
    missing: str,
) -> Claim:
    """A claim over ``comparisons``, Holm-corrected (:mod:`clar.report.verdicts`)."""
    if not comparisons:
        return Claim(number, statement, UNJUDGED, criterion, why=missing)
    judged = corrected(comparisons)
    return Claim(number, statement, overall([j.state for j in judged]), criterion, judged)


def _augmentation_claims(data: Data, study: AugmentationStudy) -> list[Claim]:
    matter = "Augmentations matter: the best augmentation choice beats the worst"
    fade_tm = f"{pair_name(BEST_PAIR).capitalize()} is the best pair"
    matter_criterion = (
        "Per data set, the best and the worst cell (singles and pairs) chosen on the "
        "evaluation head's validation accuracy; their paired test-accuracy difference."
    )
    rank_criterion = (
        f"Per data set, test accuracy of {pair_name(BEST_PAIR)} minus every other measured "
        "pair; supported only if it beats every one."
    )
    if not study.matrices:
        why = data.e1_absent or (
            "no augmentation-study runs (experiment = `augmentation`) in this run's results"
        )
        return [
            Claim(1, matter, UNJUDGED, matter_criterion, why=why),
            Claim(1, fade_tm, UNJUDGED, rank_criterion, why=why),
        ]
    keys = study_keys(study, data.datasets)
    spreads = [spread(data, study, key).comparison for key in keys]
    matter_claim = _from_comparisons(1, matter, spreads, matter_criterion, "")
    versus: list[Comparison] = []
    for key in keys:
        others = {p: c for p, c in versus_best_pair(data, study, key).items() if p[0] != p[1]}
        label = study_label(study, key)
        if not others:
            measured = BEST_PAIR in study.matrices[key]
            why = "no other pair measured" if measured else f"{pair_name(BEST_PAIR)} not measured"
            versus.append(Comparison(label, None, why))
            continue
        versus += [replace(c, name=f"{label}: {c.name}") for c in others.values()]
    rank_claim = _from_comparisons(1, fade_tm, versus, rank_criterion, "")
    return [matter_claim, rank_claim]


def _objectives_text(objectives: Collection[str]) -> str:
    """``supervised, self-supervised and CLAR``: the report's objectives."""
    names = [objective_short(o) for o in objective_order(objectives)]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _input_claims(compared: GridComparisons) -> list[Claim]:
    """Per encoder after the first of ``grid.inputs``: it beats the first for every objective."""
    everyone = _objectives_text(compared.objectives)
    return [
        _from_comparisons(
            2,
            f"{encoder_title(encoder)} beats {encoder_title(baseline)} for {everyone}",
            list(found.values()),
            f"Evaluation-head test accuracy at {pct(FULL_FRACTION)} labels, {encoder} − "
            f"{baseline}.",
            f"No data set has grid runs with both {baseline} and {encoder} input at "
            f"{pct(FULL_FRACTION)} labels; the profile may train one input only.",
        )
        for (encoder, baseline), found in compared.inputs.items()
    ] or [
        Claim(
            2,
            f"Each encoder beats the first of grid.inputs for {everyone}",
            UNJUDGED,
            f"Evaluation-head test accuracy at {pct(FULL_FRACTION)} labels, each encoder − the "
            "first.",
            why="fewer than two encoders in grid.inputs or in the results; E2 compares two or more",
        )
    ]


def _label_claims(compared: GridComparisons) -> list[Claim]:
    """Each compared objective (CLAR) against each label-free one it names (self-supervised)
    at every label fraction, then against each one that trains on the labels (supervised) at
    the lowest fraction: the labels it adds must win there, where they are few."""
    every, lowest = [], []
    for (objective, other), found in compared.versus.items():
        a, b = objective_short(objective), objective_short(other)
        if label_free(other):
            every.append(
                _from_comparisons(
                    3,
                    f"{a} beats {b} pre-training + evaluation head at every label fraction",
                    list(found.values()),
                    f"Evaluation-head test accuracy, {a} − {b}.",
                    f"No grid configuration has both {a} ({objective}) and {b} ({other}) runs; "
                    "the run may have trained one loss only.",
                )
            )
            continue
        first: dict[Key, Comparison] = {}
        for (dataset, input_, fraction), comparison in sorted(found.items()):
            if fraction < FULL_FRACTION and (dataset, input_) not in first:
                first[(dataset, input_)] = comparison
        lowest.append(
            _from_comparisons(
                3,
                f"{a} beats {b} training at the lowest label fraction",
                list(first.values()),
                "Evaluation-head test accuracy at the lowest label fraction below "
                f"{pct(FULL_FRACTION)} that both were run at, {a} − {b}.",
                f"No data set has both {a} and {b} grid runs below {pct(FULL_FRACTION)} labels.",
            )
        )
    return every + lowest


def _convergence_claims(objectives: Collection[str], races: dict[Key, e4.Race]) -> list[Claim]:
    """Per monitored pair (CLAR, self-supervised) of ``objectives``: the first converges
    faster."""
    out = []
    for objective, other in compared_pairs(objectives, monitored=True):
        a, b = objective_short(objective), objective_short(other)
        mine = [r.comparison for k, r in races.items() if (k[2], k[4]) == (objective, other)]
        out.append(
            _from_comparisons(
                3,
                f"{a} converges faster than the {b} model",
                mine,
                "The area under the held-out-accuracy curve over the epochs both ran (mean "
                f"accuracy over training, in points), {a} − {b}, paired by seed.",
                f"No convergence runs (experiment = `convergence`) for both {a} and the {b} model.",
            )
        )
    return out


def judge(
    data: Data,
    study: AugmentationStudy,
    compared: GridComparisons,
    races: dict[Key, e4.Race],
) -> list[Claim]:
    """Every claim part, in the paper's order, from the comparisons a render computed."""
    return [
        *_augmentation_claims(data, study),
        *_input_claims(compared),
        *_label_claims(compared),
        *_convergence_claims(data.objectives, races),
    ]


def corrected_states(found: Sequence[Claim], number: int) -> dict[str, str]:
    """Each comparison of claim ``number``'s parts by name: its state after the correction."""
    return {j.comparison.name: j.state for c in found if c.number == number for j in c.judged}


def check(
    results: pd.DataFrame, run_info: dict | None = None, per_clip: pd.DataFrame | None = None
) -> list[Claim]:
    """The paper's three claims (docs/method.md), split into checkable parts, judged on
    ``results`` and the per-clip outcomes ``per_clip``."""
    data = gather(results, run_info or {}, per_clip)
    curves = e4.convergence_curves(data.df)
    return judge(data, augmentation_study(data.df), grid_comparisons(data), e4.races(data, curves))
