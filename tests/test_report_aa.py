"""The A/A benchmark (python -m clar.report.aa) on two small synthetic reports of one grid with
disjoint seeds: what it counts is recomputed here, and what must fail it does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report import draw, evaluation

from clar.errors import ClarError
from clar.report import aa, files, intervals, per_clip

ACCURACY = {"supervised": 0.55, "contrastive": 0.6, "hybrid": 0.7}
FRACTIONS = (10, 100)
CLIPS = 300


def write_report(
    folder: Path, seeds: tuple[int, ...], rng: np.random.Generator, swap: bool = False
) -> Path:
    """A reports/ folder of one data set's grid: every objective at two fractions, and two
    augmentation-study cells at seed 0 whatever the grid's seeds (as the pipeline runs them);
    ``swap`` makes CLAR the worst and supervised the best (a report whose verdicts flip)."""
    rows, clips = [], []
    for augs in ("fade", "fade+time_mask"):
        key = dict(experiment="augmentation", dataset="speech", augmentations=augs, seed=0)
        found, clip = evaluation(draw(rng, 0.6, CLIPS), 0.5, **key)
        rows += found
        clips.append(clip)
    accuracy = dict(ACCURACY)
    if swap:
        accuracy["hybrid"], accuracy["supervised"] = accuracy["supervised"] - 0.1, 0.75
    for seed in seeds:
        shift = rng.normal(0, 0.02)  # the seed's labelled subset, shared by its objectives
        for objective, p in accuracy.items():
            for fraction in FRACTIONS:
                key = dict(dataset="speech", objective=objective, fraction=fraction, seed=seed)
                found, clip = evaluation(draw(rng, p + shift, CLIPS), 0.5, **key)
                rows += found
                clips.append(clip)
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / files.RESULTS, index=False)
    pd.DataFrame(clips).to_csv(folder / files.PER_CLIP, index=False)
    return folder


def test_aa_counts_what_it_says(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(21)
    first = write_report(tmp_path / "a", (0, 1, 2), rng)
    second = write_report(tmp_path / "b", (3, 4, 5), rng)
    code = aa.main([str(first), str(second), "--out", str(tmp_path / "aa.md")])
    text = capsys.readouterr().out
    assert text == (tmp_path / "aa.md").read_text() + "\n"
    found, skipped = aa.aa(aa.read(first), aa.read(second))
    assert len(found) == len(ACCURACY) * len(FRACTIONS)
    # The study ran at seed 0 in both: the same run twice, not compared.
    assert [c[0] for c in skipped] == ["augmentation", "augmentation"]
    assert "not compared: 2 configuration(s) run with a same seed in both" in text
    # Recomputed: each configuration's seeds 0, 1, 2 against 3, 4, 5, in that order.
    a, b = (t[t["experiment"] == "grid"] for t in (aa.read(first).clips, aa.read(second).clips))

    def outcomes(table: pd.DataFrame, objective: str, fraction: float) -> np.ndarray:
        rows = table[(table["objective"] == objective) & (table["fraction"] == fraction)]
        return np.stack([per_clip.decode(c) for c in rows.sort_values("seed")["correct"]])

    hits = 0
    for r in found:
        _, _, _, objective, fraction, _ = r.config
        d = outcomes(a, objective, fraction).astype(float) - outcomes(b, objective, fraction)
        want = intervals.paired(d)
        assert r.pairs == 3 and r.t == pytest.approx((want.low, want.high))
        hits += want.excludes_zero()
    assert f"excludes zero in {hits} of {len(found)}" in text
    assert "supported and contradicted: 0" in text
    assert code == (1 if hits > 0.1 * len(found) else 0)


def test_a_flipped_verdict_and_a_real_difference_fail_the_benchmark(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rng = np.random.default_rng(22)
    first = write_report(tmp_path / "a", (0, 1, 2), rng)
    second = write_report(tmp_path / "b", (3, 4, 5), rng, swap=True)
    assert aa.main([str(first), str(second)]) == 1
    text = capsys.readouterr().out
    flipped = aa.moves(aa.states(aa.read(first)), aa.states(aa.read(second)))["flipped"]
    assert flipped and f"supported and contradicted: {len(flipped)}" in text
    assert "## Comparisons whose state changed" in text
    # The swapped objectives differ by 20-35 points between the two reports: excluded.
    compared, _ = aa.aa(aa.read(first), aa.read(second))
    found = {r.config[3]: r for r in compared if r.config[0] == "grid" and r.config[4] == 100}
    assert found["supervised"].t_excludes and found["hybrid"].t_excludes


def test_overlapping_seeds_and_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(23)
    first = write_report(tmp_path / "a", (0, 1), rng)
    second = write_report(tmp_path / "b", (1, 2), rng)
    with pytest.raises(ClarError, match=r"seeds \[1\] are also in .*disjoint seeds"):
        aa.main([str(first), str(second)])
    with pytest.raises(ClarError, match=r"per_clip.csv: not found"):
        aa.main([str(first), str(tmp_path / "nowhere")])
