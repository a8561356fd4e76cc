"""The report's files: dvc.yaml declares exactly what clar.report.files declares, and render
writes exactly the declared tables, figures and front page."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from clar import layout, report, runs
from clar.report import curves, files, per_clip

ROOT = Path(__file__).resolve().parents[1]


def _paths(entries: list) -> set[str]:
    """dvc.yaml's ``- path`` or ``- path: {options}`` entries, as paths."""
    return {name for entry in entries for name in ([entry] if isinstance(entry, str) else entry)}


def _declared(names: tuple[str, ...]) -> set[str]:
    return {(layout.REPORTS / name).as_posix() for name in names}


@pytest.mark.parametrize(
    ("kind", "names"), [("outs", files.OUTS), ("metrics", files.METRICS), ("plots", files.PLOTS)]
)
def test_dvc_yaml_declares_the_report_files(kind: str, names: tuple[str, ...]) -> None:
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][layout.REPORT]
    assert _paths(stage.get(kind, [])) == _declared(names)


def test_dvc_yaml_commits_the_baseline_files_and_caches_the_rest() -> None:
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][layout.REPORT]
    entries = [e for kind in ("outs", "metrics", "plots") for e in stage.get(kind, [])]
    uncached = {
        name for e in entries if isinstance(e, dict) for name, o in e.items() if not o["cache"]
    }
    assert uncached == _declared(files.COMMITTED)


def test_declaration_is_a_partition_of_every_file() -> None:
    groups = (files.OUTS, files.METRICS, files.PLOTS)
    assert sorted(name for group in groups for name in group) == sorted(files.ALL)
    assert len(set(files.ALL)) == len(files.ALL)
    assert set(files.PLOTS) == {f"{stem}.png" for stem in files.FIGURE_STEMS}
    assert files.METRICS == ("summary.json", "timings.json")


def _results() -> pd.DataFrame:
    """A few grid, study and convergence rows of one data set and two seeds."""
    rows = []
    for seed in (0, 1):
        key = {"dataset": "speech", "input": "spectrogram", "seed": seed, "profile": "test"}
        for objective in ("supervised", "contrastive", "hybrid"):
            rows.append(
                key
                | {
                    "experiment": "grid",
                    "objective": objective,
                    "fraction": 100.0,
                    "metric": "accuracy",
                    "value": 0.5 + 0.1 * seed,
                }
            )
        for augs in ("fade", "fade+time_mask"):
            rows.append(
                key
                | {
                    "experiment": "augmentation",
                    "objective": "contrastive",
                    "fraction": 100.0,
                    "augmentations": augs,
                    "metric": "accuracy",
                    "value": 0.4,
                }
            )
        rows += [
            key
            | {
                "experiment": "convergence",
                "objective": "hybrid",
                "fraction": 100.0,
                "epoch": epoch,
                "metric": "heldout_accuracy",
                "value": 0.2 * epoch,
            }
            for epoch in (1, 2, 3)
        ]
    return pd.DataFrame(rows).assign(git_rev="abc1234")


@pytest.mark.parametrize("which", ["some", "none"])
def test_render_writes_exactly_the_declared_files(tmp_path: Path, which: str) -> None:
    results = _results() if which == "some" else _results().iloc[:0]
    written = report.render(results, {"seeds": [0, 1]}, tmp_path)
    expected = set(files.RENDERED)
    assert sorted(p.name for p in written) == sorted(expected)
    assert {p.name for p in tmp_path.iterdir()} == expected
    assert all(p.parent == tmp_path for p in written)


