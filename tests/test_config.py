"""params.yaml: composed from conf/, validated once into typed objects with one-line errors."""

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clar.__main__ import main
from clar.cli import run
from clar.compose import compose
from clar.config import load_params, parse_params
from clar.data.registry import resolve_options
from clar.errors import ClarError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_committed_params_are_the_composed_default(raw):
    assert compose(ROOT / "conf") == raw, "run `make params` after editing conf/"


QUICK = {"fixmatch": {"mu": 1}}


@pytest.mark.parametrize(
    "override, key, expected",
    [
        # The quick profile's FixMatch option stays, whatever objectives run.
        (
            "loss=hybrid",
            "loss",
            {"fraction_trained": ["hybrid"], "label_free": [], "options": QUICK},
        ),
        (
            "loss=contrastive",
            "loss",
            {"fraction_trained": [], "label_free": ["contrastive"], "options": QUICK},
        ),
        # E1 trains the contrastive objective: an option without it has no study.
        ("loss=hybrid", "augmentation_study.datasets", []),
        ("loss=contrastive", "augmentation_study.datasets", ["environment"]),
        ("data=esc10", "data", {"names": ["esc10"]}),
        ("data=paper", "data", {"names": ["sc09", "nsynth", "esc10", "esc50"]}),
    ],
)
def test_groups_select_what_runs(override, key, expected):
    composed = compose(ROOT / "conf", [override])
    value = composed
    for part in key.split("."):
        value = value[part]
    assert value == expected
    parse_params(composed)  # every option composes into valid parameters


def test_paper_profile_is_the_papers_scale():
    params = parse_params(compose(ROOT / "conf", ["profile=paper", "data=paper"]))
    assert params.train.width == 1.0
    assert params.grid.fractions_for("raw") == (1, 10, 20, 50, 100)
    assert params.grid.fractions_for("spectrogram") == (1, 10, 20, 50, 100)
    assert len(params.grid.seeds) == 3
    assert params.train.for_run("nsynth").epochs == 120
    assert params.train.for_run("esc10").epochs == 2000
    assert params.train.for_run("sc09").batch_size == 1024
    assert len(params.augmentation_study.combos) == 21


def test_default_params_load(raw):
    params = load_params(ROOT / "params.yaml")
    assert params.data.names == ("speech", "music", "environment")
    assert params.dataset("fsdd").kind == "folder"
    assert params.loss.fraction_trained == ("supervised", "hybrid")
    assert params.loss.label_free == ("contrastive",)
    assert params.grid.augmentations == ("fade", "time_mask")
    assert all(len(c) in (1, 2) for c in params.augmentation_study.combos)
    for name, dataset in params.datasets.items():  # every defined data set's options are valid
        assert resolve_options(name, dataset.kind, dataset.options)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def edited(raw, path: str, value):
    out = copy.deepcopy(raw)
    node = out
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    return out


@pytest.mark.parametrize(
    "path, value, pieces",
    [
        ("data.names", ["speech", "esc11"], ["data.names[1]", "'esc11'", "speech"]),
        (
            "grid.augmentations",
            ["fade", "reverb"],
            ["grid.augmentations[1]", "'reverb'", "time_mask"],
        ),
        ("grid.fractions.raw", [0, 10], ["grid.fractions.raw[0]", "0", "> 0"]),
        ("grid.fractions.spectrogram", [10, 150], ["grid.fractions.spectrogram[1]", "150"]),
        ("grid.fractions", {"raw": [100]}, ["grid.fractions.spectrogram", "label fractions"]),
        ("train.epochs", -1, ["train.epochs", "-1", ">= 1"]),
        # Passed validation once, then stopped in the scheduler with a traceback.
        ("train.epochs", 0, ["train.epochs", "0", ">= 1"]),
        ("train.per_dataset", {"speech": {"epochs": 0}}, ["per_dataset.speech.epochs", ">= 1"]),
        # Trained with a finite, exploding loss instead of stopping.
        ("train.lr", 1e6, ["train.lr", "1000000.0", "<= 10"]),
        ("evaluate.lr", 1e6, ["evaluate.lr", "<= 10"]),
        # Log-spaced bands from 0 Hz divide by zero: NaN features.
        ("features.f_min", 0, ["features.f_min", "> 0"]),
        ("features.window_ms", 0.01, ["features.window_ms", "0.01", "2 sample(s) at 16000 Hz"]),
        ("features.hop_ms", 0.01, ["features.hop_ms", "1 sample(s)"]),
        ("datasets.speech.clip_seconds", 0.01, ["datasets.speech.clip_seconds", "half of"]),
        # A repeat trains the same runs twice (or names the same DVC stage twice).
        ("grid.seeds", [0, 1, 0], ["grid.seeds[2]", "each value once", "grid.seeds[0]"]),
        ("data.names", ["speech", "speech"], ["data.names[1]", "each value once"]),
        ("grid.fractions.raw", [10, 10], ["grid.fractions.raw[1]", "each value once"]),
        (
            "augmentation_study.combos",
            ["fade+time_mask", "time_mask+fade"],
            ["augmentation_study.combos[1]", "'fade+time_mask'", "each value once"],
        ),
        ("augmentation_study.combos", ["fade+fade"], ["combos[0][1]", "each value once"]),
        ("train.epochs", 2.5, ["train.epochs", "2.5", "an integer"]),
        ("train.lars", 1, ["train.lars", "true or false"]),
        ("train.device", "tpu", ["train.device", "'tpu'", "cuda"]),
        ("features.channels", ["log_mel", "cqt"], ["features.channels[1]", "'cqt'", "phase"]),
        ("augmentation_study.combos", ["fade+echo"], ["augmentation_study.combos[0]", "'echo'"]),
        ("augmentation_study.datasets", ["esc50"], ["augmentation_study.datasets[0]", "'esc50'"]),
        ("augment.probability", 1.5, ["augment.probability", "1.5"]),
        ("augment.stretch_min_rate", 2.0, ["augment.stretch_min_rate", "at most stretch_max"]),
        ("augment.noise_min_snr_db", 30, ["augment.noise_min_snr_db", "at most noise_max"]),
        ("features.f_max", 9000, ["features.f_max", "9000", "sample_rate / 2"]),
    ],
)
def test_bad_values_name_key_value_and_allowed(raw, path, value, pieces):
    with pytest.raises(ClarError) as caught:
        parse_params(edited(raw, path, value))
    message = str(caught.value)
    assert "\n" not in message
    for piece in pieces:
        assert piece in message, (piece, message)


