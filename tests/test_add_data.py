"""Your own audio in five lines: ``python -m clar add-data NAME PATH`` writes a data group option
that composes into params prepare accepts, and refuses in one line what prepare would refuse."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from clar.adddata import add_data
from clar.compose import compose
from clar.config import parse_params
from clar.data.prepare import prepare
from clar.data.store import Store
from clar.errors import ClarError

RATE = 16000
CONF = Path(__file__).resolve().parent.parent / "conf"


def write_classes(root: Path, per_class: int = 20, seconds: float = 1.0) -> None:
    """Two classes (low, high) of ``per_class`` tones each, numbered ``_00`` upwards."""
    t = np.arange(int(seconds * RATE)) / RATE
    for label, f in (("low", 300.0), ("high", 2400.0)):
        for k in range(per_class):
            noise = np.random.default_rng(10 * int(f) + k).normal(size=len(t))
            clip = 0.3 * np.sin(2 * np.pi * f * (1 + 0.02 * k) * t) + 0.01 * noise
            path = root / label / f"{label}_{k:02d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, clip.astype(np.float32), RATE, subtype="FLOAT")


@pytest.fixture
def conf(tmp_path) -> Path:
    """A copy of conf/: add-data writes into it, never into the repository's."""
    shutil.copytree(CONF, tmp_path / "conf")
    return tmp_path / "conf"


@pytest.fixture
def audio(tmp_path) -> Path:
    write_classes(tmp_path / "audio")
    return tmp_path / "audio"


def test_a_folder_becomes_a_data_set_that_prepare_stores(audio, conf, tmp_path, capsys):
    out = add_data("mine", audio, test_regex=r"_0[0-3]\.wav$", conf_dir=conf)
    said = capsys.readouterr().out
    assert out == conf / "data" / "mine.yaml"
    assert "mine: 40 files" in said and "2 classes: high, low" in said
    assert "clips per split: train 28, valid 4, test 8" in said
    assert "dvc exp run -S data=mine" in said
    assert out.read_text().startswith("# @package _global_\n")
    written = yaml.safe_load(out.read_text())
    assert written["data"] == {"names": ["mine"]}
    assert written["augmentation_study"] == {"datasets": ["mine"]}
    assert written["datasets"]["mine"]["clip_seconds"] == 1.0  # the median file's length

    params = parse_params(compose(conf, ["data=mine", "profile=tiny"]), conf)
    assert params.data.names == ("mine",)
    assert params.augmentation_study.datasets == ("mine",)
    info = prepare(
        params.dataset("mine"), params.prepare, tmp_path / "raw", tmp_path / "out", progress=False
    )
    assert info["clips"] == {"train": 28, "valid": 4, "test": 8}
    assert info["classes"] == ["high", "low"]
    store = Store.open(tmp_path / "out")
    test = store.manifest.query("split == 'test'")
    assert sorted(test["source"]) == sorted(
        f"{c}/{c}_0{k}.wav" for c in ("low", "high") for k in range(4)
    )


def refusal(name: str, path: Path, conf: Path, **options: object) -> str:
    with pytest.raises(ClarError) as caught:
        add_data(name, path, conf_dir=conf, **options)
    assert not (conf / "data" / f"{name}.yaml").exists()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_no_test_split_is_refused_with_a_pattern_that_works(audio, conf, tmp_path):
    message = refusal("mine", audio, conf)
    assert message.startswith(f"add-data mine: no file of {audio} is in a test split"), message
    assert "pass --test-regex, e.g. '[0-1]\\.\\w+$' (it picks 8 of the 40 files" in message
    # The suggestion itself is accepted, and gives the ~20% it promises.
    add_data("mine", audio, test_regex=r"[0-1]\.\w+$", conf_dir=conf)
    params = parse_params(compose(conf, ["data=mine"]), conf)
    info = prepare(params.dataset("mine"), params.prepare, tmp_path / "r", tmp_path / "o", False)
    assert info["clips"]["test"] == 8


def test_a_class_missing_from_the_test_split_is_refused(audio, conf):
    message = refusal("mine", audio, conf, test_regex=r"^low/low_0")
    assert message == (
        "add-data mine: class 'high' has no test clip; every class needs one in each split: "
        "change --test-regex"
    )


def test_files_outside_class_folders_and_a_single_class_are_refused(audio, conf, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in sorted((audio / "low").glob("*.wav"))[:10]:
        shutil.copy(path, flat / path.name)
    message = refusal("flat", flat, conf, test_regex="_0[0-1]")
    assert message.startswith("add-data flat: ") and "is not in a class sub-folder" in message
    assert "give --label-regex or a manifest" in message
    message = refusal("flat", flat, conf, test_regex="_0[0-1]", label_regex=r"^(?P<label>\w+)_")
    assert message.startswith("add-data flat: found one class ('low')"), message


def test_split_folders_are_not_taken_for_classes(audio, conf, tmp_path):
    split = tmp_path / "split"
    for part, numbers in (("train", range(4, 20)), ("test", range(4))):
        for label in ("low", "high"):
            for k in numbers:
                path = audio / label / f"{label}_{k:02d}.wav"
                (split / part / label).mkdir(parents=True, exist_ok=True)
                shutil.copy(path, split / part / label / path.name)
    assert refusal("split", split, conf) == refusal("split", split, conf, test_regex="^test/")
    message = refusal("split", split, conf)
    assert message.startswith("add-data split: the folder's sub-folders test, train look like"), (
        message
    )


def test_an_empty_folder_a_taken_name_and_a_bad_name_are_refused(audio, conf, tmp_path):
    (tmp_path / "empty").mkdir()
    message = refusal("none", tmp_path / "empty", conf, test_regex="0")
    assert message.startswith(f"add-data none: no audio found in {tmp_path / 'empty'}"), message
    assert refusal("speech", audio, conf).startswith("add-data: 'speech' is a data set of")
    assert "is invalid" in refusal("my-set", audio, conf)
    add_data("mine", audio, test_regex="_00", conf_dir=conf)
    with pytest.raises(ClarError, match=r"mine\.yaml exists; choose another name or pass --force"):
        add_data("mine", audio, test_regex="_00", conf_dir=conf)


def test_the_template_composes_and_prepares_once_root_is_set(audio, conf, tmp_path):
    params = parse_params(compose(conf, ["data=folder"]), conf)
    assert params.data.names == ("mine",) and params.augmentation_study.datasets == ("mine",)
    with pytest.raises(ClarError, match="audio folder path/to/your/audio does not exist"):
        prepare(params.dataset("mine"), params.prepare, tmp_path / "r", tmp_path / "o", False)
    params = parse_params(compose(conf, ["data=folder", f"datasets.mine.root={audio}"]), conf)
    info = prepare(params.dataset("mine"), params.prepare, tmp_path / "r", tmp_path / "o", False)
    # The template's test_regex picks the files numbered *0 and *1: 4 of 20 per class.
    assert info["clips"]["test"] == 8 and info["classes"] == ["high", "low"]