def test_build_writes_every_declared_file(tmp_path: Path) -> None:
    run = runs.grid_run("speech", "raw", "supervised", 100.0, 0, ("fade",))
    folder = runs.folder(run, runs.GRID, tmp_path / "runs")
    folder.mkdir(parents=True)
    # What the run trained with, an override for its objective included (run.json may hold
    # it unresolved); a run of a seed the parameters do not list must not be counted.
    train = {
        "batch_size": 16,
        "lr": 0.01,
        "epochs": 3,
        "per_objective": {"supervised": {"lr": 0.002}},
    }
    runs.write_run_info(folder, {"run": asdict(run), "classes": ["yes", "no"], "train": train})
    other = runs.grid_run("speech", "raw", "supervised", 100.0, 9, ("fade",))
    runs.folder(other, runs.GRID, tmp_path / "runs").mkdir(parents=True)
    runs.write_run_info(
        runs.folder(other, runs.GRID, tmp_path / "runs"),
        {"run": asdict(other), "classes": ["yes", "no"], "train": train | {"batch_size": 64}},
    )
    runs.write_evaluation(
        folder,
        {
            "run": asdict(run),
            "fraction": 100.0,
            "labelled": {
                "clips": 4,
                "share": 100.0,
                "per_class": {"yes": 3, "no": 1},
                "class_sizes": {"yes": 3, "no": 1},
            },
            "test_clips": 4,
            "classes": ["yes", "no"],
            "evaluation_head": {
                "accuracy": 0.5,
                "macro_f1": 0.5,
                "valid_accuracy": 0.75,
                "confusion": [[1, 1], [1, 1]],
            },
            "classifier": None,
        },
    )
    runs.write_predictions(
        folder,
        100.0,
        {
            "clip": np.array(["a", "b", "c", "d"]),
            "label": np.array([0, 0, 1, 1]),
            "predicted": np.array([0, 1, 0, 1]),
            "logits": np.zeros((4, 2), dtype=np.float32),
        },
    )
    (tmp_path / "prepared" / "speech").mkdir(parents=True)
    info = {"kind": "embedded", "classes": ["yes", "no"], "clips": {"train": 2}}
    (tmp_path / "prepared" / "speech" / "info.json").write_text(json.dumps(info))
    params = SimpleNamespace(
        profile="test",
        data=SimpleNamespace(names=("speech",)),
        grid=SimpleNamespace(
            inputs=("raw",),
            fractions=(100.0,),
            fractions_for=lambda input: (100.0,),
            seeds=(0,),
            augmentations=("fade",),
        ),
        loss=SimpleNamespace(fraction_trained=("supervised",), label_free=()),
        augmentation_study=SimpleNamespace(
            datasets=(), combos=(), input="raw", seed=0, objective="contrastive"
        ),
        report=SimpleNamespace(allow_incomplete=False),
        augment=SimpleNamespace(identical_views="keep"),
        evaluate=SimpleNamespace(selection="fraction", head="mlp", extra_heads=()),
    )
    out = tmp_path / "reports"
    written = report.build(
        params, tmp_path / "runs", tmp_path / "prepared", tmp_path / "features", out
    )
    assert sorted(p.name for p in written) == sorted(files.ALL)
    assert {p.name for p in out.iterdir()} == set(files.ALL)
    assert json.loads((out / files.SUMMARY).read_text()) == {"speech": {"raw": {"supervised": 0.5}}}
    results = pd.read_csv(out / files.RESULTS).set_index("metric")["value"]
    # accuracy, macro F1, validation accuracy, 4 labelled counts, test clips, 4 confusion counts
    assert len(results) == 12
    assert results["valid_accuracy"] == 0.75 and results["labelled_min_per_class"] == 1
    clips = per_clip.read(out / files.PER_CLIP)
    assert clips[["objective", "seed", "correct"]].values.tolist() == [["supervised", 0, "1001"]]
    index = (out / files.INDEX).read_text()
    assert "100 % (real 100 %, 4 clips, 1–3/class)" in index
    trained = json.loads((out / files.RUN_INFO).read_text())["training"]
    assert trained == [
        {
            "experiment": "grid",
            "dataset": "speech",
            "objective": "supervised",
            "batch_size": 16,
            "lr": 0.002,
            "epochs": 3,
            "runs": 1,
        }
    ]
    assert "| grid (E2-E4) | supervised | speech | 16 | 0.002 | 3 | 1 |" in index


def _convergence(dataset: str, objective: str, fraction: float, metric: str, seeds: dict) -> list:
    """Convergence rows: ``seeds`` maps a seed to its values at epochs 1, 2, ..."""
    key = {"experiment": "convergence", "input": "raw", "augmentations": "fade+time_mask"}
    return [
        key
        | {"dataset": dataset, "objective": objective, "fraction": fraction, "seed": seed}
        | {"epoch": epoch, "metric": metric, "value": value}
        for seed, values in seeds.items()
        for epoch, value in enumerate(values, 1)
        if value is not None
    ]


