"""Tests of the report: every rendered number is re-derived from the rows it summarises."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clar import report
from clar.objectives import OBJECTIVES, Labels, Objective
from clar.report import aggregate, claims, e3, files, per_clip, verdicts
from clar.report.confusions import best_confusions
from clar.report.figures import TAB10, objective_colour
from clar.report.index import protocol
from clar.report.statistics import Stat
from clar.report.tables import MISSING
from clar.vocabulary import AUGMENTATIONS, BEST_PAIR

DATASETS = {"speech": [0, 1, 2], "music": [7]}  # several seeds, and a single seed
INPUTS = ("raw", "spectrogram")
FRACTIONS = (1, 10, 100)
CLASSES = ("yes", "no", "up")
NAME_TO_OBJECTIVE = {OBJECTIVES.get(key).title: key for key in OBJECTIVES.names()}
CELL = re.compile(r"^(\*\*)?(-?\d+\.\d)(?: ± (\d+\.\d))? \(n=(\d+)\)(\*\*)?$")


N_CLIPS = 60  # test clips of the fixture's data sets


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


def evaluation(
    correct: np.ndarray, valid: float | None = None, **key: object
) -> tuple[list[dict], dict]:
    """The results rows (accuracy = share correct, validation accuracy, labelled counts) and the
    per-clip row of one synthetic evaluation."""
    fraction = float(key.get("fraction", 100))
    per_class = max(1, round(fraction / 10))
    rows = [
        _row(**key, metric="accuracy", value=float(np.mean(correct))),
        _row(**key, metric="labelled_clips", value=3 * per_class),
        _row(**key, metric="labelled_share", value=100 * per_class / 10),
        _row(**key, metric="labelled_min_per_class", value=per_class),
        _row(**key, metric="labelled_max_per_class", value=per_class),
        _row(**key, metric="test_clips", value=len(correct)),
    ]
    if valid is not None:
        rows.append(_row(**key, metric="valid_accuracy", value=valid))
    clip = {c: _row(**key)[c] for c in per_clip.KEY_COLUMNS}
    clip |= {"clips": "same-clips", "correct": per_clip.encode(correct)}
    return rows, clip


def draw(rng: np.random.Generator, p: float, n: int = N_CLIPS) -> np.ndarray:
    return rng.random(n) < p


def make_results(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every experiment for two data sets, with random values and a duplicated-seed row; the
    results table and the per-clip table."""
    rows, clips = [], []

    def add(correct: np.ndarray, valid: float | None = None, **key: object) -> None:
        found, clip = evaluation(correct, valid, **key)
        rows.extend(found)
        clips.append(clip)

    for dataset, seeds in DATASETS.items():
        for seed in seeds:
            for i, a in enumerate(AUGMENTATIONS):
                for b in AUGMENTATIONS[i:]:
                    # The pair is written in reverse on purpose: "b+a" must land in the same cell.
                    augs = a if a == b else f"{b}+{a}"
                    add(
                        draw(rng, rng.uniform(0.3, 0.9)),
                        rng.uniform(0.3, 0.9),
                        experiment="augmentation",
                        dataset=dataset,
                        augmentations=augs,
                        seed=seed,
                    )
            for input_ in INPUTS:
                # The paper's grid: its three objectives, registered first.
                for objective in OBJECTIVES.names()[:3]:
                    for fraction in FRACTIONS:
                        key = dict(
                            dataset=dataset,
                            input=input_,
                            objective=objective,
                            fraction=fraction,
                            seed=seed,
                        )
                        add(draw(rng, rng.uniform(0.2, 0.95)), rng.uniform(0.2, 0.95), **key)
                        metrics = ["macro_f1"]
                        if objective != "contrastive":
                            metrics.append("classifier_accuracy")
                        for metric in metrics:
                            rows.append(_row(**key, metric=metric, value=rng.uniform(0.2, 0.95)))
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
    return pd.DataFrame(rows), pd.DataFrame(clips)


