"""Loaders on small archives built here in each data set's real layout, with real WAV files,
served over HTTP on 127.0.0.1 and obtained through ``obtain``; the folder loader on the shared
recordings."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clar.data import esc50, folder, nsynth, speechcommands
from clar.errors import ClarError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def wav_bytes(seed: int, rate: int = 16000, frames: int = 160) -> bytes:
    """A short real PCM-16 WAV: a seeded tone plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / rate
    signal = 0.3 * np.sin(2 * np.pi * (200 + seed % 500) * t) + 0.01 * rng.standard_normal(frames)
    buf = io.BytesIO()
    sf.write(buf, signal.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def targz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def unreachable_url(name: str) -> str:
    return f"http://127.0.0.1:9/{name}"  # discard port: connection refused


def split_counts(items) -> dict[str, int]:
    return dict(Counter(item.split for item in items))


# --- ESC-50 -----------------------------------------------------------------------------------

ESC_CATEGORIES = (
    "dog",
    "rooster",
    "pig",
    "cow",
    "frog",
    "cat",
    "hen",
    "insects",
    "sheep",
    "crow",
    "rain",
    "sea_waves",
    "crackling_fire",
    "crickets",
    "chirping_birds",
    "water_drops",
    "wind",
    "pouring_water",
    "toilet_flush",
    "thunderstorm",
    "crying_baby",
    "sneezing",
    "clapping",
    "breathing",
    "coughing",
    "footsteps",
    "laughing",
    "brushing_teeth",
    "snoring",
    "drinking_sipping",
    "door_wood_knock",
    "mouse_click",
    "keyboard_typing",
    "door_wood_creaks",
    "can_opening",
    "washing_machine",
    "vacuum_cleaner",
    "clock_alarm",
    "clock_tick",
    "glass_breaking",
    "helicopter",
    "chainsaw",
    "siren",
    "car_horn",
    "engine",
    "train",
    "church_bells",
    "airplane",
    "fireworks",
    "hand_saw",
)
ESC10 = {"dog", "rooster", "rain", "sea_waves", "crackling_fire", "crying_baby", "sneezing"}
ESC10 |= {"clock_tick", "helicopter", "chainsaw"}


def esc50_zip(drop: int = 0) -> bytes:
    """The GitHub archive layout: ESC-50-<commit>/{audio/*.wav, meta/esc50.csv, README.md}; the
    last ``drop`` WAVs listed in the CSV are left out."""
    top = f"ESC-50-{esc50.COMMIT}"
    rows, wavs = [], {}
    for target, category in enumerate(ESC_CATEGORIES):
        for k in range(40):
            fold, clip = k // 8 + 1, 1000 * target + k
            name = f"{fold}-{clip}-A-{target}.wav"
            rows.append([name, fold, target, category, category in ESC10, f"{clip}.ogg", "A"])
            wavs[name] = wav_bytes(clip, rate=8000, frames=40)
    meta = io.StringIO()
    writer = csv.writer(meta, lineterminator="\n")
    writer.writerow(esc50.COLUMNS)
    writer.writerows(rows)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{top}/README.md", "ESC-50\n")
        zf.writestr(f"{top}/meta/esc50.csv", meta.getvalue())
        for name in list(wavs)[: len(wavs) - drop]:
            zf.writestr(f"{top}/audio/{name}", wavs[name])
    return buf.getvalue()


@pytest.fixture(scope="module")
def esc50_archive() -> bytes:
    return esc50_zip()


def test_esc50_obtain_and_list(archive_server, tmp_path, monkeypatch, esc50_archive):
    archive_server.files["esc50.zip"] = esc50_archive
    monkeypatch.setitem(esc50.SOURCE, "url", archive_server.url("esc50.zip"))
    raw = tmp_path / "raw"
    root = esc50.obtain(raw, progress=False)
    assert root == raw / "ESC-50" / f"ESC-50-{esc50.COMMIT}"
    assert sorted(p.name for p in raw.iterdir()) == ["ESC-50"]  # zip removed after extraction

    items = esc50.list_items(root)
    assert len(items) == 2000
    assert split_counts(items) == {"train": 1200, "valid": 400, "test": 400}
    assert {item.label for item in items} == set(ESC_CATEGORIES)
    assert items == sorted(items, key=lambda item: str(item.path))
    first = items[0]
    assert first.path.name == "1-0-A-0.wav" and first.label == "dog" and first.split == "train"
    assert sf.info(first.path).samplerate == 8000
    fold5 = [item for item in items if item.path.name.startswith("5-")]
    assert {item.split for item in fold5} == {"test"}

    esc10 = esc50.list_items(root, esc10=True)
    assert len(esc10) == 400 and {item.label for item in esc10} == ESC10
    assert split_counts(esc10) == {"train": 240, "valid": 80, "test": 80}

    paper = esc50.list_items(root, folds={"train": [1, 2, 3, 4], "test": [5]})
    assert split_counts(paper) == {"train": 1600, "test": 400}

    # A second obtain reuses the extracted folder: no new request.
    requests = len(archive_server.requests)
    assert esc50.obtain(raw, progress=False, esc10=True) == root
    assert len(archive_server.requests) == requests


def test_esc50_test_fold_is_one_round_of_cross_validation(
    archive_server, tmp_path, monkeypatch, esc50_archive
):
    archive_server.files["esc50.zip"] = esc50_archive
    monkeypatch.setitem(esc50.SOURCE, "url", archive_server.url("esc50.zip"))
    root = esc50.obtain(tmp_path, progress=False, esc10=True, test_fold=2)
    tested: Counter[str] = Counter()
    for k in esc50.FOLDS:
        items = esc50.list_items(root, esc10=True, test_fold=k)
        fold_of = {
            split: {int(i.path.name[0]) for i in items if i.split == split}
            for split in ("train", "valid", "test")
        }
        valid = 5 if k == 1 else k - 1
        assert fold_of == {"test": {k}, "valid": {valid}, "train": set(esc50.FOLDS) - {k, valid}}
        assert split_counts(items) == {"train": 240, "valid": 80, "test": 80}
        tested.update(str(i.path) for i in items if i.split == "test")
    # Over the five rounds every clip is tested exactly once.
    assert len(tested) == 400 and set(tested.values()) == {1}
    assert esc50.list_items(root, esc10=True) == esc50.list_items(root, esc10=True, test_fold=5)


def test_esc50_bad_options(tmp_path):
    with pytest.raises(ClarError, match="test_fold=6 is not one of 1-5"):
        esc50.list_items(tmp_path, test_fold=6)
    with pytest.raises(ClarError, match="folds and test_fold=3 both set"):
        esc50.list_items(tmp_path, folds={"train": [1, 2, 4, 5], "test": [3]}, test_fold=3)
    with pytest.raises(ClarError, match="fold 4 is in both"):
        esc50.list_items(tmp_path, folds={"train": [1, 2, 3, 4], "test": [4, 5]})
    with pytest.raises(ClarError, match="unknown split 'dev'"):
        esc50.list_items(tmp_path, folds={"dev": [1]})
    with pytest.raises(ClarError, match="unknown option"):
        esc50.obtain(tmp_path, progress=False, esc100=True)


@pytest.mark.parametrize("drop", [1, 1999])
def test_esc50_incomplete_archive_is_refused(archive_server, tmp_path, monkeypatch, drop):
    archive_server.files["esc50.zip"] = esc50_zip(drop=drop)
    monkeypatch.setitem(esc50.SOURCE, "url", archive_server.url("esc50.zip"))
    with pytest.raises(ClarError, match="missing") as caught:
        esc50.obtain(tmp_path / "raw", progress=False, keep_archive=True)
    # The archive at fault is named, not the extraction folder that is gone by now.
    message = str(caught.value)
    archive = tmp_path / "raw" / f"ESC-50-{esc50.COMMIT}.zip"
    assert message.startswith(f"archive {archive} is incomplete"), message
    assert message.endswith("delete it and run again") and "\n" not in message
    assert f"in it: ESC-50-{esc50.COMMIT}/audio does not match" in message
    assert archive.is_file() and [p.name for p in (tmp_path / "raw").iterdir()] == [archive.name]
    # Nothing that looks like a complete ESC-50 folder is left behind.
    assert not (tmp_path / "raw" / "ESC-50").exists()


def test_esc50_unreachable_names_manual_locations(tmp_path, monkeypatch):
    monkeypatch.setitem(esc50.SOURCE, "url", unreachable_url("esc50.zip"))
    with pytest.raises(ClarError) as info:
        esc50.obtain(tmp_path, progress=False)
    message = str(info.value)
    assert "esc50.zip" in message and str(tmp_path / "ESC-50") in message


# --- Speech Commands --------------------------------------------------------------------------


def speech_commands_tarball(version: str = "v0.02") -> bytes:
    """The official layout: no top folder, word/<hash>_nohash_<n>.wav, the two lists, noise."""
    files: dict[str, bytes] = {"LICENSE": b"CC BY 4.0\n", "README.md": b"Speech Commands\n"}
    testing, validation = [], []
    for w, word in enumerate(speechcommands.WORDS[version]):
        for n in range(3):
            name = f"{word}/{w:04x}abcd_nohash_{n}.wav"
            files[name] = wav_bytes(10 * w + n)
            (testing if n == 0 else validation if n == 1 else []).append(name)
    files["_background_noise_/white_noise.wav"] = wav_bytes(999, frames=1600)
    files["testing_list.txt"] = ("\n".join(testing) + "\n").encode()
    files["validation_list.txt"] = ("\n".join(validation) + "\n").encode()
    return targz(files)


def serve_speech_commands(server, monkeypatch, version: str) -> bytes:
    data = speech_commands_tarball(version)
    server.files[f"sc-{version}.tar.gz"] = data
    monkeypatch.setitem(speechcommands.SOURCES[version], "url", server.url(f"sc-{version}.tar.gz"))
    monkeypatch.setitem(speechcommands.SOURCES[version], "checksum", sha256(data))
    return data


@pytest.mark.parametrize("version, words", [("v0.01", 30), ("v0.02", 35)])
def test_speech_commands_obtain_and_list(archive_server, tmp_path, monkeypatch, version, words):
    serve_speech_commands(archive_server, monkeypatch, version)
    raw = tmp_path / "raw"
    root = speechcommands.obtain(raw, progress=False, version=version)
    assert root == raw / f"speech_commands_{version}"
    assert (root / "testing_list.txt").is_file()  # extracted without an extra top folder
    assert archive_server.requests == [(f"sc-{version}.tar.gz", None)]

    items = speechcommands.list_items(root, version=version)
    assert len(items) == 3 * words and len({item.label for item in items}) == words
    assert split_counts(items) == {"train": words, "valid": words, "test": words}
    assert all("_background_noise_" not in str(item.path) for item in items)
    by_name = {f"{item.label}/{item.path.name}": item.split for item in items}
    yes = f"yes/{speechcommands.WORDS[version].index('yes'):04x}abcd_nohash"
    assert [by_name[f"{yes}_{n}.wav"] for n in range(3)] == ["test", "valid", "train"]

    digits = speechcommands.list_items(root, words="digits", version=version)
    assert {item.label for item in digits} == set(speechcommands.DIGITS)
    assert split_counts(digits) == {"train": 10, "valid": 10, "test": 10}
    with pytest.raises(ClarError, match="words='letters'"):
        speechcommands.list_items(root, words="letters", version=version)


def test_speech_commands_defaults_to_the_papers_release(archive_server, tmp_path, monkeypatch):
    serve_speech_commands(archive_server, monkeypatch, "v0.01")
    root = speechcommands.obtain(tmp_path, progress=False)
    assert root.name == "speech_commands_v0.01"
    assert len(speechcommands.list_items(root, words="digits")) == 30
    # v0.01 lacks v0.02's five new words: the folder is not a v0.02 release.
    with pytest.raises(ClarError, match=r"v0\.02 word folder.*backward"):
        speechcommands.list_items(root, version="v0.02")
    with pytest.raises(ClarError, match=r"version='v3'.*v0\.01, v0\.02"):
        speechcommands.obtain(tmp_path, progress=False, version="v3")


def test_speech_commands_uses_a_placed_archive_offline(tmp_path, monkeypatch):
    data = speech_commands_tarball()
    monkeypatch.setitem(speechcommands.SOURCES["v0.02"], "url", unreachable_url("sc.tar.gz"))
    monkeypatch.setitem(speechcommands.SOURCES["v0.02"], "checksum", sha256(data))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "speech_commands_v0.02.tar.gz").write_bytes(data)
    root = speechcommands.obtain(raw, progress=False, keep_archive=True, version="v0.02")
    assert len(speechcommands.list_items(root, words="digits", version="v0.02")) == 30
    assert (raw / "speech_commands_v0.02.tar.gz").is_file()


