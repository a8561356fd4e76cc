"""What prepare refuses (one line naming the data set, the split or file, and the fix) and what
it accepts only under an explicit option: lists that would give numbers from nothing, leakage
or doubled clips, float samples beyond full scale, file names that are not UTF-8."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_prepare import write_tone

from clar.config import DatasetParams, PrepareParams
from clar.data.prepare import prepare
from clar.data.store import Store
from clar.errors import ClarError

RATE = 16000
PREPARE = PrepareParams(sample_rate=RATE, split_seed=0, valid_fraction=0.25, skip_bad_files=False)


@pytest.fixture
def folder(tmp_path) -> Path:
    """Two classes of four tones each in class sub-folders."""
    root = tmp_path / "audio"
    for c, label in enumerate(("cat", "dog")):
        for k in range(4):
            write_tone(root / label / f"{label}_{k}.wav", seed=10 * c + k, rate=RATE)
    return root


def pets(root: Path, **options: object) -> DatasetParams:
    return DatasetParams(
        name="pets", kind="folder", clip_seconds=0.25, options={"root": str(root), **options}
    )


def refusal(tmp_path: Path, dataset: DatasetParams, params: PrepareParams = PREPARE) -> str:
    """The one-line message prepare stops with; nothing is left where the store would be."""
    with pytest.raises(ClarError) as caught:
        prepare(dataset, params, tmp_path / "raw", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_no_test_split_is_refused_naming_the_options(folder, tmp_path):
    # Was: {'train': 6, 'valid': 2, 'test': 0}, a NaN test score and `dvc repro` exiting 0.
    message = refusal(tmp_path, pets(folder))
    assert message.startswith("data set 'pets': split test is empty"), message
    assert "set datasets.pets: test_regex" in message and "testing_list.txt" in message


def test_empty_validation_is_refused_when_none_can_be_carved(folder, tmp_path):
    # One training clip per class: validation cannot be carved from it.
    message = refusal(tmp_path, pets(folder, test_regex=r"_[0-2]\.wav$"))
    assert message.startswith("data set 'pets': split valid is empty"), message
    assert "valid_regex" in message


def test_empty_train_is_refused(folder, tmp_path):
    message = refusal(tmp_path, pets(folder, test_regex=r"_[01]\.wav$", valid_regex="."))
    assert message.startswith("data set 'pets': split train is empty"), message


def write_manifest(root: Path, rows: list[tuple[str, str, str]]) -> str:
    text = "path,label,split\n" + "".join(",".join(row) + "\n" for row in rows)
    (root / "manifest.csv").write_text(text)
    return "manifest.csv"


BASE = [
    ("cat/cat_0.wav", "cat", "test"),
    ("cat/cat_1.wav", "cat", "train"),
    ("cat/cat_2.wav", "cat", "train"),
    ("dog/dog_0.wav", "dog", "test"),
    ("dog/dog_1.wav", "dog", "train"),
    ("dog/dog_2.wav", "dog", "train"),
]


def test_a_class_without_training_clips_is_refused(folder, tmp_path):
    rows = [*BASE, ("dog/dog_3.wav", "bird", "test")]
    message = refusal(tmp_path, pets(folder, manifest=write_manifest(folder, rows)))
    assert message.startswith("data set 'pets': class 'bird' has no training clip"), message
    assert message.endswith("or remove the class")


def test_a_class_without_test_clips_is_stored_and_said(folder, tmp_path, capsys):
    # Allowed (NSynth's test split has no synth_lead), but its test scores cover fewer classes.
    rows = [*BASE, ("cat/cat_3.wav", "bird", "train"), ("dog/dog_3.wav", "bird", "train")]
    info = prepare(
        pets(folder, manifest=write_manifest(folder, rows)),
        PREPARE,
        tmp_path / "raw",
        tmp_path / "out",
        progress=False,
    )
    assert info["classes"] == ["bird", "cat", "dog"] and info["clips"]["test"] == 2
    assert "pets: class 'bird' has no test clip" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, says",
    [
        (("./cat/cat_1.wav", "cat", "train"), "is listed twice in split train"),
        (("cat/cat_1.wav", "cat", "test"), "is listed in two splits (train and test)"),
        (("cat/cat_1.wav", "dog", "train"), "is listed under two labels ('cat' and 'dog')"),
    ],
)
def test_a_file_listed_twice_is_refused(folder, tmp_path, extra, says):
    # Was: stored twice, or in train and test at once (leakage), or under two labels.
    message = refusal(tmp_path, pets(folder, manifest=write_manifest(folder, [*BASE, extra])))
    assert message.startswith(f"data set 'pets': {folder / 'cat' / 'cat_1.wav'} "), message
    assert says in message and "list each file once" in message


def test_float_samples_beyond_full_scale_are_refused_or_clipped_and_counted(
    folder, tmp_path, capsys
):
    loud = folder / "dog" / "dog_3.wav"
    write_tone(loud, seed=13, rate=RATE, gain=3.0)
    peak = float(np.abs(sf.read(loud, dtype="float32")[0]).max())
    beyond = int((np.abs(sf.read(loud, dtype="float32")[0]) > 1).sum())
    dataset = pets(folder, test_regex=r"_0\.wav$")
    # Was: clipped at +-1 in the store, unsaid.
    message = refusal(tmp_path, dataset)
    assert message.startswith(f"{loud}: {beyond} of 4800 samples are beyond full scale"), message
    assert f"peak {peak:.3g}" in message and "prepare.clip_loud: true" in message

    params = PREPARE.model_copy(update={"clip_loud": True})
    info = prepare(dataset, params, tmp_path / "raw", tmp_path / "out", progress=False)
    assert (
        f"pets: clipped {beyond} sample(s) beyond full scale in 1 file(s)"
        in capsys.readouterr().out
    )
    assert info["clipped_samples"] == beyond
    assert json.loads((tmp_path / "out" / "info.json").read_text())["clipped_samples"] == beyond
    store = Store.open(tmp_path / "out")
    row = store.manifest.query("source == 'dog/dog_3.wav'").iloc[0]
    assert np.abs(store.array(row["split"])[row["index"]]).max() == 32767


def test_a_file_name_that_is_not_utf8_is_named_and_skippable(folder, tmp_path, capsys):
    write_tone(folder / "cat" / "cafe.wav", seed=5, rate=RATE)
    try:  # libsndfile cannot open such a name, so the file is written first and renamed
        os.rename(folder / "cat" / "cafe.wav", folder / "cat" / os.fsdecode(b"caf\xe9.wav"))
    except OSError:
        pytest.skip("this file system does not take a file name that is not UTF-8")
    dataset = pets(folder, test_regex=r"_0\.wav$")
    # Was: UnicodeEncodeError ... surrogates not allowed, the file not named.
    message = refusal(tmp_path, dataset)
    shown = f"{folder / 'cat'}/caf\\xe9.wav"
    assert message.startswith(f"{shown}: the file name is not valid UTF-8; rename"), message
    assert "prepare.skip_bad_files: true" in message

    params = PREPARE.model_copy(update={"skip_bad_files": True})
    info = prepare(dataset, params, tmp_path / "raw", tmp_path / "out", progress=False)
    assert f"skipped: {shown}" in capsys.readouterr().out
    assert [entry["path"] for entry in info["skipped"]] == [shown]
    assert sum(info["clips"].values()) == 8
