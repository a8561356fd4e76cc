"""The three claims of PAPER.md, split into parts that can be checked, each judged from paired
95 % intervals (:mod:`clar.report.verdicts`): supported, contradicted, inconclusive, or cannot
be judged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from clar.report import e4
from clar.report.aggregate import Data, Key, gather
from clar.report.comparisons import GridComparisons, grid_comparisons
from clar.report.e1 import (
    AugmentationStudy,
    augmentation_study,
    best_pair_state,
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
    SUPPORTED,
    UNJUDGED,
    Comparison,
    overall,
    tally,
)
from clar.vocabulary import BEST_PAIR, FULL_FRACTION

__all__ = ["CONTRADICTED", "INCONCLUSIVE", "SUPPORTED", "UNJUDGED", "Claim", "check", "judge"]


@dataclass(frozen=True)
class Claim:
    """One checkable part of a PAPER.md claim: its verdict and the comparisons behind it."""

    number: int  # the claim's number in PAPER.md
    statement: str
    verdict: str  # SUPPORTED, CONTRADICTED, INCONCLUSIVE or UNJUDGED
    detail: str
    states: tuple[str, ...] = ()  # the verdict of each comparison (or data set) counted

    @property
    def supported(self) -> bool | None:
        """True/False when judged (inconclusive counts as False), None when it can't be."""
        return None if self.verdict == UNJUDGED else self.verdict == SUPPORTED

    def count(self, state: str) -> int:
        return sum(s == state for s in self.states)

    def sentence(self) -> str:
        return f"**{self.statement}**: {self.verdict}. {self.detail}"


def _from_comparisons(
    number: int,
    statement: str,
    comparisons: Sequence[Comparison],
    what: str,
    criterion: str,
    missing: str,
) -> Claim:
    """A universal claim over ``comparisons``: each one's interval, state and sample listed."""
    if not comparisons:
        return Claim(number, statement, UNJUDGED, missing)
    states = tuple(c.state for c in comparisons)
    listed = "; ".join(c.sentence() for c in comparisons)
    detail = f"{tally(states, what)}. {criterion} {listed}."
    return Claim(number, statement, overall(states), detail, states)


def _augmentation_claims(data: Data, study: AugmentationStudy) -> list[Claim]:
    matter = "Augmentations matter: the best augmentation choice beats the worst"
    fade_tm = f"{pair_name(BEST_PAIR).capitalize()} is the best pair"
    if not study.matrices:
        why = (
            "No augmentation-study runs (experiment = `augmentation`) in this run's results; "
            "the profile may not include E1."
        )
        return [Claim(1, matter, UNJUDGED, why), Claim(1, fade_tm, UNJUDGED, why)]
    keys = study_keys(study, data.datasets)
    spreads = [spread(data, study, key).comparison for key in keys]
    matter_claim = _from_comparisons(
        1,
        matter,
        spreads,
        "data sets",
        "The best and the worst cell (singles and pairs) are chosen on the evaluation head's "
        "validation accuracy; the interval is of their paired test-accuracy difference.",
        "",
    )
    states, parts = [], []
    for key in keys:
        versus = {p: c for p, c in versus_best_pair(data, study, key).items() if p[0] != p[1]}
        label = study_label(study, key)
        if not versus:
            measured = BEST_PAIR in study.matrices[key]
            why = "no other pair measured" if measured else f"{pair_name(BEST_PAIR)} not measured"
            states.append(UNJUDGED)
            parts.append(f"{label}: {UNJUDGED} ({why})")
            continue
        state = best_pair_state(versus)
        states.append(state)
        listed = "; ".join(c.sentence() for c in versus.values())
        parts.append(
            f"{label}: {state}, {tally([c.state for c in versus.values()], 'other pairs')} "
            f"({listed})"
        )
    rank_claim = Claim(
        1,
        fade_tm,
        overall(states),
        f"{tally(states, 'data sets')}. Per data set, supported only if the interval of "
        f"{pair_name(BEST_PAIR)} minus every other measured pair lies above zero, "
        "contradicted if any lies below. " + "; ".join(parts) + ".",
        tuple(states),
    )
    return [matter_claim, rank_claim]


def _input_claim(compared: GridComparisons) -> Claim:
    return _from_comparisons(
        2,
        "Spectrogram input beats raw waveform for supervised, self-supervised and CLAR",
        list(compared.inputs.values()),
        "(data set, objective) comparisons",
        f"Evaluation-head test accuracy at {pct(FULL_FRACTION)} labels, spectrogram − raw.",
        "No data set has grid runs with both raw and spectrogram input at "
        f"{pct(FULL_FRACTION)} labels; the profile may train one input only.",
    )


def _label_claims(compared: GridComparisons) -> list[Claim]:
    """CLAR against self-supervised at every label fraction, and against supervised at the
    lowest."""
    lowest: dict[Key, Comparison] = {}
    for (dataset, input_, fraction), comparison in sorted(compared.vs_supervised.items()):
        if fraction < FULL_FRACTION and (dataset, input_) not in lowest:
            lowest[(dataset, input_)] = comparison
    return [
        _from_comparisons(
            3,
            "CLAR beats self-supervised pre-training + evaluation head at every label fraction",
            list(compared.vs_self_supervised.values()),
            "(data set, input, label fraction) comparisons",
            "Evaluation-head test accuracy, CLAR − self-supervised.",
            "No grid configuration has both CLAR (hybrid) and self-supervised "
            "(contrastive) runs; the run may have trained one loss only.",
        ),
        _from_comparisons(
            3,
            "CLAR beats supervised training at the lowest label fraction",
            list(lowest.values()),
            "(data set, input) comparisons",
            "Evaluation-head test accuracy at the lowest label fraction below "
            f"{pct(FULL_FRACTION)} that both were run at, CLAR − supervised.",
            "No data set has both CLAR and supervised grid runs below "
            f"{pct(FULL_FRACTION)} labels.",
        ),
    ]


def _convergence_claim(races: dict[Key, e4.Race]) -> Claim:
    return _from_comparisons(
        3,
        "CLAR converges faster than the self-supervised model",
        [r.comparison for r in races.values()],
        "convergence comparisons",
        "Criterion shared by the two: the area under the held-out-accuracy curve over the "
        "epochs both ran (mean accuracy over training), CLAR − self-supervised, paired by "
        "seed, with a t interval over seeds.",
        "No convergence runs (experiment = `convergence`) for both CLAR and "
        "the self-supervised model.",
    )


def judge(
    data: Data,
    study: AugmentationStudy,
    compared: GridComparisons,
    races: dict[Key, e4.Race],
) -> list[Claim]:
    """Every claim part, in PAPER.md's order, from the comparisons a render computed."""
    return [
        *_augmentation_claims(data, study),
        _input_claim(compared),
        *_label_claims(compared),
        _convergence_claim(races),
    ]


def check(
    results: pd.DataFrame, run_info: dict | None = None, per_clip: pd.DataFrame | None = None
) -> list[Claim]:
    """The three claims of PAPER.md, split into checkable parts, judged on ``results`` and the
    per-clip outcomes ``per_clip``."""
    data = gather(results, run_info or {}, per_clip)
    curves = e4.convergence_curves(data.df)
    return judge(data, augmentation_study(data.df), grid_comparisons(data), e4.races(data, curves))
