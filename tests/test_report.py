"""Tests of the report: every rendered number is re-derived from the rows it summarises."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clar import report
from clar.report import aggregate, claims, e3, files
from clar.report.confusions import best_confusions
from clar.report.statistics import Stat
from clar.report.tables import MISSING
from clar.vocabulary import AUGMENTATIONS, BEST_PAIR

DATASETS = {"speech": [0, 1, 2], "music": [7]}  # several seeds, and a single seed
INPUTS = ("raw", "spectrogram")
FRACTIONS = (1, 10, 100)
CLASSES = ("yes", "no", "up")
NAME_TO_OBJECTIVE = {name: key for key, name in aggregate.OBJECTIVE_NAMES.items()}
CELL = re.compile(r"^(\*\*)?(-?\d+\.\d)(?: ± (\d+\.\d))? \(n=(\d+)\)(\*\*)?$")


def _row(**fields: object) -> dict:
    base = {
        "experiment": "grid",
        "input": "spectrogram",
        "objective": "contrastive",
        "fraction": 100,
        "augmentations": "fade+time_mask",
        "epoch": np.nan,
        "metric": "accuracy",
        "profile": "test",
        "git_rev": "abc1234",
    }
    return base | fields


def make_results(rng: np.random.Generator) -> pd.DataFrame:
    """Every experiment for two data sets, with random values and a duplicated-seed row."""
    rows = []
    for dataset, seeds in DATASETS.items():
        for seed in seeds:
            for i, a in enumerate(AUGMENTATIONS):
                for b in AUGMENTATIONS[i:]:
                    # The pair is written in reverse on purpose: "b+a" must land in the same cell.
                    augs = a if a == b else f"{b}+{a}"
                    rows.append(
                        _row(
                            experiment="augmentation",
                            dataset=dataset,
                            augmentations=augs,
                            seed=seed,
                            value=rng.uniform(0.3, 0.9),
                        )
                    )
            for input_ in INPUTS:
                for objective in aggregate.OBJECTIVES:
                    for fraction in FRACTIONS:
                        metrics = ["accuracy", "macro_f1"]
                        if objective != "contrastive":
                            metrics.append("classifier_accuracy")
                        for metric in metrics:
                            rows.append(
                                _row(
                                    dataset=dataset,
                                    input=input_,
                                    objective=objective,
                                    fraction=fraction,
                                    seed=seed,
                                    metric=metric,
                                    value=rng.uniform(0.2, 0.95),
                                )
                            )
            for objective, tau in (("contrastive", 4.0), ("hybrid", 1.5)):
                for epoch in range(1, 9):
                    rows.append(
                        _row(
                            experiment="convergence",
                            dataset=dataset,
                            objective=objective,
                            seed=seed,
                            epoch=epoch,
                            metric="heldout_accuracy",
                            value=0.9 * (1 - np.exp(-epoch / tau)),
                        )
                    )
        # Confusion counts of one seed for two configurations of each data set.
        for objective in ("supervised", "hybrid"):
            for true in CLASSES:
                for pred in CLASSES:
                    rows.append(
                        _row(
                            dataset=dataset,
                            objective=objective,
                            seed=seeds[0],
                            metric=f"confusion/{true}/{pred}",
                            value=float(rng.integers(0, 10) + 20 * (true == pred)),
                        )
                    )
    return pd.DataFrame(rows)


RUN_INFO = {
    "profile": "test",
    "git_rev": "abc1234",
    "hardware": "2 CPU cores",
    "seeds": [0, 1, 2],
    "datasets": {
        "speech": {
            "embedded": True,
            "task": "keyword",
            "classes": list(CLASSES),
            "clips": {"train": 30, "valid": 6, "test": 9},
        },
        "music": {
            "embedded": True,
            "task": "instrument family",
            "classes": list(CLASSES),
            "clips": {"train": 30, "valid": 6, "test": 9},
        },
    },
    "stage_seconds": {"prepare": 1.5, "features": 75.0, "train": 3725.0, "pretrain": 4.0},
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    # Through a CSV, as the report stage reads it: ints become floats, empty cells NaN.
    path = tmp_path_factory.mktemp("csv") / "results.csv"
    make_results(np.random.default_rng(1)).to_csv(path, index=False)
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def rendered(results: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    written = report.render(results, RUN_INFO, out)
    assert sorted(p.name for p in written) == sorted(files.RENDERED)
    return out


# ---- helpers: an independent aggregation and a Markdown reader ----------------------------


def expected(results: pd.DataFrame, **where: object) -> tuple[float, float, int]:
    """Mean, sample std and n in % over seeds of the rows matching ``where`` (seed-mean first)."""
    mask = np.ones(len(results), dtype=bool)
    for column, value in where.items():
        mask &= (results[column] == value).to_numpy()
    per_seed = results[mask].groupby("seed")["value"].mean().to_numpy() * 100
    std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else float("nan")
    return float(np.mean(per_seed)), std, len(per_seed)


def parse_cell(text: str) -> tuple[float, float, int, bool] | None:
    """``**83.4 ± 1.2 (n=3)**`` -> (83.4, 1.2, 3, True); the missing marker -> None."""
    if text == MISSING:
        return None
    match = CELL.match(text)
    assert match, f"unexpected cell {text!r}"
    bold, mean, std, n, _ = match.groups()
    return float(mean), float(std) if std else float("nan"), int(n), bool(bold)


def tables(markdown: str) -> list[tuple[tuple[str, ...], list[str], list[list[str]]]]:
    """Each table with the headings it sits under (level 2 and 3), its header and body rows."""
    found, headings, block = [], {}, []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip("|").split("|")])
            continue
        if block:
            context = tuple(headings[k] for k in sorted(headings))
            found.append((context, block[0], block[2:]))
            block = []
        if match := re.match(r"^(#{2,3}) (.*)$", line):
            level = len(match.group(1))
            headings = {k: v for k, v in headings.items() if k < level} | {level: match.group(2)}
    return found


def assert_matches(cell: tuple[float, float, int, bool] | None, want: tuple) -> None:
    assert cell is not None
    mean, std, n, _ = cell
    assert n == want[2]
    assert mean == pytest.approx(want[0], abs=0.05 + 1e-9)
    if n == 1:
        assert np.isnan(std)  # no fake spread for a single seed
    else:
        assert std == pytest.approx(want[1], abs=0.05 + 1e-9)


# ---- aggregation ----------------------------------------------------------------------------


def test_summarise_mean_sample_std_and_n() -> None:
    rows = pd.DataFrame(
        [
            _row(dataset="d", seed=0, value=0.5),
            _row(dataset="d", seed=1, value=0.6),
            # Two rows of one seed count once, as their mean 0.7.
            _row(dataset="d", seed=2, value=0.65),
            _row(dataset="d", seed=2, value=0.75),
            _row(dataset="e", seed=0, value=0.4),
        ]
    )
    out = aggregate.summarise(rows, experiment="grid", metric="accuracy").set_index("dataset")
    assert out.loc["d", "mean"] == pytest.approx(0.6)
    assert out.loc["d", "std"] == pytest.approx(0.1)  # ddof=1
    assert out.loc["d", "n"] == 3
    assert out.loc["e", "n"] == 1 and np.isnan(out.loc["e", "std"])


def test_stat_format() -> None:
    assert Stat(0.834, 0.012, 3).format() == "83.4 ± 1.2 (n=3)"
    assert Stat(0.834, float("nan"), 1).format() == "83.4 (n=1)"


# ---- tables ---------------------------------------------------------------------------------


def test_e3_cells_equal_the_rows_they_summarise(rendered: Path, results: pd.DataFrame) -> None:
    metric_of = {title: metric for metric, title, _ in e3.E3_METRICS}
    found = tables((rendered / "e3_label_fractions.md").read_text())
    # 2 data sets x 2 inputs x 3 metrics
    assert len(found) == 12
    for (section, subsection), header, body in found:
        dataset, input_ = re.match(r"^(\w+), (\w+) input$", subsection).groups()
        fractions = [float(h.split(" ")[0]) for h in header[1:]]
        assert fractions == [float(f) for f in FRACTIONS]
        columns: dict[float, list] = {f: [] for f in fractions}
        for row in body:
            objective = NAME_TO_OBJECTIVE[row[0]]
            for fraction, text in zip(fractions, row[1:], strict=True):
                cell = parse_cell(text)
                want = expected(
                    results,
                    experiment="grid",
                    dataset=dataset,
                    input=input_,
                    objective=objective,
                    fraction=fraction,
                    metric=metric_of[section],
                )
                assert_matches(cell, want)
                columns[fraction].append((want[0], cell[3]))
        for cells in columns.values():  # the bold cell is the column's best mean
            best = max(mean for mean, _ in cells)
            assert [bold for _, bold in cells] == [mean == best for mean, _ in cells]
    own = [body for (section, _), _, body in found if section.startswith("Own classifier")]
    assert {row[0] for body in own for row in body} == {"supervised", "CLAR (hybrid)"}


def test_e2_cells_and_differences(rendered: Path, results: pd.DataFrame) -> None:
    found = tables((rendered / "e2_raw_vs_spectrogram.md").read_text())
    assert [context for context, _, _ in found] == [("speech",), ("music",)]
    for (dataset,), header, body in found:
        assert header[1:3] == ["raw", "spectrogram"]
        for row in body:
            objective = NAME_TO_OBJECTIVE[row[0]]
            means = {}
            for input_, text in zip(("raw", "spectrogram"), row[1:3], strict=True):
                want = expected(
                    results,
                    experiment="grid",
                    dataset=dataset,
                    input=input_,
                    objective=objective,
                    fraction=100,
                    metric="accuracy",
                )
                assert_matches(parse_cell(text), want)
                means[input_] = want[0]
            diff = float(row[3].replace("−", "-"))
            assert diff == pytest.approx(means["spectrogram"] - means["raw"], abs=0.05 + 1e-9)


def test_e1_matrix_is_symmetric_and_matches_rows(rendered: Path, results: pd.DataFrame) -> None:
    found = tables((rendered / "e1_augmentations.md").read_text())
    assert [context for context, _, _ in found] == [("speech",), ("music",)]
    augs = list(AUGMENTATIONS)
    for (dataset,), header, body in found:
        assert header[1:] == augs
        texts = {}
        for row in body:
            a = row[0].strip("*")
            texts.update(((a, b), text) for b, text in zip(augs, row[1:], strict=True))
        best = max(parse_cell(text)[0] for text in texts.values())
        for (a, b), text in texts.items():
            assert text == texts[(b, a)]
            cell = parse_cell(text)
            i, j = sorted((augs.index(a), augs.index(b)))
            # The fixture writes pairs in reverse order; the matrix must still find them.
            stored = augs[i] if i == j else f"{augs[j]}+{augs[i]}"
            want = expected(
                results, experiment="augmentation", dataset=dataset, augmentations=stored
            )
            assert_matches(cell, want)
            assert cell[3] == (cell[0] == best)


def test_e4_table_reports_convergence_epochs(rendered: Path) -> None:
    def first_epoch(tau: float) -> int:
        curve = [1 - np.exp(-epoch / tau) for epoch in range(1, 9)]
        return next(e for e, v in enumerate(curve, start=1) if v >= 0.9 * curve[-1])

    found = tables((rendered / "e4_convergence.md").read_text())
    assert len(found) == 2
    for _, header, body in found:
        converged = {row[0]: int(row[header.index("converged at (90 %)")]) for row in body}
        assert converged == {
            "self-supervised + head": first_epoch(4.0),
            "CLAR (hybrid)": first_epoch(1.5),
        }


# ---- figures --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", files.FIGURE_FILES)
def test_figures_are_valid_files(rendered: Path, name: str) -> None:
    data = (rendered / name).read_bytes()
    assert len(data) > 2000
    if name.endswith(".png"):
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert ET.fromstring(data).tag.endswith("svg")


def test_no_temporary_files_left(rendered: Path) -> None:
    assert not [p for p in rendered.iterdir() if p.name.endswith(".tmp")]


def test_confusion_picks_best_configuration(results: pd.DataFrame) -> None:
    data = aggregate.gather(results, RUN_INFO)
    confusions = best_confusions(data, RUN_INFO)
    assert set(confusions) == {"speech", "music"}
    for dataset, confusion in confusions.items():
        candidates = [
            expected(
                results,
                experiment="grid",
                dataset=dataset,
                input="spectrogram",
                objective=o,
                fraction=100,
                metric="accuracy",
            )[0]
            for o in ("supervised", "hybrid")
        ]
        best = ("supervised", "hybrid")[int(np.argmax(candidates))]
        assert confusion.key[2] == best
        assert confusion.classes == CLASSES
        assert confusion.seeds == (DATASETS[dataset][0],)
        assert confusion.normalised.sum(axis=1) == pytest.approx(np.ones(len(CLASSES)))


# ---- claims ---------------------------------------------------------------------------------


def _by_statement(found: list[claims.Claim], words: str) -> claims.Claim:
    (claim,) = [c for c in found if words in c.statement]
    return claim


def _input_study(gap: float) -> pd.DataFrame:
    """Two data sets, all objectives, two seeds: spectrogram ahead of raw by ``gap``."""
    rows = []
    for dataset in ("speech", "music"):
        for k, objective in enumerate(aggregate.OBJECTIVES):
            for seed in (0, 1):
                base = 0.5 + 0.05 * k + 0.01 * seed
                for input_, value in (("raw", base), ("spectrogram", base + gap)):
                    rows.append(
                        _row(
                            dataset=dataset,
                            input=input_,
                            objective=objective,
                            seed=seed,
                            value=value,
                        )
                    )
    return pd.DataFrame(rows)


def test_input_claim_flips_with_the_numbers() -> None:
    ahead = _by_statement(claims.check(_input_study(0.1)), "Spectrogram")
    assert ahead.verdict == claims.SUPPORTED and (ahead.holds, ahead.total) == (6, 6)
    assert "+10.0 points" in ahead.detail
    swapped = _input_study(0.1)
    swapped["input"] = swapped["input"].map({"raw": "spectrogram", "spectrogram": "raw"})
    behind = _by_statement(claims.check(swapped), "Spectrogram")
    assert behind.verdict == claims.NOT_SUPPORTED and behind.supported is False
    assert "−10.0 points" in behind.detail
    # One comparison flipped: partly supported, and the failing cell is named.
    mixed = _input_study(0.1)
    flip = (mixed["dataset"] == "music") & (mixed["objective"] == "supervised")
    mixed.loc[flip, "input"] = mixed.loc[flip, "input"].map(
        {"raw": "spectrogram", "spectrogram": "raw"}
    )
    partly = _by_statement(claims.check(mixed), "Spectrogram")
    assert partly.verdict == claims.PARTLY and (partly.holds, partly.total) == (5, 6)
    assert "music/supervised (−10.0)" in partly.detail


def _hybrid_study(hybrid_gain: float, faster: bool) -> pd.DataFrame:
    rows = []
    for objective, shift in (("supervised", 0.0), ("contrastive", 0.0), ("hybrid", hybrid_gain)):
        for fraction in (1, 10, 100):
            for seed in (0, 1, 2):
                value = 0.5 + 0.002 * fraction + shift + 0.01 * seed
                rows.append(
                    _row(
                        dataset="speech",
                        objective=objective,
                        fraction=fraction,
                        seed=seed,
                        value=value,
                    )
                )
    for objective in ("contrastive", "hybrid"):
        tau = 1.0 if (objective == "hybrid") == faster else 5.0
        for epoch in range(1, 11):
            rows.append(
                _row(
                    experiment="convergence",
                    dataset="speech",
                    objective=objective,
                    seed=0,
                    epoch=epoch,
                    metric="heldout_accuracy",
                    value=0.8 * (1 - np.exp(-epoch / tau)),
                )
            )
    return pd.DataFrame(rows)


def test_hybrid_claims_flip_with_the_numbers() -> None:
    good = claims.check(_hybrid_study(0.05, faster=True))
    bad = claims.check(_hybrid_study(-0.05, faster=False))
    for words in ("self-supervised pre-training", "supervised training at", "converges faster"):
        assert _by_statement(good, words).verdict == claims.SUPPORTED, words
        assert _by_statement(bad, words).verdict == claims.NOT_SUPPORTED, words
    low = _by_statement(good, "supervised training at")
    assert "at 1 % labels" in low.detail and (low.holds, low.total) == (1, 1)
    assert _by_statement(good, "self-supervised pre-training").total == 3  # every fraction


def test_the_papers_best_pair_is_spelled_as_the_vocabulary_spells_augmentations() -> None:
    assert set(BEST_PAIR) <= set(AUGMENTATIONS)


def _augmentation_study(fade_mask: float) -> pd.DataFrame:
    rows = []
    for i, a in enumerate(AUGMENTATIONS):
        for j, b in enumerate(AUGMENTATIONS[i:], start=i):
            value = fade_mask if (a, b) == ("fade", "time_mask") else 0.5 + 0.01 * (i + j)
            augs = a if a == b else f"{a}+{b}"
            rows.append(
                _row(
                    experiment="augmentation",
                    dataset="speech",
                    augmentations=augs,
                    seed=0,
                    value=value,
                )
            )
    return pd.DataFrame(rows)


def test_augmentation_claims_flip_with_the_numbers() -> None:
    best = claims.check(_augmentation_study(0.9))
    assert _by_statement(best, "best pair").verdict == claims.SUPPORTED
    assert "ranks 1 of 15 pairs" in _by_statement(best, "best pair").detail
    matter = _by_statement(best, "Augmentations matter")
    assert matter.verdict == claims.SUPPORTED and "spread 40.0 points" in matter.detail
    worst = claims.check(_augmentation_study(0.1))
    assert _by_statement(worst, "best pair").verdict == claims.NOT_SUPPORTED
    assert "ranks 15 of 15 pairs" in _by_statement(worst, "best pair").detail
    # Cells within a few points of each other do not make "much better".
    flat = _augmentation_study(0.52)
    flat.loc[flat["augmentations"] != "fade+time_mask", "value"] = 0.5
    assert _by_statement(claims.check(flat), "Augmentations matter").verdict == (
        claims.NOT_SUPPORTED
    )


# ---- missing experiments and the front page ------------------------------------------------


def test_missing_experiments_do_not_crash(tmp_path: Path, results: pd.DataFrame) -> None:
    # A loss=hybrid run: grid rows of CLAR only, no E1, no E4, no confusion counts.
    hybrid_only = results[
        (results["experiment"] == "grid")
        & (results["objective"] == "hybrid")
        & ~results["metric"].str.startswith("confusion/")
    ]
    for name, frame in (("hybrid", hybrid_only), ("empty", results.iloc[:0])):
        out = tmp_path / name
        report.render(frame, RUN_INFO if name == "hybrid" else {}, out)
        assert sorted(p.name for p in out.iterdir()) == sorted(files.RENDERED)
        index = (out / files.INDEX).read_text()
        assert "No augmentation-study runs" in index
        assert "No convergence runs" in index
        assert index.count(claims.UNJUDGED) >= 5
    found = claims.check(hybrid_only)
    assert _by_statement(found, "Spectrogram").total == 2  # CLAR on both data sets
    assert _by_statement(found, "self-supervised pre-training").supported is None


def test_index_has_every_section_and_link(rendered: Path) -> None:
    index = (rendered / files.INDEX).read_text()
    for heading in (
        "## What ran",
        "## Claims of the paper",
        "### Claim 1",
        "### Claim 2",
        "### Claim 3",
        "## E1",
        "## E2",
        "## E3",
        "## E4",
        "## Confusion matrices",
    ):
        assert heading in index
    links = set(re.findall(r"\]\(([^)]+)\)", index))
    for name in files.RENDERED:
        if name != files.INDEX:
            assert name in links
    assert {f"{stem}.png" for stem in files.FIGURE_STEMS} <= set(
        re.findall(r"!\[[^]]*\]\(([^)]+)\)", index)
    )
    for link in links - {"results.csv"}:
        assert (rendered / link).is_file(), link
    assert "generated stand-in for Speech Commands" in index
    assert "generated stand-in for NSynth" in index
    assert "1 h 02 min" in index  # the train stage's 3725 s
    assert "`abc1234`" in index
    # The tables' content is on the front page too.
    assert len(tables(index)) >= len(tables((rendered / "e3_label_fractions.md").read_text()))
    # Six claim parts, each with a verdict.
    verdicts = (claims.SUPPORTED, claims.PARTLY, claims.NOT_SUPPORTED, claims.UNJUDGED)
    parts = [line for line in index.splitlines() if line.startswith("- **")]
    assert len(parts) == 6
    assert all(any(f"**: {v}." in line for v in verdicts) for line in parts)
