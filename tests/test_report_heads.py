"""The head table: each head of ``evaluate.extra_heads`` beside ``evaluate.head``, every cell
re-derived from the synthetic rows it summarises, and a real tiny run scored with extra heads
whose files reach results.csv, per_clip.csv and the table; without extra heads nothing moves."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clar import report, runs
from clar.compose import compose
from clar.config import parse_params
from clar.errors import ClarError
from clar.grid import load_methods
from clar.report import files, heads, per_clip
from clar.report.results import collect, head_metric
from tests.test_report import draw, evaluation, tables
from tests.test_train import tone_store

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
FRACTIONS = (10, 100)
HEADS = {"head": "mlp", "extra_heads": ["linear"]}
RUN_INFO = {
    "datasets": {"speech": {}},
    "inputs": ["spectrogram"],
    "objectives": ["contrastive"],
    "heads": HEADS,
}
# ``+5.0 [+1.2, +8.8] ▲ (n=3)``: the difference and its interval in points, a mark, the seeds.
DIFFERENCE = re.compile(r"^([+−]\d+\.\d) \[([+−]\d+\.\d), ([+−]\d+\.\d)\] \S+ \(n=(\d+)\)$")


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


def synthetic() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The evaluation head's rows and per-clip rows of three seeds at two fractions, and a
    linear head's beside them, whose clips differ from the MLP's on a few; the expected
    (accuracy of linear in %, linear − mlp in points) per fraction."""
    rng = np.random.default_rng(3)
    rows, clips, want = [], [], {}
    for fraction in FRACTIONS:
        diffs, accuracies = [], []
        for seed in SEEDS:
            key = dict(dataset="speech", fraction=fraction, seed=seed)
            mlp = draw(rng, 0.6)
            linear = mlp ^ draw(rng, 0.2)
            found, clip = evaluation(mlp, **key)
            rows += found
            clips.append(clip)
            found, clip = evaluation(linear, **key)
            rows += [
                r | {"metric": head_metric("linear", r["metric"])}
                for r in found
                if r["metric"] == "accuracy"
            ]
            clips.append(clip | {per_clip.HEAD: "linear"})
            accuracies.append(100 * linear.mean())
            diffs.append(100 * (linear.mean() - mlp.mean()))
        want[float(fraction)] = (float(np.mean(accuracies)), float(np.mean(diffs)))
    return pd.DataFrame(rows), pd.DataFrame(clips), want


def test_each_cell_is_the_mean_over_seeds_and_the_paired_difference(tmp_path: Path) -> None:
    results, clips, want = synthetic()
    report.render(results, RUN_INFO, tmp_path, clips)
    text = (tmp_path / files.HEADS_TABLE).read_text()
    [(context, header, body)] = tables(text)
    assert context == ("speech",)
    assert header[3:] == ["mlp", "linear", "linear − mlp, points [95 % CI]"]
    assert len(body) == len(FRACTIONS)
    for row, fraction in zip(body, FRACTIONS, strict=True):
        assert row[:2] == ["spectrogram", "self-supervised + head"]
        assert row[2].startswith(f"{fraction} %")
        accuracy, diff = want[float(fraction)]
        assert float(row[4].split(" ")[0]) == pytest.approx(accuracy, abs=0.05 + 1e-9)
        match = DIFFERENCE.match(row[5])
        assert match, row[5]
        low, high = _number(match[2]), _number(match[3])
        assert _number(match[1]) == pytest.approx(diff, abs=0.05 + 1e-9)
        assert low <= _number(match[1]) <= high and int(match[4]) == len(SEEDS)
    index = (tmp_path / files.INDEX).read_text()
    assert f"[{files.HEADS_TABLE}]({files.HEADS_TABLE})" in index
    assert "## Evaluation heads" in index


def test_without_extra_heads_the_file_is_a_note_and_the_front_page_does_not_name_it(
    tmp_path: Path,
) -> None:
    results, clips, _ = synthetic()
    mlp_only = results[~results["metric"].str.startswith("head:")]
    mlp_clips = clips[clips[per_clip.HEAD].isna()].drop(columns=per_clip.HEAD)
    info = {k: v for k, v in RUN_INFO.items() if k != "heads"}
    report.render(mlp_only, info, tmp_path / "without", mlp_clips)
    assert (tmp_path / "without" / files.HEADS_TABLE).read_text() == (
        f"# {heads.TITLE}\n\n{heads.NONE}"
    )
    index = (tmp_path / "without" / files.INDEX).read_text()
    assert files.HEADS_TABLE not in index
    # The extra head's rows change no other file of the report.
    report.render(results, info, tmp_path / "with", clips)
    for name in files.TABLES:
        assert (tmp_path / "with" / name).read_text() == (tmp_path / "without" / name).read_text()


