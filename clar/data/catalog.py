"""The built-in data sets: what each one is (task, source, licence, splits) and, for the
generated ones, which real corpus it stands in for. Which loader reads a data set is the
registry's business (:mod:`clar.data.registry`); this table only describes them, for the data
listing and the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DatasetSpec:
    """What a built-in data set is. ``options`` are the loader options that define it."""

    name: str
    kind: str
    task: str
    clip_seconds: float
    splits: str
    source: str
    license: str
    options: dict[str, Any]
    stands_in_for: str | None = None


DATASETS = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "speech",
            "embedded",
            "keyword (10 Speech Commands words)",
            1.0,
            "generated per split",
            "formant synthesis of phoneme sequences by random speakers (numpy)",
            "generated on your machine",
            {"generator": "speech"},
            stands_in_for="Speech Commands",
        ),
        DatasetSpec(
            "music",
            "embedded",
            "instrument family (NSynth's 11)",
            2.0,
            "generated per split",
            "TimGM6mb.sf2 General MIDI SoundFont shipped with pretty_midi",
            "generated on your machine; TimGM6mb.sf2 is GPL-2.0 (Tim Brechbill)",
            {"generator": "music"},
            stands_in_for="NSynth",
        ),
        DatasetSpec(
            "environment",
            "embedded",
            "environmental sound (10 classes)",
            2.0,
            "generated per split",
            "procedural synthesis in clar.data.embedded.environment",
            "generated on your machine",
            {"generator": "environment"},
            stands_in_for="ESC-10/ESC-50",
        ),
        DatasetSpec(
            "sc09",
            "speechcommands",
            "keyword (the 10 digits)",
            1.0,
            "official validation_list.txt / testing_list.txt",
            "Speech Commands v0.01 tarball, the paper's release (download.tensorflow.org)",
            "CC BY 4.0",
            {"words": "digits", "version": "v0.01"},
        ),
        DatasetSpec(
            "speechcommands",
            "speechcommands",
            "keyword (35 words)",
            1.0,
            "official validation_list.txt / testing_list.txt",
            "Speech Commands v0.02 tarball (download.tensorflow.org)",
            "CC BY 4.0",
            {"words": "all", "version": "v0.02"},
        ),
        DatasetSpec(
            "nsynth",
            "nsynth",
            "instrument family (11)",
            4.0,
            "official train / valid / test",
            "NSynth jsonwav tarballs (download.magenta.tensorflow.org)",
            "CC BY 4.0",
            {},
        ),
        DatasetSpec(
            "esc10",
            "esc50",
            "environmental sound (10)",
            5.0,
            "one round of 5-fold cross-validation: test_fold, the fold before it valid",
            "ESC-50 GitHub archive, pinned commit",
            "CC BY-NC 3.0 (ESC-10: CC BY 3.0)",
            {"esc10": True, "test_fold": 5},
        ),
        DatasetSpec(
            "esc50",
            "esc50",
            "environmental sound (50)",
            5.0,
            "one round of 5-fold cross-validation: test_fold, the fold before it valid",
            "ESC-50 GitHub archive, pinned commit",
            "CC BY-NC 3.0",
            {"esc10": False, "test_fold": 5},
        ),
    )
}
