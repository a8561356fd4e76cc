"""The prepare and features stages on a real folder of WAV files: bad audio is refused or
skipped out loud, and the same inputs give the same bytes."""

from __future__ import annotations

import json
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from clar.config import DatasetParams, PrepareParams
from clar.data.prepare import prepare
from clar.data.store import Store
from clar.errors import ClarError

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
PREPARE = PrepareParams(sample_rate=RATE, split_seed=0, valid_fraction=0.25, skip_bad_files=False)


def write_tone(path: Path, seed: int, rate: int = 22050, gain: float = 0.3) -> None:
    """A 0.3 s float WAV, a tone of peak about ``gain`` plus a little noise; by default at
    another rate than the store's, so prepare resamples it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.3 * rate)) / rate
    clip = gain * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.01 * rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, clip.astype(np.float32), rate, subtype="FLOAT")


@pytest.fixture
def folder(tmp_path) -> Path:
    """Two classes of four tones each, in class sub-folders; the first of each is the test clip."""
    root = tmp_path / "audio"
    for c, label in enumerate(("cat", "dog")):
        for k in range(4):
            write_tone(root / label / f"{label}_{k}.wav", seed=10 * c + k)
    return root


def dataset(root: Path) -> DatasetParams:
    return DatasetParams(
        name="pets",
        kind="folder",
        clip_seconds=0.25,
        options={"root": str(root), "test_regex": r"_0\.wav$"},
    )


def poison(path: Path, value: float) -> None:
    """Rewrite a float WAV with ``value`` (NaN or inf) in a few of its samples."""
    clip, rate = sf.read(path, dtype="float32")
    clip[100:103] = value
    sf.write(path, clip, rate, subtype="FLOAT")


def test_non_finite_audio_is_refused_with_its_path(folder, tmp_path):
    poison(folder / "dog" / "dog_2.wav", np.nan)
    with pytest.raises(ClarError) as caught:
        prepare(dataset(folder), PREPARE, tmp_path / "raw", tmp_path / "out", progress=False)
    message = str(caught.value)
    assert str(folder / "dog" / "dog_2.wav") in message and "NaN or infinite" in message
    assert "\n" not in message
    assert not (tmp_path / "out").exists()


def test_skipped_files_are_each_named_counted_and_recorded(folder, tmp_path, capsys):
    bad = [folder / "cat" / "cat_3.wav", folder / "dog" / "dog_2.wav"]
    poison(bad[0], np.inf)
    poison(bad[1], np.nan)
    params = PREPARE.model_copy(update={"skip_bad_files": True})
    info = prepare(dataset(folder), params, tmp_path / "raw", tmp_path / "out", progress=False)
    printed = capsys.readouterr().out
    for path in bad:
        assert f"skipped: {path}: 3 of " in printed, printed
    assert "pets: skipped 2 bad file(s)" in printed
    recorded = json.loads((tmp_path / "out" / "info.json").read_text())["skipped"]
    assert (
        [entry["path"] for entry in recorded]
        == [str(p) for p in bad]
        == [entry["path"] for entry in info["skipped"]]
    )
    store = Store.open(tmp_path / "out")
    assert sum(info["clips"].values()) == 6
    assert not store.manifest["source"].isin(["cat/cat_3.wav", "dog/dog_2.wav"]).any()
    # No clip of the store is the silence (or full scale) a NaN (or inf) would have become.
    for split in ("train", "valid", "test"):
        clips = store.array(split).astype(np.int32)
        assert (np.abs(clips).max(axis=1) > 1000).all() and (np.abs(clips) < 32767).all()


def files_of(folder: Path) -> dict[str, bytes]:
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in paths}


def test_rerun_stages_give_the_same_bytes(folder, tmp_path, monkeypatch):
    """What DVC hashes holds no clock reading: the prepare and features stages run twice on the
    same clips write byte-identical outputs, so a rerun changes no hash downstream; their wall
    times go to timings/."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"]["names"] = ["pets"]
    raw["augmentation_study"]["datasets"] = []
    options = dict(dataset(folder).options)
    raw["datasets"]["pets"] = {"kind": "folder", "clip_seconds": 0.25, **options}
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(project)
    outputs = {}
    for attempt in ("first", "again"):
        for stage in ("prepare", "features"):
            monkeypatch.setattr(sys, "argv", [stage, "pets"])
            runpy.run_path(str(ROOT / "stages" / f"{stage}.py"), run_name="__main__")
        outputs[attempt] = files_of(project / "data")
        shutil.rmtree(project / "data")
    assert {"prepared/pets/info.json", "features/pets/test.npy"} <= set(outputs["first"])
    assert outputs["first"] == outputs["again"]
    timings = project / "timings" / "data"
    assert json.loads((timings / "prepared" / "pets.json").read_text())["group"] == "prepare"
    assert json.loads((timings / "features" / "pets.json").read_text())["seconds"] > 0