# E2 sets each encoder against the first of grid.inputs, which run_info records.
INPUT_ORDER = {"inputs": list(INPUTS)}
SPECTROGRAM_CLAIM = "on the spectrogram beats ResNet-18 (1-D) on the waveform"
RUN_INFO = {
    "profile": "test",
    "inputs": list(INPUTS),
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
def tables_(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    # Through CSVs, as the report stage reads them: ints become floats, empty cells NaN.
    folder = tmp_path_factory.mktemp("csv")
    results, clips = make_results(np.random.default_rng(1))
    results.to_csv(folder / "results.csv", index=False)
    clips.to_csv(folder / "per_clip.csv", index=False)
    return pd.read_csv(folder / "results.csv"), pd.read_csv(folder / "per_clip.csv", dtype=str)


@pytest.fixture(scope="module")
def results(tables_: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return tables_[0]


@pytest.fixture(scope="module")
def clips(tables_: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return tables_[1]


@pytest.fixture(scope="module")
def rendered(
    results: pd.DataFrame, clips: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("reports")
    written = report.render(results, RUN_INFO, out, clips)
    assert sorted(p.name for p in written) == sorted(files.RENDERED)
    return out


# ---- helpers: an independent aggregation and a Markdown reader ----------------------------


def expected(results: pd.DataFrame, **where: object) -> tuple[float, float, int]:
    """Mean, sample std and n in % over seeds of the rows matching ``where`` (seed-mean first);
    the metric is accuracy unless ``where`` names one."""
    where = {"metric": "accuracy"} | where
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


DIFF = re.compile(r"^([+−]\d+\.\d) \[([+−]\d+\.\d), ([+−]\d+\.\d)\] ([▲▼○])$")


def parse_diff(text: str) -> tuple[float, float, float, str]:
    """``+5.2 [+1.1, +9.0] ▲`` -> (5.2, 1.1, 9.0, "▲")."""
    match = DIFF.match(text)
    assert match, f"unexpected difference cell {text!r}"
    diff, low, high, mark = match.groups()
    number = [float(v.replace("−", "-")) for v in (diff, low, high)]
    return number[0], number[1], number[2], mark


def assert_difference(text: str, want: float) -> None:
    diff, low, high, mark = parse_diff(text)
    assert diff == pytest.approx(want, abs=0.05 + 1e-9)
    assert low <= diff <= high
    expected_mark = "▲" if low > 0 else "▼" if high < 0 else "○"
    assert mark == expected_mark


def test_e3_cells_equal_the_rows_they_summarise(rendered: Path, results: pd.DataFrame) -> None:
    metric_of = {title: metric for metric, title, _ in e3.metrics(set(results["objective"]))}
    found = tables((rendered / "e3_label_fractions.md").read_text())
    cells_ = [t for t in found if t[1][0] == "objective"]
    differences = [t for t in found if t[1][0] != "objective"]
    # 2 data sets x 2 inputs x 3 metrics, and the differences under the headline metric
    assert len(cells_) == 12 and len(differences) == 4
    for (section, subsection), header, body in cells_:
        dataset, input_ = re.match(r"^(\w+), (\w+) input$", subsection).groups()
        fractions = [float(h.split(" ")[0]) for h in header[1:]]
        assert fractions == [float(f) for f in FRACTIONS]
        # The real label fraction is named beside the nominal one.
        assert "1 % (real 10 %, 3 clips, 1/class) labels" in header
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
    own = [body for (section, _), _, body in cells_ if section.startswith("Own classifier")]
    assert {row[0] for body in own for row in body} == {"supervised", "CLAR (hybrid)"}
    for (_, subsection), header, body in differences:
        dataset, input_ = re.match(r"^(\w+), (\w+) input$", subsection).groups()
        fractions = [float(h.split(" ")[0]) for h in header[1:]]
        assert [row[0] for row in body] == ["CLAR − supervised", "CLAR − self-supervised"]
        for row, other in zip(body, ("supervised", "contrastive"), strict=True):
            for fraction, text in zip(fractions, row[1:], strict=True):
                where = dict(experiment="grid", dataset=dataset, input=input_, fraction=fraction)
                want = expected(results, **where, objective="hybrid", metric="accuracy")[0]
                want -= expected(results, **where, objective=other, metric="accuracy")[0]
                assert_difference(text, want)


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
            assert_difference(row[3], means["spectrogram"] - means["raw"])
            seeds = len(DATASETS[dataset])
            assert row[4] == f"{seeds} seed{'s' if seeds > 1 else ''} × {N_CLIPS} test clips"


def test_e1_matrix_is_symmetric_and_matches_rows(rendered: Path, results: pd.DataFrame) -> None:
    found = tables((rendered / "e1_augmentations.md").read_text())
    matrices = [t for t in found if t[1][0] == ""]
    assert [context for context, _, _ in matrices] == [("speech",), ("music",)]
    augs = list(AUGMENTATIONS)
    for (dataset,), header, body in matrices:
        assert header[1:] == augs
        texts = {}
        for row in body:
            a = row[0].strip("*")
            texts.update(((a, b), text) for b, text in zip(augs, row[1:], strict=True))
        # Bold marks the best cell on validation accuracy, what claim 1 chooses on.
        valid = {
            (a, b): expected(
                results,
                experiment="augmentation",
                dataset=dataset,
                augmentations=a if a == b else f"{b}+{a}",
                metric="valid_accuracy",
            )[0]
            for a, b in texts
            if augs.index(a) <= augs.index(b)
        }
        best = max(valid, key=valid.get)
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
            assert cell[3] == ((augs[i], augs[j]) == best)
    # Each cell against the paper's pair: a paired interval on every row but the reference.
    listed = [t for t in found if t[1][0] == "cell"]
    assert len(listed) == 2
    for (dataset,), _, body in listed:
        assert len(body) == 21
        reference = [row for row in body if row[0] == "fade + time_mask"]
        assert [row[3] for row in reference] == ["(reference)"]
        target = expected(
            results, experiment="augmentation", dataset=dataset, augmentations="time_mask+fade"
        )[0]
        for row in body:
            if row[0] == "fade + time_mask":
                continue
            parts = row[0].split(" + ")
            stored = "+".join(reversed(parts))
            other = expected(
                results, experiment="augmentation", dataset=dataset, augmentations=stored
            )[0]
            assert_difference(row[3], target - other)


def test_e4_table_times_both_models_to_a_shared_threshold(rendered: Path) -> None:
    def curve(tau: float) -> np.ndarray:
        return 0.9 * (1 - np.exp(-np.arange(1, 9) / tau))

    hybrid, contrastive = curve(1.5), curve(4.0)
    # The threshold is set from the lower final accuracy (the self-supervised model's).
    threshold = 0.9 * min(hybrid[-1], contrastive[-1])
    want = [int(np.argmax(c >= threshold)) + 1 for c in (hybrid, contrastive)]
    found = tables((rendered / "e4_convergence.md").read_text())
    races = [t for t in found if t[1][0] == "CLAR labels"]
    assert [context for context, _, _ in races] == [
        ("speech, spectrogram input",),
        ("music, spectrogram input",),
    ]
    for (context,), _, body in races:
        (row,) = body
        assert float(row[1]) == pytest.approx(100 * threshold, abs=0.05)
        assert row[2] == f"{want[0]} / {want[1]}"
        if context.startswith("speech"):  # three identical seeds: an interval of zero width
            diff, low, high, mark = parse_diff(row[3])
            assert low == diff == high
            area = np.trapezoid(hybrid - contrastive, np.arange(1, 9)) / 7
            assert diff == pytest.approx(100 * area, abs=0.05) and mark == "▲"
        else:  # one seed: no interval over seeds
            assert row[3] == MISSING


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


def test_confusion_picks_best_configuration_on_validation_accuracy(
    results: pd.DataFrame,
) -> None:
    data = aggregate.gather(results, RUN_INFO)
    confusions = best_confusions(data, RUN_INFO)
    assert set(confusions) == {"speech", "music"}
    choices = ("supervised", "hybrid")
    for dataset, confusion in confusions.items():
        where = dict(experiment="grid", dataset=dataset, input="spectrogram", fraction=100)
        valid = [
            expected(results, **where, objective=o, metric="valid_accuracy")[0] for o in choices
        ]
        test = [expected(results, **where, objective=o)[0] for o in choices]
        assert confusion.key[2] == choices[int(np.argmax(valid))]
        assert confusion.valid is not None
        assert 100 * confusion.valid.mean == pytest.approx(max(valid))
        assert "chosen on validation accuracy" in confusion.title()
        assert confusion.classes == CLASSES
        assert confusion.seeds == (DATASETS[dataset][0],)
        assert confusion.normalised.sum(axis=1) == pytest.approx(np.ones(len(CLASSES)))
    # The fixture is only a real check if validation and test disagree somewhere.
    disagree = []
    for dataset in DATASETS:
        where = dict(experiment="grid", dataset=dataset, input="spectrogram", fraction=100)
        valid = [
            expected(results, **where, objective=o, metric="valid_accuracy")[0] for o in choices
        ]
        test = [expected(results, **where, objective=o)[0] for o in choices]
        disagree.append(np.argmax(valid) != np.argmax(test))
    assert any(disagree)


# ---- claims ---------------------------------------------------------------------------------


def _by_statement(found: list[claims.Claim], words: str) -> claims.Claim:
    (claim,) = [c for c in found if words in c.statement]
    return claim


def detail(claim: claims.Claim) -> str:
    """Everything a claim says: its line, its criterion and each comparison's sentence."""
    listed = "; ".join(j.comparison.sentence() for j in claim.judged)
    return f"{claim.sentence()} {claim.criterion} {listed}"


KINDS = ("effect", "null", "reversed")
WANT = {
    "effect": verdicts.SUPPORTED,
    "null": verdicts.INCONCLUSIVE,
    "reversed": verdicts.CONTRADICTED,
}


def outcomes(
    rng: np.random.Generator, kind: str, others: int = 1, n: int = 500
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A's correctness on n clips and that of ``others`` methods B: A right on 80 % and each B
    on 60 % (effect), the reverse, or the same accuracy with independent errors (null: each B
    is A's outcomes shuffled)."""
    if kind == "null":
        a = draw(rng, 0.7, n)
        return a, [rng.permutation(a) for _ in range(others)]
    high, low = (0.8, 0.6) if kind == "effect" else (0.6, 0.8)
    return draw(rng, high, n), [draw(rng, low, n) for _ in range(others)]


def _frames(evaluations: list[tuple[np.ndarray, dict]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, clips = [], []
    for correct, key in evaluations:
        found, clip = evaluation(correct, 0.5, **key)
        rows += found
        clips.append(clip)
    return pd.DataFrame(rows), pd.DataFrame(clips)


def input_study(kind: str, seeds: tuple[int, ...] = (0, 1, 2)) -> tuple[pd.DataFrame, ...]:
    """One data set, every objective at 100 %: spectrogram is A, raw is B."""
    rng = np.random.default_rng(7)
    found = []
    for objective in OBJECTIVES.names()[:3]:  # the paper's three, registered first
        for seed in seeds:
            spec, (raw,) = outcomes(rng, kind)
            key = dict(dataset="speech", objective=objective, seed=seed)
            found += [(spec, key | {"input": "spectrogram"}), (raw, key | {"input": "raw"})]
    return _frames(found)


def hybrid_study(kind: str, seeds: tuple[int, ...] = (0, 1, 2)) -> tuple[pd.DataFrame, ...]:
    """One data set, spectrogram input, 10 and 100 % labels: CLAR is A, supervised and
    self-supervised are the Bs; held-out curves where CLAR rises faster (effect), slower
    (reversed) or identically (null)."""
    rng = np.random.default_rng(8)
    found = []
    for seed in seeds:
        for fraction in (10, 100):
            hybrid, others = outcomes(rng, kind, others=2)
            key = dict(dataset="speech", fraction=fraction, seed=seed)
            for objective, correct in zip(
                ("hybrid", "supervised", "contrastive"), [hybrid, *others], strict=True
            ):
                found.append((correct, key | {"objective": objective}))
    results, clips = _frames(found)
    taus = {"effect": (1.0, 4.0), "null": (2.0, 2.0), "reversed": (4.0, 1.0)}[kind]
    curves = []
    for seed in seeds:
        for objective, tau in zip(("hybrid", "contrastive"), taus, strict=True):
            for epoch in range(1, 9):
                value = 0.8 * (1 - np.exp(-epoch / tau)) + 0.01 * rng.standard_normal()
                curves.append(
                    _row(
                        experiment="convergence",
                        dataset="speech",
                        objective=objective,
                        seed=seed,
                        epoch=epoch,
                        metric="heldout_accuracy",
                        value=value,
                    )
                )
    return pd.concat([results, pd.DataFrame(curves)], ignore_index=True), clips


@pytest.mark.parametrize("kind", KINDS)
def test_input_claim_follows_a_known_effect(kind: str) -> None:
    # Five seeds: with three, a t interval over seeds (two degrees of freedom) corrected for
    # three comparisons may leave even a 20-point effect undecided.
    results, clips = input_study(kind, seeds=(0, 1, 2, 3, 4))
    claim = _by_statement(claims.check(results, INPUT_ORDER, clips), SPECTROGRAM_CLAIM)
    assert claim.verdict == WANT[kind]
    assert claim.count(WANT[kind]) == 3  # every objective
    assert "95 % CI" in detail(claim) and "5 seeds × 500 test clips" in detail(claim)
    if kind == "effect":
        assert "3 of 3 comparisons supported" in detail(claim)
        assert claim.sentence().endswith("; Holm-corrected over 3")


@pytest.mark.parametrize("kind", KINDS)
def test_hybrid_claims_follow_a_known_effect(kind: str) -> None:
    results, clips = hybrid_study(kind)
    found = claims.check(results, INPUT_ORDER, clips)
    self_supervised = _by_statement(found, "self-supervised pre-training")
    assert self_supervised.verdict == WANT[kind]
    assert len(self_supervised.states) == 2  # every fraction
    low = _by_statement(found, "supervised training at")
    assert low.verdict == WANT[kind] and len(low.states) == 1
    assert "speech/spectrogram/10 % (real 10 %, 3 clips, 1/class)" in detail(low)
    convergence = _by_statement(found, "converges faster")
    assert convergence.verdict == WANT[kind]
    assert "3 seeds" in detail(convergence)


def test_one_seed_is_judged_on_clips_and_a_null_is_never_supported() -> None:
    results, clips = hybrid_study("effect", seeds=(0,))
    found = claims.check(results, INPUT_ORDER, clips)
    assert _by_statement(found, "supervised training at").verdict == verdicts.SUPPORTED
    assert "1 seed × 500 test clips" in detail(_by_statement(found, "supervised training at"))
    # One seed has no interval over seeds: convergence cannot be judged.
    assert _by_statement(found, "converges faster").verdict == verdicts.UNJUDGED
    for seeds in ((0,), (0, 1, 2)):
        results, clips = hybrid_study("null", seeds=seeds)
        for claim in claims.check(results, INPUT_ORDER, clips):
            assert claim.verdict != verdicts.SUPPORTED, claim.sentence()


def test_claims_are_deterministic() -> None:
    results, clips = hybrid_study("null")
    first = [c.sentence() for c in claims.check(results, INPUT_ORDER, clips)]
    assert first == [c.sentence() for c in claims.check(results, INPUT_ORDER, clips)]


def test_without_per_clip_outcomes_nothing_is_judged_from_means() -> None:
    results, _ = input_study("effect")
    claim = _by_statement(claims.check(results, INPUT_ORDER), SPECTROGRAM_CLAIM)
    assert claim.verdict == verdicts.UNJUDGED
    assert "no per-clip predictions" in detail(claim)


def test_the_papers_best_pair_is_spelled_as_the_vocabulary_spells_augmentations() -> None:
    assert set(BEST_PAIR) <= set(AUGMENTATIONS)


def augmentation_study(
    test: dict[str, float], valid: dict[str, float], n: int = 400
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One seed of E1 on one data set: each cell right on ``test[cell]`` of n clips."""
    rng = np.random.default_rng(3)
    rows, clips = [], []
    for augs, p in test.items():
        correct = np.zeros(n, dtype=bool)
        correct[rng.permutation(n)[: round(p * n)]] = True
        found, clip = evaluation(
            correct,
            valid[augs],
            experiment="augmentation",
            dataset="speech",
            augmentations=augs,
            seed=0,
        )
        rows += found
        clips.append(clip)
    return pd.DataFrame(rows), pd.DataFrame(clips)


CELLS = ("fade", "time_mask", "noise", "fade+time_mask", "time_shift+noise", "fade+noise")


def test_augmentation_claims_follow_the_numbers() -> None:
    test = dict.fromkeys(CELLS, 0.5) | {"fade+time_mask": 0.85}
    results, clips = augmentation_study(test, test)
    found = claims.check(results, INPUT_ORDER, clips)
    best = _by_statement(found, "best pair")
    assert best.verdict == verdicts.SUPPORTED
    assert "2 of 2 comparisons supported" in detail(best)
    matter = _by_statement(found, "Augmentations matter")
    assert matter.verdict == verdicts.SUPPORTED
    assert "fade + time_mask (validation 85.0 %)" in detail(matter)
    worst = dict.fromkeys(CELLS, 0.5) | {"fade+time_mask": 0.2}
    results, clips = augmentation_study(worst, worst)
    assert _by_statement(claims.check(results, INPUT_ORDER, clips), "best pair").verdict == (
        verdicts.CONTRADICTED
    )
    # One pair beats it, one does not differ: contradicted (a pair beats the paper's).
    mixed = dict.fromkeys(CELLS, 0.5) | {"fade+noise": 0.8}
    results, clips = augmentation_study(mixed, mixed)
    best = _by_statement(claims.check(results, INPUT_ORDER, clips), "best pair")
    assert best.verdict == verdicts.CONTRADICTED
    assert "0 of 2 comparisons supported, 1 contradicted, 1 inconclusive" in detail(best)


def test_best_and_worst_cell_are_chosen_on_validation_not_test() -> None:
    # noise is best on test and worst on validation; fade is best on validation. Choosing on
    # test would report a large spread; choosing on validation measures fade − noise < 0.
    test = dict.fromkeys(CELLS, 0.5) | {"noise": 0.9}
    valid = dict.fromkeys(CELLS, 0.6) | {"noise": 0.3, "fade": 0.9}
    results, clips = augmentation_study(test, valid)
    matter = _by_statement(claims.check(results, INPUT_ORDER, clips), "Augmentations matter")
    assert "fade (validation 90.0 %) − noise (validation 30.0 %)" in detail(matter)
    assert matter.verdict == verdicts.CONTRADICTED


# ---- missing experiments and the front page ------------------------------------------------


def test_missing_experiments_do_not_crash(
    tmp_path: Path, results: pd.DataFrame, clips: pd.DataFrame
) -> None:
    # A loss=hybrid run: grid rows of CLAR only, no E1, no E4, no confusion counts.
    hybrid_only = results[
        (results["experiment"] == "grid")
        & (results["objective"] == "hybrid")
        & ~results["metric"].str.startswith("confusion/")
    ]
    for name, frame in (("hybrid", hybrid_only), ("empty", results.iloc[:0])):
        out = tmp_path / name
        report.render(frame, RUN_INFO if name == "hybrid" else {}, out, clips)
        assert sorted(p.name for p in out.iterdir()) == sorted(files.RENDERED)
        index = (out / files.INDEX).read_text()
        assert "No augmentation-study runs" in index
        assert "No convergence runs" in index
        assert index.count(claims.UNJUDGED) >= 5
    found = claims.check(hybrid_only, INPUT_ORDER, clips)
    assert len(_by_statement(found, SPECTROGRAM_CLAIM).states) == 2  # CLAR on both data sets
    assert _by_statement(found, "self-supervised pre-training").supported is None


def test_index_has_every_section_and_link(rendered: Path) -> None:
    index = (rendered / files.INDEX).read_text()
    for heading in (
        "## Verdicts",
        "## Training settings per objective",
        "## Claims in detail",
        "### Claim 1",
        "### Claim 2",
        "### Claim 3",
        "## What ran",
        "## E1",
        "## E2",
        "## E3",
        "## E4",
        "## Confusion matrices",
    ):
        assert heading in index
    links = set(re.findall(r"\]\(([^)]+)\)", index))
    for name in files.RENDERED:
        if name not in (files.INDEX, files.HEADS_TABLE):
            assert name in links
    # No extra evaluation heads here: their table is written but not named.
    assert files.HEADS_TABLE not in links
    assert {f"{stem}.png" for stem in files.FIGURE_STEMS} <= set(
        re.findall(r"!\[[^]]*\]\(([^)]+)\)", index)
    )
    for link in links - set(files.DATA) - {"../docs/statistics.md#intervals"}:
        target = rendered / link
        # A link to a folder (the training curves) points at files, not at nothing.
        assert target.is_file() or any(target.rglob("*.tsv")), link
    assert "generated stand-in for Speech Commands" in index
    assert "generated stand-in for NSynth" in index
    # Wall times are linked, never printed: the same runs must give the same page.
    assert files.TIMINGS in links and "3725" not in index and "1 h 02 min" not in index
    assert "`abc1234`" in index
    # The tables' content is on the front page too.
    assert len(tables(index)) >= len(tables((rendered / "e3_label_fractions.md").read_text()))


def test_front_page_opens_with_the_data_banner_and_the_verdict_table(rendered: Path) -> None:
    index = (rendered / files.INDEX).read_text()
    lines = index.splitlines()
    banner = "\n".join(line for line in lines[:6] if line.startswith(">"))
    assert "generated stand-ins, not the real corpora" in banner
    assert "speech (for Speech Commands)" in banner and "music (for NSynth)" in banner
    assert "Profile `test`; seeds 0, 1, 2" in banner
    (summary,) = [t for t in tables(index) if t[0] == ("Verdicts",)]
    _, header, body = summary
    assert header[2:] == ["verdict", *verdicts.STATES, verdicts.UNJUDGED]
    assert len(body) == 6  # six claim parts
    found = claims.check(*_rendered_inputs())
    for row, claim in zip(body, found, strict=True):
        assert row[2] == f"**{claim.verdict}**"
        if claim.judged:
            counts = [int(v) for v in row[3:]]
            assert counts == [claim.count(s) for s in (*verdicts.STATES, verdicts.UNJUDGED)]
            assert sum(counts) == len(claim.judged)


def _rendered_inputs() -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    results, clips = make_results(np.random.default_rng(1))
    return results, RUN_INFO, clips


def test_every_claim_line_is_short_and_has_its_own_table(rendered: Path) -> None:
    index = (rendered / files.INDEX).read_text()
    detail = index.split("## Claims in detail", 1)[1].split("## Sources", 1)[0]
    states = verdicts.VERDICTS
    parts = [line for line in detail.splitlines() if line.startswith("**")]
    assert len(parts) == 6
    assert all(any(f"**: {v}" in line for v in states) for line in parts)
    top = index.split("## Sources", 1)[0]
    assert max(len(line) for line in top.splitlines() if not line.startswith("|")) <= 300
    assert max(len(line) for line in parts) <= 300
    found = [
        t for t in tables(detail) if t[1][:3] == ["comparison", "difference (points)", "95 % CI"]
    ]
    # One table per judged part (convergence's unit differs: its header names it).
    assert len(found) >= 4
    for _, header, body in found:
        assert header[3:] == ["n", "p (Holm)", "state"]
        for row in body:
            assert row[5].split(" ")[0] in (*verdicts.STATES, "cannot")
            if row[1] != MISSING:
                assert "seed" in row[3]


def test_forest_plot_has_a_row_per_judged_comparison(rendered: Path) -> None:
    from clar.report import forest

    found = claims.check(*_rendered_inputs())
    fig = forest.figure(found)
    rows = [len(ax.get_yticks()) for ax in fig.axes]
    assert rows == [
        sum(1 for j in c.judged if j.comparison.interval)
        for c in found
        if any(j.comparison.interval for j in c.judged)
    ]
    png = (rendered / "forest.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_settings_table_gives_each_objectives_batch_size_and_rate() -> None:
    from clar.report import settings

    # The build test (test_report_files.py) reads these from run.json onto the front page.
    found = [
        {
            "experiment": "grid",
            "dataset": d,
            "objective": o,
            "batch_size": b,
            "lr": lr,
            "epochs": 3,
            "runs": 9,
        }
        for d in ("music", "speech")
        for o, b, lr in (("contrastive", 32, 0.001), ("supervised", 16, 0.01))
    ]
    found.append(found[0] | {"experiment": "augmentation", "runs": 5})
    (table,) = tables("## t\n\n" + settings.table(found, ["speech", "music"]))
    _, header, body = table
    assert header == [
        "runs of",
        "objective",
        "data sets",
        "batch size",
        "learning rate",
        "epochs",
        "runs",
    ]
    assert body == [
        ["grid (E2-E4)", "supervised", "speech, music", "16", "0.01", "3", "18"],
        ["grid (E2-E4)", "self-supervised + head", "speech, music", "32", "0.001", "3", "18"],
        ["augmentation study (E1)", "self-supervised + head", "music", "32", "0.001", "3", "5"],
    ]
    assert "record no training settings" in settings.table([])


def test_front_page_says_which_protocol_switches_ran() -> None:
    run_info = {
        "protocol": {"identical_views": "redraw", "head_selection": "fraction"},
        "datasets": {
            "sc09": {"options": {"words": "digits", "version": "v0.01"}},
            "esc10": {"options": {"esc10": True, "test_fold": 3}},
            "speech": {"options": {"generator": "speech"}},
        },
    }
    lines = protocol(run_info).splitlines()
    assert lines[0].startswith("- positive pairs with identical views: `redraw`")
    assert "evaluation head's epoch: `fraction`" in lines[0]
    assert lines[1] == "- sc09: Speech Commands `v0.01`"
    assert lines[2].startswith("- esc10: fold `3` held out for test")
    assert len(lines) == 3 and protocol({}) == ""


def test_e1_figure_frames_the_cells_claim_1_chose_on_validation(
    results: pd.DataFrame, clips: pd.DataFrame
) -> None:
    from matplotlib.patches import Rectangle

    from clar.report import e1

    data = aggregate.gather(results, RUN_INFO, clips)
    study = e1.augmentation_study(data.df)
    fig = e1.figure(data, study)
    augs = list(AUGMENTATIONS)
    # The panels come first, then their colour bars.
    for ax, dataset in zip(fig.axes[:2], ("speech", "music"), strict=True):
        # Independently: the best and the worst cell by mean validation accuracy.
        valid = {}
        for i, a in enumerate(augs):
            for b in augs[i:]:
                stored = a if a == b else f"{b}+{a}"
                valid[(a, b)] = expected(
                    results,
                    experiment="augmentation",
                    dataset=dataset,
                    augmentations=stored,
                    metric="valid_accuracy",
                )[0]
        top, bottom = max(valid, key=valid.get), min(valid, key=valid.get)
        frames = {
            (p.get_linestyle(), (round(p.get_x() + 0.5), round(p.get_y() + 0.5)))
            for p in ax.patches
            if isinstance(p, Rectangle)
        }
        want = set()
        for style, (a, b) in (("-", top), ("--", bottom)):
            i, j = augs.index(a), augs.index(b)
            want |= {(style, (j, i)), (style, (i, j))}
        assert frames == want
        # The colour scale is never narrower than the typical interval: noise must not look
        # large.
        (image,) = ax.images
        low, high = image.get_clim()
        versus = e1.versus_best_pair(data, study, (dataset, "spectrogram"))
        halves = [(c.interval.high - c.interval.low) / 2 for c in versus.values() if c.interval]
        noise = float(np.median(halves))
        cells = image.get_array().compressed()
        middle = (cells.min() + cells.max()) / 2
        assert low <= max(0.0, middle - noise) + 1e-9 and high >= min(100.0, middle + noise) - 1e-9
        assert low <= cells.min() and high >= cells.max()


# ---- a method the paper does not have ------------------------------------------------------


class SupCon(Objective):
    """A fourth objective, as a plug-in declares it: trained on the fraction's labels and
    compared with supervised training."""

    name = "supcon"
    title = "SupCon (supervised contrastive)"
    labels = Labels.FRACTION
    compared_with = ("supervised",)


@pytest.fixture
def supcon(monkeypatch: pytest.MonkeyPatch) -> str:
    """SupCon registered for one test: the registry is process-wide, and the other tests count
    the paper's three."""
    OBJECTIVES.names()  # the project's own first, as in any run
    monkeypatch.setattr(OBJECTIVES, "_methods", dict(OBJECTIVES._methods))
    monkeypatch.setattr(OBJECTIVES, "_plugins", dict(OBJECTIVES._plugins))
    OBJECTIVES.add(SupCon, "plugins.objectives[0]", "tests/test_report.py:SupCon")
    return SupCon.name


def supcon_study(kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One data set, spectrogram input, 10 and 100 % labels, three seeds: SupCon is A and
    supervised B (``kind``); CLAR and self-supervised are right on 70 % of the clips."""
    rng = np.random.default_rng(9)
    found = []
    for seed in (0, 1, 2):
        for fraction in (10, 100):
            mine, (theirs,) = outcomes(rng, kind)
            key = dict(dataset="speech", fraction=fraction, seed=seed)
            found += [
                (mine, key | {"objective": "supcon"}),
                (theirs, key | {"objective": "supervised"}),
                (draw(rng, 0.7, 500), key | {"objective": "hybrid"}),
                (draw(rng, 0.7, 500), key | {"objective": "contrastive"}),
            ]
    return _frames(found)


@pytest.mark.parametrize("kind", KINDS)
def test_a_fourth_objective_is_compared_as_it_declares(kind: str, supcon: str) -> None:
    results, clips = supcon_study(kind)
    found = claims.check(results, INPUT_ORDER, clips)
    low = _by_statement(found, "SupCon beats supervised training at the lowest label fraction")
    assert low.verdict == WANT[kind] and len(low.states) == 1
    assert "SupCon − supervised" in low.criterion
    # It names no label-free objective: no every-fraction claim of its own; CLAR's are kept.
    assert not [c for c in found if "SupCon beats" in c.statement and "every" in c.statement]
    assert _by_statement(found, "CLAR beats supervised training at the lowest")
    assert _by_statement(found, "CLAR beats self-supervised pre-training")


def test_a_fourth_objective_has_its_rows_claims_and_colour(tmp_path: Path, supcon: str) -> None:
    results, clips = supcon_study("effect")
    report.render(results, RUN_INFO, tmp_path, clips)
    e3_text = (tmp_path / files.E3_TABLE).read_text()
    assert e3_text.startswith(
        "# E3: supervised vs self-supervised vs CLAR vs SupCon at each label fraction"
    )
    found = tables(e3_text)
    headline = ("Evaluation-head accuracy (headline metric)", "speech, spectrogram input")
    rows = {row[0]: row for context, _, body in found if context == headline for row in body}
    # Its seed mean over the three seeds, as for the paper's objectives.
    want = expected(results, dataset="speech", input="spectrogram", objective="supcon", fraction=10)
    assert_matches(parse_cell(rows["SupCon (supervised contrastive)"][1]), want)
    assert [r[0] for r in rows.values() if "−" in r[0]] == [
        "CLAR − supervised",
        "CLAR − self-supervised",
        "SupCon − supervised",
    ]
    theirs = expected(
        results, dataset="speech", input="spectrogram", objective="supervised", fraction=10
    )
    assert_difference(rows["SupCon − supervised"][1], want[0] - theirs[0])
    index = (tmp_path / files.INDEX).read_text()
    assert "**SupCon beats supervised training at the lowest label fraction**: supported" in index
    # Colours by registry index: the paper's three keep theirs, the others take tab10's next.
    colours = [objective_colour(o) for o in OBJECTIVES.names()]
    assert colours[:3] == ["tab:blue", "tab:orange", "tab:green"]
    assert OBJECTIVES.names()[-1] == "supcon" and colours[-1] == TAB10[len(colours) - 1]
    assert len(set(colours)) == len(colours)


def test_e2_sets_each_encoder_against_the_first_of_grid_inputs() -> None:
    results, clips = input_study("effect", seeds=(0, 1, 2, 3, 4))
    found = claims.check(results, {"inputs": ["spectrogram", "raw"]}, clips)
    (claim,) = [c for c in found if c.number == 2]
    assert claim.statement.startswith("ResNet-18 (1-D) on the waveform beats ResNet-18 (2-D)")
    assert claim.verdict == verdicts.CONTRADICTED
    assert "raw − spectrogram" in claim.criterion


def test_e2_has_a_column_and_a_difference_per_encoder(tmp_path: Path) -> None:
    # A third encoder (any name: the report needs no class for it) that beats raw by 20 points;
    # spectrogram and raw tie.
    rng = np.random.default_rng(10)
    found = []
    for objective in OBJECTIVES.names()[:3]:  # the paper's three, registered first
        for seed in range(5):
            mel, (raw, spec) = outcomes(rng, "effect", others=2)
            key = dict(dataset="speech", objective=objective, seed=seed)
            found += [
                (mel, key | {"input": "mel"}),
                (raw, key | {"input": "raw"}),
                (spec, key | {"input": "spectrogram"}),
            ]
    results, clips = _frames(found)
    info = RUN_INFO | {"inputs": ["raw", "spectrogram", "mel"]}
    report.render(results, info, tmp_path, clips)
    ((_, header, body),) = tables((tmp_path / files.E2_TABLE).read_text())
    assert header == [
        "objective",
        "raw",
        "spectrogram",
        "mel",
        "spectrogram − raw (points) [95 % CI]",
        "n",
        "mel − raw (points) [95 % CI]",
        "n",
    ]
    for row in body:
        objective = NAME_TO_OBJECTIVE[row[0]]
        mine = expected(results, input="mel", objective=objective)[0]
        assert_difference(row[6], mine - expected(results, input="raw", objective=objective)[0])
    e2 = [c for c in claims.check(results, info, clips) if c.number == 2]
    assert [c.statement.split(" beats ")[0] for c in e2] == [
        "ResNet-18 (2-D) on the spectrogram",
        "mel",
    ]
    assert e2[1].verdict == verdicts.SUPPORTED and e2[1].count(verdicts.SUPPORTED) == 3


def test_the_report_speaks_of_the_objectives_run_info_names(tmp_path: Path) -> None:
    results, clips = hybrid_study("effect")
    ran = set(results["objective"]) - {""}
    # Without run_info's objectives, the table's: a registered objective no run used is absent.
    report.render(results, RUN_INFO, tmp_path, clips)
    e3_text = (tmp_path / files.E3_TABLE).read_text()
    assert e3_text.startswith("# E3: supervised vs self-supervised vs CLAR at each label fraction")
    unused = [OBJECTIVES.get(o).title for o in OBJECTIVES.names() if o not in ran]
    index = (tmp_path / files.INDEX).read_text()
    assert unused and not [title for title in unused if title in index + e3_text]
    # The parameters ran CLAR alone: its claims only, judged on the rows the table has.
    alone = claims.check(results, RUN_INFO | {"objectives": ["hybrid"]}, clips)
    assert _by_statement(alone, "CLAR beats supervised training at the lowest").verdict == (
        verdicts.SUPPORTED
    )
    # Without CLAR among them, none of its claims, although its rows are in the table.
    others = claims.check(results, RUN_INFO | {"objectives": ["supervised", "contrastive"]}, clips)
    assert not [c for c in others if "CLAR" in c.statement]
    assert [c for c in claims.check(results, RUN_INFO, clips) if "CLAR" in c.statement]