def test_speech_commands_wrong_archive_leaves_nothing(archive_server, tmp_path, monkeypatch):
    serve_speech_commands(archive_server, monkeypatch, "v0.01")
    monkeypatch.setitem(speechcommands.SOURCES["v0.01"], "checksum", sha256(b"another archive"))
    with pytest.raises(ClarError, match="checksum mismatch"):
        speechcommands.obtain(tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


# --- NSynth -----------------------------------------------------------------------------------

NSYNTH_FAMILIES = {
    "train": {
        "bass": "synthetic",
        "guitar": "acoustic",
        "synth_lead": "synthetic",
        "vocal": "acoustic",
    },
    "valid": {"brass": "acoustic", "keyboard": "electronic", "organ": "electronic"},
    "test": {"flute": "acoustic", "mallet": "acoustic", "string": "acoustic"},
}


def nsynth_tarball(split: str, per_family: int, examples_first: bool) -> bytes:
    """nsynth-<split>/examples.json + nsynth-<split>/audio/<note_str>.wav, grouped by family."""
    audio, examples = {}, {}
    for f, (family, source) in enumerate(NSYNTH_FAMILIES[split].items()):
        for k in range(per_family):
            note = f"{family}_{source}_{f:03d}-{60 + k:03d}-100"
            examples[note] = {
                "note_str": note,
                "instrument_family_str": family,
                "instrument_source_str": source,
                "pitch": 60 + k,
                "velocity": 100,
                "sample_rate": 16000,
            }
            audio[f"nsynth-{split}/audio/{note}.wav"] = wav_bytes(100 * f + k)
    meta = {f"nsynth-{split}/examples.json": json.dumps(examples).encode()}
    return targz({**meta, **audio} if examples_first else {**audio, **meta})


@pytest.fixture
def nsynth_served(archive_server, monkeypatch):
    """Serve the three tarballs and point nsynth.SOURCE at them, with their checksums."""
    urls, checksums = {}, {}
    for split, per_family in (("train", 3), ("valid", 2), ("test", 2)):
        data = nsynth_tarball(split, per_family, examples_first=split != "train")
        name = f"nsynth-{split}.jsonwav.tar.gz"
        archive_server.files[name] = data
        urls[split] = archive_server.url(name)
        checksums[split] = "md5:" + hashlib.md5(data).hexdigest()
    monkeypatch.setitem(nsynth.SOURCE, "urls", urls)
    monkeypatch.setitem(nsynth.SOURCE, "checksums", checksums)
    return archive_server


def test_nsynth_full(nsynth_served, tmp_path):
    raw = tmp_path / "raw"
    root = nsynth.obtain(raw, progress=False)
    assert root == raw / "nsynth"
    assert sorted(p.name for p in root.iterdir()) == ["nsynth-test", "nsynth-train", "nsynth-valid"]
    items = nsynth.list_items(root)
    assert split_counts(items) == {"train": 12, "valid": 6, "test": 6}
    for split, families in NSYNTH_FAMILIES.items():
        assert {item.label for item in items if item.split == split} == set(families)
    assert all(item.path.name.startswith(item.label + "_") for item in items)
    assert sf.info(items[0].path).frames == 160

    capped = nsynth.list_items(root, max_per_split=4)
    train = [item for item in capped if item.split == "train"]
    assert Counter(item.label for item in train) == dict.fromkeys(NSYNTH_FAMILIES["train"], 1)
    assert split_counts(capped) == {"train": 4, "valid": 4, "test": 4}

    # With the full data present, a capped obtain returns it rather than streaming again.
    requests = len(nsynth_served.requests)
    assert nsynth.obtain(raw, progress=False, max_per_split=4) == root
    assert len(nsynth_served.requests) == requests


def test_nsynth_capped_stream(nsynth_served, tmp_path):
    nsynth_served.cut("nsynth-train.jsonwav.tar.gz", 3000)  # first stream breaks, then restarts
    raw = tmp_path / "raw"
    root = nsynth.obtain(raw, progress=False, max_per_split=4)
    assert root == raw / "nsynth-subset-4"
    marker = json.loads((root / "SUBSET.json").read_text())
    assert marker["checksum_verified"] is False and marker["max_per_split"] == 4
    assert sorted(p.name for p in raw.iterdir()) == ["nsynth-subset-4"]  # no staging left
    assert len(nsynth_served.ranges("nsynth-train.jsonwav.tar.gz")) == 2

    items = nsynth.list_items(root)
    assert split_counts(items) == {"train": 4, "valid": 4, "test": 4}
    train = Counter(item.label for item in items if item.split == "train")
    assert train == dict.fromkeys(NSYNTH_FAMILIES["train"], 1)  # one per family, not 4 basses
    valid = Counter(item.label for item in items if item.split == "valid")
    assert sorted(valid.values()) == [1, 1, 2]  # 3 families: the 4th note from the reserve
    for item in items:
        assert sf.info(item.path).samplerate == 16000


def test_nsynth_unknown_family_in_examples(tmp_path):
    split_dir = tmp_path / "nsynth-train"
    (split_dir / "audio").mkdir(parents=True)
    (split_dir / "examples.json").write_text(json.dumps({"x": {"instrument_family_str": "kazoo"}}))
    for split in ("valid", "test"):
        (tmp_path / f"nsynth-{split}" / "audio").mkdir(parents=True)
    with pytest.raises(ClarError, match="kazoo"):
        nsynth.list_items(tmp_path)


# --- folder -----------------------------------------------------------------------------------


# FSDD's recordings where params.yaml expects them, else in the local data folder beside the clone.
FSDD = next(
    (
        path
        for path in (
            Path(__file__).resolve().parents[1] / "data" / "fsdd" / "recordings",
            SHARED / "fsdd" / "recordings",
        )
        if path.is_dir()
    ),
    Path("data/fsdd/recordings"),
)


@pytest.mark.skipif(not FSDD.is_dir(), reason=f"{FSDD} not present")
def test_folder_fsdd():
    root = folder.obtain(Path("unused"), root=FSDD)
    items = folder.list_items(root, label_regex=r"^(?P<label>\d)_", test_regex=r"_[0-4]\.wav$")
    assert {item.label for item in items} == {str(d) for d in range(10)}
    assert split_counts(items) == {"train": 2700, "test": 300}
    assert sf.info(items[0].path).samplerate == 8000


@pytest.mark.skipif(
    not (SHARED / "speech_commands_subset").is_dir(),
    reason=f"{SHARED}/speech_commands_subset not present",
)
def test_folder_speech_commands_subset():
    items = folder.list_items(SHARED / "speech_commands_subset")
    assert len(items) == 1200
    assert len({item.label for item in items}) == 10
    assert split_counts(items) == {"test": 1200}


@pytest.fixture
def own_folder(tmp_path) -> Path:
    """A user's folder: class sub-folders, one file in a skipped folder, one non-audio file."""
    root = tmp_path / "mine"
    for label in ("cat", "dog"):
        for k in range(4):
            path = root / label / f"{label}_{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wav_bytes(k))
    (root / "_noise").mkdir()
    (root / "_noise" / "hum.wav").write_bytes(wav_bytes(9))
    (root / "cat" / "notes.txt").write_text("not audio")
    return root


def test_folder_subfolders_and_regex_splits(own_folder):
    items = folder.list_items(own_folder, test_regex=r"_0\.wav$", valid_regex=r"_1\.wav$")
    assert len(items) == 8 and {item.label for item in items} == {"cat", "dog"}
    assert split_counts(items) == {"test": 2, "valid": 2, "train": 4}


def test_folder_manifest(own_folder):
    manifest = own_folder / "manifest.csv"
    cat0 = own_folder / "cat" / "cat_0.wav"
    manifest.write_text(f"path,label,split\ncat/cat_1.wav,feline,train\n{cat0},feline,test\n")
    items = folder.list_items(own_folder, manifest="manifest.csv")
    assert [(item.path.name, item.label, item.split) for item in items] == [
        ("cat_0.wav", "feline", "test"),
        ("cat_1.wav", "feline", "train"),
    ]

    manifest.write_text("path,label,split\ncat/cat_1.wav,feline,holdout\n")
    with pytest.raises(ClarError, match="line 2: split 'holdout'"):
        folder.list_items(own_folder, manifest=str(manifest))
    manifest.write_text("path,label,split\ncat/cat_7.wav,feline,train\n")
    with pytest.raises(ClarError, match=r"cat_7\.wav does not exist"):
        folder.list_items(own_folder, manifest=str(manifest))


def test_folder_errors(own_folder, tmp_path):
    with pytest.raises(ClarError, match=str(tmp_path / "nowhere")):
        folder.obtain(tmp_path, root=tmp_path / "nowhere")
    with pytest.raises(ClarError, match="needs the parameter root"):
        folder.obtain(tmp_path, root="")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClarError, match="no audio found"):
        folder.list_items(tmp_path / "empty")
    with pytest.raises(ClarError, match=r"no named group"):
        folder.list_items(own_folder, label_regex=r"^(\w+)_")
    with pytest.raises(ClarError, match="finds no label"):
        folder.list_items(own_folder, label_regex=r"^(?P<label>\d)_")
    # YAML reads `label_regex: 5` as a number; it was a TypeError from re.compile.
    with pytest.raises(ClarError, match=r"^label_regex = 5 is invalid; allowed: a regular"):
        folder.list_items(own_folder, label_regex=5)
    (own_folder / "testing_list.txt").write_text("cat/cat_0.wav\n")
    (own_folder / "validation_list.txt").write_text("cat/cat_1.wav\ncat/cat_0.wav\n")
    with pytest.raises(ClarError, match=r"cat/cat_0\.wav is listed in both testing_list"):
        folder.list_items(own_folder)
