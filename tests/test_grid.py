"""The one expansion of the parameters into runs (clar.grid), and the method registries with
plug-ins named in params.yaml (clar.plugins)."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import pytest
import yaml

from clar import grid, layout, runs
from clar.config import parse_params
from clar.errors import ClarError
from clar.objectives import OBJECTIVES, Labels

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def edited(raw: dict, **changes: object) -> dict:
    out = copy.deepcopy(raw)
    for path, value in changes.items():
        node = out
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    return out


def test_every_run_of_the_default_parameters(raw):
    params = parse_params(raw)
    grid.load_methods(params)
    seeds, study = len(params.grid.seeds), params.augmentation_study
    per_input = {i: len(params.grid.fractions_for(i)) for i in params.grid.inputs}
    labelled = len(params.loss.fraction_trained) * sum(per_input.values()) * seeds
    label_free = len(params.loss.label_free) * len(params.grid.inputs) * seeds
    every = list(grid.every_run(params))
    trained = [s.run for _, s in every]
    assert len(trained) == len(params.data.names) * (labelled + label_free) + len(
        study.datasets
    ) * len(study.combos)
    # One folder each (E1's fade+time_mask run is the grid's contrastive run, trained apart).
    assert len({runs.folder(s.run, c.experiment) for c, s in every}) == len(trained)
    for cell, scored in every:
        run = scored.run
        assert (run.dataset, run.objective) == (cell.dataset, cell.objective)
        if cell.experiment == runs.AUGMENTATION:
            assert run.objective == study.objective and scored.fractions == (100.0,)
        elif run.label_free:
            # Trained once, on no labels, scored at every fraction of its encoder.
            assert scored.fractions == params.grid.fractions_for(run.input)
        else:
            assert scored.fractions == (run.fraction,)


@pytest.mark.parametrize(
    "changes, pieces",
    [
        ({"loss__label_free": ["supervised"]}, ["loss.label_free[0]", "loss.fraction_trained"]),
        ({"loss__fraction_trained": ["simclr"]}, ["loss.fraction_trained[0] = 'simclr'", "known"]),
        (
            {"grid__inputs": ["raw", "mfcc"], "grid__fractions__mfcc": [100]},
            ["grid.inputs[1] = 'mfcc'", "spectrogram, raw"],
        ),
        ({"grid__fractions__spectrogam": [10]}, ["grid.fractions.spectrogam", "'spectrogram'?"]),
        ({"evaluate__head": "svm"}, ["evaluate.head = 'svm'", "mlp, linear"]),
        ({"augmentation_study__objective": "byol"}, ["augmentation_study.objective = 'byol'"]),
        # A key naming no objective would apply to no run: refused, with the names allowed.
        (
            {"train__per_objective": {"supervized": {"lr": 0.1}}},
            ["train.per_objective.supervized is not an objective", "'supervised'?", "hybrid"],
        ),
        ({"loss__options": {"hybrid": {"tau": 1}}}, ["loss.options.hybrid.tau", "not permitted"]),
        ({"plugins__objectives": ["plugins/none.py:X"]}, ["plugins.objectives[0]", "no such"]),
        ({"plugins__objectives": ["supcon"]}, ["plugins.objectives[0]", "file.py:ClassName"]),
        ({"plugins__encoders": ["clar.heads:MLPHead"]}, ["not encoder class", "Encoder"]),
    ],
)
def test_method_names_are_checked_at_the_edge(raw, changes, pieces, registries):
    with pytest.raises(ClarError) as caught:
        grid.load_methods(parse_params(edited(raw, **changes)))
    message = str(caught.value)
    assert "\n" not in message
    for piece in pieces:
        assert piece in message, (piece, message)


SUPCON = """
    from clar.objectives.supervised import Supervised


    class SupCon(Supervised):
        name = "{name}"
        views = {views}
        forward_only = {forward_only}
