"""A result is used only while its inputs are the ones shown: changed audio retrains and says so,
stored features of other clips are refused, a rerun writes the same bytes, and a damaged or
unwritable run folder is one line naming it, not a traceback or a stuck stage.

Every case runs the real prepare step on a small folder of WAV tones and real training."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import test_train
import torch
import yaml

from clar import runs
from clar.config import AugmentParams, DatasetParams, PrepareParams
from clar.data.feature_store import write_features
from clar.data.prepare import prepare
from clar.data.store import Store
from clar.errors import ClarError
from clar.models import build_model
from clar.probe import embed_splits
from clar.runs import Run
from clar.train import train

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
PREPARE = PrepareParams(sample_rate=RATE, split_seed=0, valid_fraction=0.25, skip_bad_files=False)
# test_train's settings, smaller: two epochs of batches of 8, 32 bands.
FEATURES = test_train.FEATURES.model_copy(update={"window_ms": 32.0, "hop_ms": 16.0, "n_bins": 32})
TRAIN = test_train.TRAIN.model_copy(update={"epochs": 2, "batch_size": 8, "eval_every": 1})
RUN = Run("adv", "raw", "supervised", 100.0, 0, ("fade",))


def write_tones(root: Path) -> None:
    """Two classes (low, high) of six 0.3 s tones each; ``*_0.wav`` is each class's test clip."""
    t = np.arange(int(0.3 * RATE)) / RATE
    for label, f in (("low", 300.0), ("high", 2400.0)):
        for k in range(6):
            rng = np.random.default_rng(10 * int(f) + k)
            clip = 0.3 * np.sin(2 * np.pi * f * (1 + 0.02 * k) * t) + 0.01 * rng.normal(size=len(t))
            path = root / label / f"{label}_{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, clip.astype(np.float32), RATE, subtype="FLOAT")


def overwrite_with_noise(folder: Path) -> None:
    """Every file of ``folder`` becomes white noise, under the same name, rate and length."""
    for path in sorted(folder.glob("*.wav")):
        clip, rate = sf.read(path, dtype="float32")
        noise = np.random.default_rng(len(str(path))).uniform(-0.3, 0.3, len(clip))
        sf.write(path, noise.astype(np.float32), rate, subtype="FLOAT")


def prepare_set(root: Path, out: Path) -> Store:
    dataset = DatasetParams(
        name="adv",
        kind="folder",
        clip_seconds=0.25,
        options={"root": str(root), "test_regex": r"_0\.wav$"},
    )
    prepare(dataset, PREPARE, out.parent / "raw", out, progress=False)
    return Store.open(out)


@pytest.fixture
def tones(tmp_path) -> tuple[Path, Store]:
    root = tmp_path / "audio"
    write_tones(root)
    return root, prepare_set(root, tmp_path / "prepared" / "adv")


def train_run(store: Store, where: Path, features_dir: Path | None = None) -> list[dict]:
    return train(
        RUN,
        store,
        TRAIN,
        AugmentParams(),
        FEATURES,
        where / "run",
        where / "ckpt",
        features_dir,
        progress=False,
    )


def weights(where: Path) -> dict[str, torch.Tensor]:
    return torch.load(where / "run" / runs.MODEL_FILE, weights_only=True)


def test_changed_audio_under_the_same_names_retrains_and_says_so(
    tones, tmp_path, capsys, one_thread
):
    root, store = tones
    train_run(store, tmp_path)
    before = weights(tmp_path)
    train_run(store, tmp_path)
    assert "from scratch" not in capsys.readouterr().out  # the same clips: the run is reused

    overwrite_with_noise(root / "high")
    changed = prepare_set(root, store.folder)
    # Names, labels and counts are those of before; only the audio differs, and info.json says so.
    assert changed.manifest.equals(store.manifest)
    assert changed.info["clips"] == store.info["clips"]
    assert changed.info["sha256"] != store.info["sha256"] and changed.content != store.content
    train_run(changed, tmp_path)
    said = capsys.readouterr().out
    assert f"written with other clips ({store.folder} changed); training from scratch" in said
    after = weights(tmp_path)
    assert max((after[k].double() - before[k].double()).abs().max().item() for k in after) > 0


def test_features_of_other_clips_are_refused(tones, tmp_path, one_thread):
    root, store = tones
    features_dir = tmp_path / "features" / "adv"
    write_features(store, FEATURES, features_dir, progress=False)
    model = build_model("spectrogram", "supervised", 2, 0.125, RATE, FEATURES).eval()
    cpu = torch.device("cpu")
    embedded = embed_splits(model, store, features_dir, FEATURES, 16, cpu)
    assert embedded["test"].shape[0] == 2

    overwrite_with_noise(root / "low")
    changed = prepare_set(root, store.folder)
    with pytest.raises(ClarError) as caught:
        embed_splits(model, changed, features_dir, FEATURES, 16, cpu)
    message = str(caught.value)
    assert message.startswith(f"{features_dir}: written from other clips than {store.folder}")
    assert message.endswith("run `dvc repro features@adv`") and "\n" not in message
    # The training loop's held-out probe reads the same features: it refuses them too, before
    # a step is spent.
    spectrogram = Run("adv", "spectrogram", "contrastive", 100.0, 0, ("fade",))
    with pytest.raises(ClarError, match="features@adv"):
        train(
            spectrogram,
            changed,
            TRAIN,
            AugmentParams(),
            FEATURES,
            tmp_path / "run",
            tmp_path / "ckpt",
            features_dir,
            progress=False,
        )
    assert not (tmp_path / "ckpt" / runs.CHECKPOINT_FILE).exists()
    # Written again from the clips shown, they are read.
    write_features(changed, FEATURES, features_dir, progress=False)
    assert embed_splits(model, changed, features_dir, FEATURES, 16, cpu)["train"].shape[0] == 8