def test_curves_are_seed_means_at_full_labels_in_the_declared_columns(tmp_path: Path) -> None:
    rows = [
        *_convergence("speech", "hybrid", 100.0, "loss", {0: [2.0, 1.0], 1: [3.0, 2.0]}),
        *_convergence(
            "speech", "hybrid", 100.0, "heldout_accuracy", {0: [None, 0.5], 1: [None, 0.7]}
        ),
        *_convergence("speech", "hybrid", 10.0, "loss", {0: [9.0, 9.0]}),
        *_convergence("speech", "contrastive", 100.0, "loss", {0: [4.0, 3.0], 1: [4.0, 3.0]}),
        *_convergence("speech", "contrastive", 100.0, "heldout_accuracy", {0: [0.2, 0.4]}),
        *_convergence("speech", "supervised", 100.0, "loss", {0: [1.0, 0.5]}),
        # Not a curve the plots declare: a supervised held-out accuracy, a wall-clock column.
        *_convergence("speech", "supervised", 100.0, "heldout_accuracy", {0: [0.9, 0.9]}),
        *_convergence("speech", "hybrid", 100.0, "seconds", {0: [12.3, 12.1]}),
        {"experiment": "grid", "dataset": "speech", "objective": "hybrid", "metric": "accuracy"},
    ]
    folder = curves.write_curves(pd.DataFrame(rows), tmp_path / files.CURVES)
    written = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert written == {"loss/speech-raw.tsv", "heldout_accuracy/speech-raw.tsv"}
    loss = (folder / "loss/speech-raw.tsv").read_text()
    # Every registered objective has its column; those that did not run stay blank.

    def table(name: str, rows: dict[int, dict[str, str]]) -> str:
        names = curves.columns()[name]
        lines = ["\t".join(["epoch", *names])]
        lines += ["\t".join([str(e), *(row.get(n, "") for n in names)]) for e, row in rows.items()]
        return "\n".join(lines) + "\n"

    loss_rows = {1: {"supervised": "1", "contrastive": "4", "hybrid": "2.5"}}
    loss_rows[2] = {"supervised": "0.5", "contrastive": "3", "hybrid": "1.5"}
    assert loss == table("loss", loss_rows)
    heldout = (folder / "heldout_accuracy/speech-raw.tsv").read_text()
    heldout_rows = {1: {"contrastive": "0.2"}, 2: {"contrastive": "0.4", "hybrid": "0.6"}}
    assert heldout == table("heldout_accuracy", heldout_rows)
    for name, text in (("loss", loss), ("heldout_accuracy", heldout)):
        assert text.splitlines()[0].split("\t") == ["epoch", *curves.columns()[name]]
    # A data set no longer in the results leaves no file behind.
    curves.write_curves(pd.DataFrame(rows).assign(dataset="music"), folder)
    assert {p.name for p in folder.rglob("*.tsv")} == {"music-raw.tsv"}


def test_dvc_yaml_plots_draw_every_curve_folder_from_a_report_output() -> None:
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    plots = {path: props for entry in dvc["plots"] for path, props in entry.items()}
    folder = (layout.REPORTS / files.CURVES).as_posix()
    assert {path: (props["x"], props["y"]) for path, props in plots.items()} == {
        f"{folder}/{metric}": (curves.EPOCH, list(columns))
        for metric, columns in curves.columns().items()
    }
    outs = _paths(dvc["stages"][layout.REPORT]["outs"])
    assert folder in outs


def test_committed_headline_metrics_are_what_the_default_pipeline_writes() -> None:
    """The baseline in git (reports/summary.json, what `dvc exp show` and `dvc metrics diff`
    compare against) has exactly the keys the report would write for the default params."""
    from clar.config import load_params
    from clar.report.results import ACCURACY, summary
    from clar.vocabulary import FULL_FRACTION

    params = load_params(ROOT / "params.yaml")
    objectives = (*params.loss.fraction_trained, *params.loss.label_free)
    rows = [
        {
            "experiment": runs.GRID,
            "dataset": dataset,
            "input": input_,
            "objective": objective,
            "fraction": FULL_FRACTION,
            "seed": seed,
            "metric": ACCURACY,
            "value": 0.5,
        }
        for dataset in params.data.names
        for input_ in params.grid.inputs
        for objective in objectives
        for seed in params.grid.seeds
    ]
    expected = summary(pd.DataFrame(rows))
    committed = json.loads((ROOT / layout.REPORTS / files.SUMMARY).read_text())

    def keys(tree: object) -> object:
        return {k: keys(v) for k, v in tree.items()} if isinstance(tree, dict) else None

    assert keys(committed) == keys(expected)
    assert len(params.grid.seeds) >= 3  # the baseline is a mean over seeds, not one seed