"""


def write_plugin(folder: Path, name: str = "supcon", views: int = 2, forward_only: int = 0) -> str:
    path = folder / f"{name}.py"
    path.write_text(
        textwrap.dedent(SUPCON.format(name=name, views=views, forward_only=forward_only))
    )
    return f"{path}:SupCon"


def test_a_plugin_file_joins_the_grid_as_the_papers_objectives_do(raw, tmp_path, registries):
    spec = write_plugin(tmp_path)
    params = parse_params(
        edited(raw, plugins__objectives=[spec], loss__fraction_trained=["supervised", "supcon"])
    )
    grid.load_methods(params)
    assert OBJECTIVES.names()[-1] == "supcon"
    assert OBJECTIVES.get("supcon").labels == Labels.FRACTION
    assert OBJECTIVES.source_files(["supcon"]) == [tmp_path / "supcon.py"]
    assert OBJECTIVES.spec("supcon") == spec  # absolute already: kept as given
    cells = {(c.input, c.objective) for c in grid.grid_cells(params)}
    assert {("raw", "supcon"), ("spectrogram", "supcon")} <= cells


def test_a_plugin_that_cannot_be_used_is_refused_where_it_is_named(raw, tmp_path, registries):
    bad_views = write_plugin(tmp_path, "threeviews", views=0)
    with pytest.raises(ClarError, match=r"plugins\.objectives\[0\].*views = 0"):
        grid.load_methods(parse_params(edited(raw, plugins__objectives=[bad_views])))
    too_many = write_plugin(tmp_path, "teacher", views=2, forward_only=3)
    with pytest.raises(ClarError, match=r"plugins\.objectives\[0\].*forward_only = 3; give 0 to"):
        grid.load_methods(parse_params(edited(raw, plugins__objectives=[too_many])))
    taken = write_plugin(tmp_path, "hybrid")
    with pytest.raises(ClarError, match="objective 'hybrid' is defined twice"):
        grid.load_methods(parse_params(edited(raw, plugins__objectives=[taken])))


def test_a_pairing_the_objective_does_not_accept_is_no_cell_but_a_skipped_stage(
    raw, tmp_path, monkeypatch
):
    """Masked patches train only the patch transformer: its pairings with the ResNets leave
    the grid (runs, completeness, report, planner) but stay stages of dvc.yaml's matrix, which
    write a note and train nothing."""
    from clar import experiments

    params = parse_params(
        edited(
            raw,
            grid__inputs=["spectrogram", "patch_transformer"],
            grid__fractions={"spectrogram": [10, 100], "patch_transformer": [10, 100]},
            loss__label_free=["contrastive", "masked_patches"],
        )
    )
    grid.load_methods(params)
    cells = {(c.dataset, c.input, c.objective) for c in grid.grid_cells(params)}
    skipped = {(c.dataset, c.input, c.objective) for c in grid.skipped_cells(params)}
    assert skipped == {(d, "spectrogram", "masked_patches") for d in params.data.names}
    assert not cells & skipped
    crossed = len(params.data.names) * 2 * len(grid.objectives(params))
    assert len(cells) + len(skipped) == crossed
    for d in params.data.names:
        assert (d, "patch_transformer", "masked_patches") in cells
        assert (d, "patch_transformer", "hybrid") in cells
    assert all(
        (c.input, c.objective) != ("spectrogram", "masked_patches")
        for c, _ in grid.every_run(params)
    )
    # The skipped stage: a note, at once, and no run (its folder holds no run.json).
    monkeypatch.chdir(tmp_path)
    dataset = params.data.names[0]
    out = experiments.skip_cell(params, dataset, "spectrogram", "masked_patches")
    assert out == runs.cell_folder(dataset, "spectrogram", "masked_patches")
    assert [p.name for p in out.iterdir()] == [grid.SKIPPED_FILE]
    assert "does not train encoder 'spectrogram'" in (out / grid.SKIPPED_FILE).read_text()
    # What the report reads of the runs folder finds nothing in it.
    assert runs.trained(layout.RUNS, runs.GRID) == []
    assert runs.evaluations(layout.RUNS, runs.GRID) == []
    assert experiments.skip_cell(params, dataset, "patch_transformer", "masked_patches") is None


def test_the_stage_of_a_skipped_pairing_writes_its_note_and_trains_nothing(
    raw, tmp_path, monkeypatch
):
    import importlib.util
    import time

    changed = edited(
        raw,
        grid__inputs=["spectrogram", "patch_transformer"],
        grid__fractions={"spectrogram": [10, 100], "patch_transformer": [10, 100]},
        loss__label_free=["contrastive", "masked_patches"],
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(changed))
    spec = importlib.util.spec_from_file_location("train_stage", ROOT / "stages" / "train.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    dataset = changed["data"]["names"][0]
    began = time.perf_counter()
    # No prepared data exists here: a stage that trained would stop at the missing store.
    stage.main(["--data", dataset, "--input", "spectrogram", "--objective", "masked_patches"])
    assert time.perf_counter() - began < 10
    out = runs.cell_folder(dataset, "spectrogram", "masked_patches")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "params.yaml",
        grid.SKIPPED_FILE,
    ]
    assert (out / grid.SKIPPED_FILE).is_file()
    with pytest.raises(ClarError):
        stage.main(
            ["--data", dataset, "--input", "patch_transformer", "--objective", "masked_patches"]
        )