def test_a_rerun_writes_the_same_model_bytes(tones, tmp_path, one_thread):
    _, store = tones
    train_run(store, tmp_path / "a")
    train_run(store, tmp_path / "b")
    model_a, model_b = (tmp_path / name / "run" / runs.MODEL_FILE for name in ("a", "b"))
    assert model_a.read_bytes() == model_b.read_bytes()
    # torch.save names the archive's records after its file; ours are all "archive/...", not
    # the temporary name each write went through.
    names = zipfile.ZipFile(model_a).namelist()
    assert names and all(name.startswith("archive/") for name in names), names
    # The same for any state saved through clar.runs.save, under any name.
    state = {"w": torch.arange(6.0).view(2, 3)}
    runs.save(state, tmp_path / "one.pt")
    runs.save(state, tmp_path / "two.pt")
    assert (tmp_path / "one.pt").read_bytes() == (tmp_path / "two.pt").read_bytes()


def test_a_truncated_checkpoint_is_moved_aside_and_the_run_starts_afresh(
    tones, tmp_path, capsys, one_thread
):
    _, store = tones
    train_run(store, tmp_path / "clean")
    checkpoint = tmp_path / "cut" / "ckpt" / runs.CHECKPOINT_FILE
    train_run(store, tmp_path / "cut")
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    train_run(store, tmp_path / "cut")
    said = capsys.readouterr().out.strip().splitlines()
    aside = checkpoint.with_name("checkpoint.pt.unreadable")
    assert said == [f"{checkpoint}: unreadable ({said[0].split('(', 1)[1]}"]
    assert said[0].endswith("moved aside to checkpoint.pt.unreadable; training from scratch")
    assert aside.read_bytes() == data[: len(data) // 2]
    # Trained afresh, it ends where an untouched run ends, byte for byte.
    for name in (runs.MODEL_FILE, runs.HISTORY_FILE):
        clean = (tmp_path / "clean" / "run" / name).read_bytes()
        assert (tmp_path / "cut" / "run" / name).read_bytes() == clean
    # The next start finds a sound checkpoint again.
    train_run(store, tmp_path / "cut")
    assert capsys.readouterr().out == ""


def test_a_truncated_model_is_named_by_export(tones, tmp_path, one_thread):
    from clar import hear

    _, store = tones
    train_run(store, tmp_path)
    model = tmp_path / "run" / runs.MODEL_FILE
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(ClarError) as caught:
        hear.export(tmp_path / "run", tmp_path / "encoder.pt")
    message = str(caught.value)
    assert message.startswith(f"{model}: unreadable (") and "dvc checkout" in message
    assert "\n" not in message and not (tmp_path / "encoder.pt").exists()


def test_an_unwritable_run_folder_is_named_before_training(tones, tmp_path):
    _, store = tones
    # A file where the run folder's parent should be: unwritable for root as for anyone.
    (tmp_path / "blocked").write_text("not a folder\n")
    with pytest.raises(ClarError) as caught:
        train(
            RUN,
            store,
            TRAIN,
            AugmentParams(),
            FEATURES,
            tmp_path / "blocked" / "run",
            tmp_path / "ckpt",
            progress=False,
        )
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'blocked' / 'run'}: cannot write there (")
    assert "\n" not in message and not (tmp_path / "ckpt" / runs.CHECKPOINT_FILE).exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_checkpoint_folder_is_named_before_training(tones, tmp_path):
    _, store = tones
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    ckpt.chmod(0o555)
    try:
        with pytest.raises(ClarError, match=rf"^{ckpt}: cannot write there \(Permission denied\)"):
            train(RUN, store, TRAIN, AugmentParams(), FEATURES, tmp_path / "run", ckpt)
        assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
    finally:
        ckpt.chmod(0o755)


def test_a_folder_edited_after_prepare_is_reported_with_the_fix(tmp_path, monkeypatch, capsys):
    """DVC does not watch a folder data set's files: prepare records their hash, and
    `python -m clar data` says when the folder no longer matches it, and what to run."""
    from clar.__main__ import main

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"]["names"], raw["augmentation_study"]["datasets"] = ["adv"], []
    options = {"root": "audio", "test_regex": r"_0\.wav$"}
    raw["datasets"]["adv"] = {"kind": "folder", "clip_seconds": 0.25, **options}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    write_tones(tmp_path / "audio")
    prepare_set(Path("audio"), Path("data/prepared/adv"))
    recorded = json.loads(Path("data/prepared/adv/info.json").read_text())["source_sha256"]

    def status() -> str:
        capsys.readouterr()
        main(["data"])
        return next(line for line in capsys.readouterr().out.splitlines() if "*adv" in line)

    assert "prepared 8/2/2" in status() and "changed" not in status()
    stale = "but its folder changed since: dvc repro prepares it again"
    overwrite_with_noise(tmp_path / "audio" / "high")  # same names, other audio
    assert stale in status()
    again = prepare_set(Path("audio"), Path("data/prepared/adv"))
    assert again.info["source_sha256"] != recorded and "changed" not in status()
    shutil.rmtree(tmp_path / "audio" / "low")  # a class deleted
    write_tones(tmp_path / "spare")
    shutil.copytree(tmp_path / "spare" / "low", tmp_path / "audio" / "other")
    assert stale in status()