@pytest.mark.parametrize(
    "path, value, pieces",
    [
        ("train.epoch", 3, ["train.epoch is not a parameter", "did you mean 'epochs'"]),
        ("grids", {}, ["grids is not a parameter", "did you mean 'grid'"]),
        ("train.per_dataset.esc10", {"epoch": 3}, ["train.per_dataset.esc10.epoch", "epochs"]),
        # A misspelt data set kept the common epochs, unsaid.
        (
            "train.per_dataset.speeh",
            {"epochs": 3},
            ["train.per_dataset.speeh is not a data set under datasets:", "mean 'speech'"],
        ),
        ("augment.probabilty", 0.5, ["augment.probabilty", "did you mean 'probability'"]),
        ("features.nbins", 64, ["features.nbins", "did you mean 'n_bins'"]),
    ],
)
def test_unknown_keys_are_refused_at_every_level(raw, path, value, pieces):
    with pytest.raises(ClarError) as caught:
        parse_params(edited(raw, path, value))
    for piece in pieces:
        assert piece in str(caught.value), (piece, str(caught.value))


@pytest.mark.parametrize(
    "name, key, value, pieces",
    [
        ("speech", "kind", "tape", ["datasets.speech.kind", "'tape'", "folder"]),
        ("speech", "colour", "red", ["datasets.speech.colour", "clips_per_class"]),
        ("speech", "clip_second", 1.0, ["datasets.speech.clip_second", "mean 'clip_seconds'"]),
        ("fsdd", "label_regx", "x", ["datasets.fsdd.label_regx", "mean 'label_regex'"]),
    ],
)
def test_data_set_options_are_checked_against_their_loader(raw, name, key, value, pieces):
    dataset = parse_params(edited(raw, f"datasets.{name}.{key}", value)).dataset(name)
    with pytest.raises(ClarError) as caught:
        resolve_options(name, dataset.kind, dataset.options)
    for piece in pieces:
        assert piece in str(caught.value), (piece, str(caught.value))


def test_folder_data_set_needs_its_root(raw):
    bad = copy.deepcopy(raw)
    del bad["datasets"]["fsdd"]["root"]
    dataset = parse_params(bad).dataset("fsdd")
    with pytest.raises(ClarError, match=r"datasets\.fsdd\.root is required"):
        resolve_options("fsdd", dataset.kind, dataset.options)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ClarError, match="not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("data: [unclosed\n")
    with pytest.raises(ClarError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of conf/ and params.yaml to run ``python -m clar params`` in."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_params_command_refuses_a_bad_option_in_one_line(project):
    before = (project / "params.yaml").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "clar", "params", "loss=bogus"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: conf: loss = 'bogus' is invalid; allowed: all, contrastive, extended, hybrid, "
        "supervised"
    ]
    assert (project / "params.yaml").read_bytes() == before


@pytest.mark.parametrize(
    "override, pieces",
    [
        ("data=esc11", ["data = 'esc11'", "esc10, esc50"]),
        ("train.epoch=3", ["train.epoch is not a parameter", "did you mean 'epochs'"]),
        ("bogus=1", ["bogus is not a parameter", "augmentation_study"]),
        ("train.per_dataset.x.epochs=3", ["to add it write +train.per_dataset.x.epochs=3"]),
        ("loss", ["override 'loss' is malformed", "group=option (groups: data, loss, profile)"]),
        ("train.epochs=[", ["override 'train.epochs=[' is malformed"]),
        # Composed fine by Hydra, refused by the validation every stage runs.
        ("+train.foo=1", ["train.foo is not a parameter"]),
        ("train.epochs=0", ["train.epochs = 0", ">= 1"]),
        ("~loss", ["missing key loss"]),
    ],
)
def test_params_command_errors_are_one_line_and_leave_params_alone(
    project, capsys, monkeypatch, override, pieces
):
    before = (project / "params.yaml").read_bytes()
    monkeypatch.setattr(sys, "argv", ["python -m clar", "params", "loss=hybrid", override])
    with pytest.raises(SystemExit) as stopped:
        run(main)
    assert stopped.value.code == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and message.startswith("error: conf: "), message
    for piece in pieces:
        assert piece in message, (piece, message)
    assert (project / "params.yaml").read_bytes() == before


def test_params_command_writes_a_good_override(project, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python -m clar", "params", "loss=hybrid"])
    run(main)
    assert load_params(project / "params.yaml").loss.fraction_trained == ("hybrid",)
    assert oct((project / "params.yaml").stat().st_mode & 0o777) == oct(0o666 & ~current_umask())


def test_a_bad_subcommand_is_one_line(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python -m clar", "bogus"])
    with pytest.raises(SystemExit) as stopped:
        run(main)
    assert stopped.value.code == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "invalid choice: 'bogus'" in message, message
    assert "'data'" in message and "'params'" in message