@pytest.fixture(scope="module")
def raw() -> dict:
    return compose(ROOT / "conf", ["profile=tiny"])


def _params(raw: dict, **evaluate: object):
    out = copy.deepcopy(raw)
    out["train"]["device"] = "cpu"
    out["evaluate"].update(evaluate)
    return parse_params(out)


@pytest.mark.parametrize(
    ("extra", "piece"),
    [
        (["linear", "nope"], "evaluate.extra_heads[1]"),
        (["mlp"], "evaluate.extra_heads[0] = 'mlp' is invalid"),
        (["linear", "linear"], "evaluate.extra_heads[1] = 'linear' is invalid"),
    ],
)
def test_unknown_or_repeated_extra_heads_are_refused(raw: dict, extra: list, piece: str) -> None:
    with pytest.raises(ClarError) as caught:
        load_methods(_params(raw, extra_heads=extra))
    assert piece in str(caught.value) and "\n" not in str(caught.value)


def test_a_run_scored_with_extra_heads_writes_their_files_and_the_table(
    raw: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clar.experiments import train_and_evaluate

    monkeypatch.chdir(tmp_path)
    tone_store(tmp_path / "data" / "prepared" / "tones")
    run = runs.Run("tones", "spectrogram", "contrastive", 100.0, 0, ("fade", "time_mask"))
    plain = _params(raw, epochs=5)
    out = train_and_evaluate(plain, run, runs.GRID, (100.0, 50.0), "plain")
    names = {p.name for p in out.iterdir()}
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".json", ".npz")}
    # The finished checkpoint is reused: only the scoring runs again, now with two more heads.
    extra = _params(raw, epochs=5, extra_heads=["linear", "proto"])
    load_methods(extra)
    train_and_evaluate(extra, run, runs.GRID, (100.0, 50.0), "extra")
    written = {p.name for p in out.iterdir()} - names
    assert written == {
        runs.probe_file(h, f) for h in ("linear", "proto") for f in (100.0, 50.0)
    } | {runs.probe_predictions_file(h, f) for h in ("linear", "proto") for f in (100.0, 50.0)}
    # The evaluation head's files are those of a run without extra heads, byte for byte, and
    # the main globs find only them.
    assert all((out / name).read_bytes() == data for name, data in before.items())
    assert sorted(p.name for p in out.glob(runs.EVALUATION_GLOB)) == sorted(
        runs.evaluation_file(f) for f in (100.0, 50.0)
    )
    assert len(list(out.glob(runs.PREDICTIONS_GLOB))) == 2
    probe = json.loads((out / runs.probe_file("proto", 50.0)).read_text())
    assert probe["evaluation_head"]["kind"] == "proto" and probe["classifier"] is None
    predictions = runs.read_probe_predictions(out, "proto", 50.0)
    assert probe["evaluation_head"]["accuracy"] == pytest.approx(
        float(np.mean(predictions["predicted"] == predictions["label"]))
    )

    results = collect(tmp_path / "runs", "tiny", "abc")
    accuracy = results[results["metric"] == head_metric("proto", "accuracy")]
    assert sorted(accuracy["fraction"]) == [50.0, 100.0]
    assert set(accuracy["experiment"]) == {runs.GRID}
    outcomes = per_clip.collect(tmp_path / "runs")
    assert sorted(outcomes[per_clip.HEAD].fillna("")) == [
        "",
        "",
        "linear",
        "linear",
        *["proto"] * 2,
    ]
    info = {"datasets": {"tones": {}}, "heads": {"head": "mlp", "extra_heads": ["linear", "proto"]}}
    report.render(results, info, tmp_path / "reports", outcomes)
    [(_, header, body)] = tables((tmp_path / "reports" / files.HEADS_TABLE).read_text())
    assert header[3:] == ["mlp", "linear", "linear − mlp, points [95 % CI]", "proto", header[-1]]
    assert len(body) == 2 and all(DIFFERENCE.match(row[5]) for row in body), body
    for row in body:
        fraction = 50.0 if row[2].startswith("50 %") else 100.0
        proto = json.loads((out / runs.probe_file("proto", fraction)).read_text())
        assert float(row[6].split(" ")[0]) == pytest.approx(
            100 * proto["evaluation_head"]["accuracy"], abs=0.05 + 1e-9
        )
