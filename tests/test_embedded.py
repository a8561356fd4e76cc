"""The embedded (generated) data sets: layout, determinism, and that the audio is what it claims."""

from __future__ import annotations

import csv
from itertools import combinations, pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clar.data import embedded
from clar.data.embedded import music, soundfont, speech
from clar.errors import ClarError

SMALL = {"train": 2, "valid": 1, "test": 1}


def _read_all(root: Path) -> dict[str, np.ndarray]:
    return {
        p.relative_to(root).as_posix(): sf.read(p, dtype="int16")[0]
        for p in sorted(root.rglob("*.wav"))
    }


def _manifest(root: Path) -> list[dict[str, str]]:
    with open(root / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each kind generated once with SMALL counts and seed 7."""
    base = tmp_path_factory.mktemp("embedded")
    return {
        kind: embedded.generate(kind, base / kind, SMALL, seed=7, progress=False)
        for kind in embedded.KINDS
    }


@pytest.mark.parametrize("kind", embedded.KINDS)
def test_layout_manifest_lengths_and_level(generated: dict[str, Path], kind: str) -> None:
    root = generated[kind]
    labels = embedded.classes(kind)
    rows = _manifest(root)
    assert list(rows[0]) == ["path", "label", "split"]
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.wav")}
    assert {r["path"] for r in rows} == on_disk
    assert len(rows) == len(labels) * sum(SMALL.values())
    for split, count in SMALL.items():
        for label in labels:
            assert sum(r["split"] == split and r["label"] == label for r in rows) == count
    n = round(embedded.default_clip_seconds(kind) * embedded.SAMPLE_RATE)
    for row in rows:
        path = root / row["path"]
        assert path.parts[-3:-1] == (row["split"], row["label"])
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            16000,
            1,
            n,
            "PCM_16",
        )
        audio = sf.read(path, dtype="float32")[0]
        assert np.sqrt(np.mean(audio**2)) > 1e-3, f"{row['path']} is near silent"
        assert np.max(np.abs(audio)) <= 1.0
    # Atomic write: no temporary or old siblings left behind.
    assert sorted(p.name for p in root.parent.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("kind", embedded.KINDS)
def test_same_seed_same_audio_other_seed_differs(
    generated: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    again = embedded.generate(kind, tmp_path / "again", SMALL, seed=7, progress=False)
    first, second = _read_all(generated[kind]), _read_all(again)
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    other = embedded.generate(kind, tmp_path / "other", {"train": 1}, seed=8, progress=False)
    third = _read_all(other)
    assert all(not np.array_equal(first[k], third[k]) for k in third)


def test_clips_unchanged_when_counts_grow(tmp_path: Path) -> None:
    small = embedded.generate("environment", tmp_path / "d", {"train": 1}, seed=3, progress=False)
    before = _read_all(small)
    grown = embedded.generate(
        "environment", tmp_path / "d", {"train": 3, "test": 1}, seed=3, progress=False
    )
    after = _read_all(grown)
    assert len(after) == 4 * len(embedded.classes("environment"))
    assert all(np.array_equal(before[k], after[k]) for k in before)
    # The other kinds through render_clip: the index and split alone pick the audio.
    for kind in ("speech", "music"):
        label = embedded.classes(kind)[0]
        a = embedded.render_clip(kind, 3, "train", label, 1)
        embedded.render_clip(kind, 3, "train", label, 0)
        b = embedded.render_clip(kind, 3, "train", label, 1)
        assert np.array_equal(a, b)


def test_regenerating_replaces_old_folder_and_honours_clip_seconds(tmp_path: Path) -> None:
    out = tmp_path / "env"
    (out / "stale").mkdir(parents=True)
    (out / "stale" / "old.wav").write_bytes(b"junk")
    embedded.generate("environment", out, {"valid": 1}, seed=0, clip_seconds=0.5, progress=False)
    assert not (out / "stale").exists()
    assert {r["split"] for r in _manifest(out)} == {"valid"}
    assert all(sf.info(p).frames == 8000 for p in out.rglob("*.wav"))


def test_generated_clips_are_reused_only_for_the_same_settings_and_code(tmp_path: Path) -> None:
    import json

    def obtain() -> Path:
        return embedded.obtain(
            tmp_path,
            generator="environment",
            clips_per_class={"valid": 1},
            clip_seconds=0.1,
            progress=False,
        )

    root = obtain()
    stamp = root / embedded.STAMP
    marker = root / "kept.txt"
    marker.write_text("a generated folder that is reused keeps this file")
    obtain()
    assert marker.exists()
    # The same settings written by other generator code: the clips are made again.
    settings = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({**settings, "code": "another version"}))
    obtain()
    assert not marker.exists()
    assert json.loads(stamp.read_text()) == settings


def test_bad_arguments_raise_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ClarError, match=r"'noise'.*speech, music, environment"):
        embedded.generate("noise", tmp_path / "x", SMALL, seed=0, progress=False)
    with pytest.raises(ClarError, match="'training'"):
        embedded.generate("music", tmp_path / "x", {"training": 1}, seed=0, progress=False)
    with pytest.raises(ClarError, match="clips_per_class"):
        embedded.generate("music", tmp_path / "x", {"train": -1}, seed=0, progress=False)
    with pytest.raises(ClarError):
        embedded.classes("nsynth")
    assert not (tmp_path / "x").exists()


def test_class_lists() -> None:
    assert embedded.classes("speech") == (
        "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
    )  # fmt: skip
    assert len(embedded.classes("music")) == 11 and "synth_lead" in embedded.classes("music")
    assert len(embedded.classes("environment")) == 10


def _f0(x: np.ndarray, sr: int = 16000) -> float:
    """Fundamental by autocorrelation: the shortest lag within 90 % of the best peak (so an
    octave below never wins), refined by a parabola. x: (n,)."""
    x = x - x.mean()
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: len(x)]
    lo, hi = sr // 2000, sr // 30
    seg = ac[lo:hi]
    peaks = [i for i in range(1, len(seg) - 1) if seg[i - 1] < seg[i] >= seg[i + 1]]
    best = max(seg[i] for i in peaks)
    i = min(i for i in peaks if seg[i] >= 0.9 * best)
    a, b, c = seg[i - 1], seg[i], seg[i + 1]
    return sr / (lo + i + 0.5 * (a - c) / (a - 2 * b + c))


@pytest.mark.parametrize(("program", "key"), [(0, 57), (0, 69), (73, 72), (81, 52), (40, 67)])
def test_soundfont_note_has_the_requested_pitch(program: int, key: int) -> None:
    note = soundfont.render_note(music.soundfont(), program, key, 100, 1.2, 1.5)
    assert note.shape == (24000,)
    f0 = _f0(note[1600:16000])
    expected = 440.0 * 2.0 ** ((key - 69) / 12)
    assert abs(1200 * np.log2(f0 / expected)) < 30, (program, key, f0, expected)
    # Held, then released: louder while held than at the end of the clip.
    assert np.sqrt(np.mean(note[4000:12000] ** 2)) > 5 * np.sqrt(np.mean(note[-1600:] ** 2))


def test_soundfont_parser_reads_the_general_midi_font() -> None:
    font = music.soundfont()
    assert set(range(128)) <= set(font.programs(0))
    assert font.names[(0, 0)]
    with pytest.raises(ClarError, match="SoundFont"):
        soundfont.parse(b"RIFF\0\0\0\0WAVE")


def test_every_music_family_program_sounds() -> None:
    font = music.soundfont()
    for family in music.CLASSES:
        for program, low, high in music.FAMILIES[family]:
            keys = music.playable_keys(program, low, high, 100)
            assert font.matching(program, keys[len(keys) // 2], 100), (family, program)


def test_speech_word_is_plausible_audio() -> None:
    rng = np.random.default_rng(0)
    for label in ("yes", "stop"):
        word = speech.word(label, rng)
        seconds = len(word) / embedded.SAMPLE_RATE
        assert 0.1 < seconds < 1.2, (label, seconds)
        assert np.sqrt(np.mean(word**2)) > 0.05
        # Voiced speech: most energy below 4 kHz.
        power = np.abs(np.fft.rfft(word)) ** 2
        freqs = np.fft.rfftfreq(len(word), 1 / embedded.SAMPLE_RATE)
        assert power[freqs < 4000].sum() > 0.5 * power.sum()


def _band_levels(audio: np.ndarray, bands: int = 24) -> np.ndarray:
    """Mean log power in `bands` log-spaced bands from 60 Hz to 8 kHz, clip level removed."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / embedded.SAMPLE_RATE)
    edges = np.geomspace(60.0, 8000.0, bands + 1)
    levels = np.log10(
        [power[(freqs >= lo) & (freqs < hi)].mean() + 1e-12 for lo, hi in pairwise(edges)]
    )
    return levels - levels.mean()


@pytest.mark.parametrize("kind", embedded.KINDS)
def test_classes_differ_and_clips_within_a_class_vary(kind: str) -> None:
    """Not degenerate: a simple spectral feature tells the classes apart well above chance
    (nearest class mean, leave one out), yet no two clips of a class are alike."""
    labels = embedded.classes(kind)
    per_class = 4
    clips = {
        label: [embedded.render_clip(kind, 0, "train", label, i, 0.5) for i in range(per_class)]
        for label in labels
    }
    for label, group in clips.items():
        for i, j in combinations(range(per_class), 2):
            a, b = group[i], group[j]
            similarity = abs(np.dot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
            assert similarity < 0.9, (kind, label, i, j, similarity)
    features = np.array([[_band_levels(x) for x in clips[label]] for label in labels])
    correct = 0
    for c, i in np.ndindex(len(labels), per_class):
        others = np.delete(features[c], i, axis=0).mean(axis=0)
        means = features.mean(axis=1)
        means[c] = others
        correct += int(np.argmin(np.linalg.norm(means - features[c, i], axis=1)) == c)
    accuracy = correct / (len(labels) * per_class)
    assert accuracy >= 2.5 / len(labels), (kind, accuracy)
