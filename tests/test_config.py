"""params.yaml: composed from conf/, validated once into typed objects with one-line errors."""

import copy
from pathlib import Path

import pytest
import yaml

from clar.config import compose, load_params, parse_params
from clar.data.registry import resolve_options
from clar.errors import ClarError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_committed_params_are_the_composed_default(raw):
    assert compose(ROOT / "conf") == raw, "run `make params` after editing conf/"


@pytest.mark.parametrize(
    "override, key, expected",
    [
        ("loss=hybrid", "loss", {"fraction_trained": ["hybrid"], "label_free": []}),
        ("loss=contrastive", "loss", {"fraction_trained": [], "label_free": ["contrastive"]}),
        ("data=esc10", "data", {"names": ["esc10"]}),
        ("data=paper", "data", {"names": ["sc09", "nsynth", "esc10", "esc50"]}),
    ],
)
def test_groups_select_what_runs(override, key, expected):
    composed = compose(ROOT / "conf", [override])
    assert composed[key] == expected
    parse_params(composed)  # every option composes into valid parameters


def test_paper_profile_is_the_papers_scale():
    params = parse_params(compose(ROOT / "conf", ["profile=paper", "data=paper"]))
    assert params.train.width == 1.0
    assert params.grid.fractions_for("raw") == (1, 10, 20, 50, 100)
    assert params.grid.fractions_for("spectrogram") == (1, 10, 20, 50, 100)
    assert len(params.grid.seeds) == 3
    assert params.train.for_dataset("nsynth").epochs == 120
    assert params.train.for_dataset("esc10").epochs == 2000
    assert params.train.for_dataset("sc09").batch_size == 1024
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
        ("grid.fractions", {"raw": [100], "mel": [10]}, ["grid.fractions.mel", "spectrogram"]),
        ("train.epochs", -1, ["train.epochs", "-1", ">= 0"]),
        ("train.epochs", 2.5, ["train.epochs", "2.5", "an integer"]),
        ("train.lars", 1, ["train.lars", "true or false"]),
        ("train.device", "tpu", ["train.device", "'tpu'", "cuda"]),
        ("loss.fraction_trained", ["contrastive"], ["loss.fraction_trained[0]", "supervised"]),
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
