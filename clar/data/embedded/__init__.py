"""Embedded data sets: small labelled audio sets generated offline, deterministically from a seed.

Three kinds mirror the paper's three domains: ``speech`` (the 10 Speech Commands keywords from
a small formant synthesiser), ``music`` (single notes of General MIDI instruments in NSynth's 11
families) and ``environment`` (10 procedurally synthesised environmental sounds). Each generator
module exposes ``CLASSES``, ``CLIP_SECONDS`` and ``synthesize(label, rng, clip_seconds) ->
float64 (n,)``; :func:`render_pcm` rounds that once, to the int16 the WAV file holds.

The DSP helpers the generators share are in :mod:`clar.data.embedded.dsp`; the generator modules
are imported lazily so that, e.g., generating speech never parses the music SoundFont.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import numpy as np

from clar.atomic import temporary
from clar.data.embedded.dsp import PCM_FULL_SCALE, SAMPLE_RATE, fit_length, to_pcm
from clar.data.item import Item
from clar.errors import ClarError
from clar.vocabulary import SPLITS

# Each generator is a module of this package, named here so that readers (and the test that
# holds dvc.yaml's deps to the imports) see which modules a kind loads.
GENERATORS = {
    "speech": "clar.data.embedded.speech",
    "music": "clar.data.embedded.music",
    "environment": "clar.data.embedded.environment",
}
KINDS = tuple(GENERATORS)


def _module(kind: str) -> ModuleType:
    if kind not in KINDS:
        raise ClarError(f"unknown embedded data set {kind!r}; choose one of {', '.join(KINDS)}")
    return importlib.import_module(GENERATORS[kind])


def classes(kind: str) -> tuple[str, ...]:
    """The class labels of an embedded data set, in a fixed order."""
    return tuple(_module(kind).CLASSES)


def default_clip_seconds(kind: str) -> float:
    """The clip length a kind is generated at when none is given."""
    return float(_module(kind).CLIP_SECONDS)


def clip_rng(kind: str, seed: int, split: str, label: str, index: int) -> np.random.Generator:
    """The random generator of one clip, a function of (kind, seed, split, label, index) only.

    The key is hashed rather than fed to SeedSequence as integers so that any seed (negative
    included) and any label string work, and so that a clip never depends on how many clips or
    classes are generated around it.
    """
    key = f"clar.embedded\x1f{kind}\x1f{int(seed)}\x1f{split}\x1f{label}\x1f{int(index)}"
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence(int.from_bytes(digest[:16], "little")))


def render_pcm(
    kind: str, seed: int, split: str, label: str, index: int, clip_seconds: float | None = None
) -> np.ndarray:
    """Clip `index` of class `label` in `split` as written to its WAV file: int16
    (round(clip_seconds * 16000),), the same on every x86-64 CPU (see
    :mod:`clar.data.embedded.dsp`)."""
    module = _module(kind)
    if label not in module.CLASSES:
        raise ClarError(
            f"unknown class {label!r} for {kind}; choose one of {', '.join(module.CLASSES)}"
        )
    seconds = float(module.CLIP_SECONDS if clip_seconds is None else clip_seconds)
    audio = module.synthesize(label, clip_rng(kind, seed, split, label, index), seconds)
    return to_pcm(fit_length(np.asarray(audio, dtype=np.float64), round(seconds * SAMPLE_RATE)))


def render_clip(
    kind: str, seed: int, split: str, label: str, index: int, clip_seconds: float | None = None
) -> np.ndarray:
    """:func:`render_pcm` as float32 in [-1, 1], as soundfile reads the WAV file back."""
    pcm = render_pcm(kind, seed, split, label, index, clip_seconds)
    return pcm.astype(np.float32) / np.float32(PCM_FULL_SCALE + 1.0)


def _check_counts(clips_per_class: Mapping[str, int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for split, count in clips_per_class.items():
        if split not in SPLITS:
            raise ClarError(
                f"unknown split {split!r} in clips_per_class; choose from {', '.join(SPLITS)}"
            )
        if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
            raise ClarError(
                f"clips_per_class[{split!r}] must be a whole number >= 0, got {count!r}"
            )
        counts[split] = int(count)
    return {split: counts[split] for split in SPLITS if split in counts}


def generate(
    kind: str,
    out_dir: Path,
    clips_per_class: Mapping[str, int],
    seed: int,
    clip_seconds: float | None = None,
    progress: bool = True,
) -> Path:
    """Synthesise a data set into out_dir and return out_dir.

    clips_per_class maps split name ("train", "valid", "test") to clips per class in that split.
    Writes out_dir/<split>/<label>/<label>_<index>.wav (16 kHz mono PCM-16) and
    out_dir/manifest.csv with header ``path,label,split`` (path relative to out_dir, POSIX).
    Atomic: written into a temporary sibling folder, then renamed to out_dir (replacing an old
    one). Deterministic: clip i of class c in split s depends only on (kind, seed, s, c, i), so
    adding clips or classes does not change existing clips.
    """
    import soundfile as sf

    from clar.progress import progress_bar

    labels = classes(kind)
    counts = _check_counts(clips_per_class)
    if clip_seconds is not None and not clip_seconds > 0:
        raise ClarError(f"clip_seconds must be > 0, got {clip_seconds!r}")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # What a killed run left is cleared by temporary(); old is named as its temporaries are.
    tmp = temporary(out_dir, folder=True)
    old = out_dir.with_name(f"{tmp.name}.old.tmp")

    jobs = [(s, c, i) for s, n in counts.items() for c in labels for i in range(n)]
    rows: list[tuple[str, str, str]] = []
    try:
        for split, label, index in progress_bar(
            jobs, desc=f"generate {kind}", unit="clip", disable=not progress
        ):
            pcm = render_pcm(kind, seed, split, label, index, clip_seconds)
            rel = Path(split, label, f"{label}_{index:04d}.wav")
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            # int16 in, PCM-16 out: soundfile writes the samples unchanged.
            sf.write(tmp / rel, pcm, SAMPLE_RATE, subtype="PCM_16")
            rows.append((rel.as_posix(), label, split))
        with open(tmp / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(("path", "label", "split"))
            writer.writerows(rows)
        if out_dir.exists():
            out_dir.rename(old)
        try:
            tmp.rename(out_dir)
        except OSError:
            if old.exists():
                old.rename(out_dir)  # put the previous data set back rather than leave nothing
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and out_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
    return out_dir


# ---------------------------------------------------------------------------------------------
# The registry's loader interface (clar.data.registry): generate once, then read like a folder.

STAMP = "generated.json"


def obtain(
    raw_dir: Path,
    *,
    generator: str,
    clips_per_class: Mapping[str, int],
    seed: int = 0,
    clip_seconds: float | None = None,
    progress: bool = True,
) -> Path:
    """Generate the ``generator`` data set into ``raw_dir/embedded-<generator>`` unless a copy
    made with the same settings and the same generator code is already there; return that
    folder."""
    import json

    from clar import sources

    root = Path(raw_dir) / f"embedded-{generator}"
    settings = {
        "generator": generator,
        # An edited generator must not leave yesterday's clips in place.
        "code": sources.digest(GENERATORS[generator]),
        "clips_per_class": dict(clips_per_class),
        "seed": seed,
        "clip_seconds": clip_seconds,
    }
    stamp = root / STAMP
    if stamp.exists() and json.loads(stamp.read_text()) == settings:
        return root
    generate(generator, root, clips_per_class, seed, clip_seconds, progress)
    stamp.write_text(json.dumps(settings) + "\n")
    return root


def list_items(root: Path) -> list[Item]:
    """The generated clips, from the manifest :func:`generate` wrote."""
    from clar.data import folder

    return folder.list_items(root, manifest="manifest.csv")
