"""What prepare refuses before it stores a data set: lists of clips that would give numbers
from nothing (an empty split), from leakage (one file in two splits, or under two labels) or
from clips stored twice, and float samples beyond full scale.

Each refusal is one line naming the data set, the split or file, and the option that fixes it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clar.data.item import Item
from clar.errors import ClarError
from clar.vocabulary import SPLITS

# Per kind, the options that decide which clips land in each split.
_SPLIT_OPTIONS = {
    "folder": {
        "train": "test_regex / valid_regex (they take every file) or the manifest's split column",
        "valid": "valid_regex, a validation_list.txt in the root or the manifest's split column "
        "(or two or more training clips per class, to carve validation from)",
        "test": "test_regex, a testing_list.txt in the root or the manifest's split column",
    },
    "embedded": dict.fromkeys(SPLITS, "clips_per_class"),
    "esc50": dict.fromkeys(SPLITS, "folds / test_fold"),
    "nsynth": dict.fromkeys(SPLITS, "max_per_split"),
    "speechcommands": dict.fromkeys(SPLITS, "words / version"),
}


def _fix(name: str, kind: str, split: str) -> str:
    options = _SPLIT_OPTIONS.get(kind, {}).get(split, "its options")
    return f"set datasets.{name}: {options}"


def shown(path: Path | str) -> str:
    """A path as text that prints and encodes anywhere: bytes that are not UTF-8 (a name
    Python holds as surrogates) as ``\\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def unreadable_names(items: list[Item]) -> tuple[list[Item], list[dict]]:
    """Split off the items whose file name is not valid UTF-8: libsndfile cannot open it nor
    the manifest hold it. Returns the other items and a failure record per such file, which
    prepare refuses or skips (``prepare.skip_bad_files``) as an undecodable file."""
    kept, failures = [], []
    for item in items:
        try:
            str(item.path).encode("utf-8")
        except UnicodeEncodeError:
            error = f"{shown(item.path)}: the file name is not valid UTF-8; rename the file"
            failures.append({"path": shown(item.path), "error": error})
        else:
            kept.append(item)
    return kept, failures


def check_items(items: Sequence[Item], name: str) -> None:
    """Refuse a file listed twice: in one split it would be stored twice, in two it would leak
    test clips into training, under two labels it would contradict itself."""
    seen: dict[Path, Item] = {}
    for item in items:
        key = Path(os.path.abspath(item.path))
        first = seen.setdefault(key, item)
        if first is item:
            continue
        if first.label != item.label:
            clash = f"under two labels ({first.label!r} and {item.label!r})"
        elif first.split != item.split:
            clash = f"in two splits ({first.split} and {item.split}), which leaks between them"
        else:
            clash = f"twice in split {item.split}"
        raise ClarError(
            f"data set '{name}': {shown(item.path)} is listed {clash}; list each file once "
            f"(in the manifest of datasets.{name}, or its split lists)"
        )


def check_splits(
    splits: Sequence[str],
    labels: Sequence[str],
    classes: Sequence[str],
    name: str,
    kind: str,
    required: Sequence[str] = SPLITS,
) -> list[str]:
    """Refuse an empty split of ``required``, or a class without a training clip (the model
    could never learn it, and the split's scores would be NaN or meaningless).

    Returns notes for classes without a test clip: allowed (NSynth's published test split has
    no synth_lead), but the test scores then cover the other classes only.
    """
    split_of = np.asarray(splits, dtype=object)
    label_of = np.asarray(labels, dtype=object)
    for split in required:
        if not (split_of == split).any():
            raise ClarError(
                f"data set '{name}': split {split} is empty, so its scores would be NaN; "
                f"{_fix(name, kind, split)}"
            )
    notes = []
    for label in classes:
        where = set(split_of[label_of == label])
        if "train" not in where:
            raise ClarError(
                f"data set '{name}': class {label!r} has no training clip; every class needs "
                f"at least one: {_fix(name, kind, 'train')}, or remove the class"
            )
        if "test" not in where:
            notes.append(
                f"{name}: class {label!r} has no test clip; its test scores cover the other "
                "classes only"
            )
    return notes


def beyond_full_scale(waveform: np.ndarray, path: Path, clip_loud: bool) -> int:
    """How many samples of a decoded float file lie beyond full scale (|x| > 1).

    int16 would clip them at +-1, distorting the clip; so they are refused (one line naming the
    file and the peak) unless ``clip_loud``, and the count is returned for prepare to report.
    """
    loud = int(np.count_nonzero(np.abs(waveform) > 1.0))
    if loud and not clip_loud:
        peak = float(np.abs(waveform).max())
        raise ClarError(
            f"{shown(path)}: {loud} of {waveform.size} samples are beyond full scale (peak "
            f"{peak:.3g}, allowed 1.0); scale the file down, or set prepare.clip_loud: true to "
            "clip them at full scale"
        )
    return loud
