"""ESC-50 and its ESC-10 subset: 2000 five-second environmental clips in 50 classes, 5 folds;
a prepared data set is one round of their cross-validation (``test_fold``, :func:`held_out`).

The data come from the dataset's GitHub repository, pinned to one commit so every run reads the
same files. GitHub builds archives on the fly and publishes no digest for them, so instead of a
checksum the extracted content is checked: 2000 WAVs under ``audio/`` and ``meta/esc50.csv`` with
the documented columns, naming exactly those files.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

from clar.data.download import check_options, fetch_and_extract
from clar.data.item import Item
from clar.errors import ClarError
from clar.vocabulary import SPLITS

# Head of master as of 2025-11-24, as recorded by third-party loaders that pin it; the layout
# (audio/*.wav + meta/esc50.csv) is the v2.0.0 one (2017-12-13).
COMMIT = "33c8ce9eb2cf0b1c2f8bcf322eb349b6be34dbb6"

SOURCE: dict[str, object] = {
    "name": "ESC-50",
    "url": f"https://github.com/karolpiczak/ESC-50/archive/{COMMIT}.zip",
    "commit": COMMIT,
    # No checksum: GitHub does not promise byte-stable archives. For information only, others
    # recorded 645,832,161 bytes, md5 071b44018315e034b2c6e8064543d19c and sha256
    # 661183a6f53ef04f12c9bd618fed0ddc1713280d6c94a5a5431e844ba6f6a21f for this commit's zip.
    "checksum": None,
    "clips": 2000,
    "license": "CC BY-NC 3.0 (the ESC-10 subset: CC BY 3.0); per-clip attributions in LICENSE",
    "homepage": "https://github.com/karolpiczak/ESC-50",
    "citation": "K. J. Piczak, ESC: Dataset for Environmental Sound Classification, ACM MM 2015",
}

COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
FOLDS = (1, 2, 3, 4, 5)
DEFAULT_TEST_FOLD = 5
FOLDER = "ESC-50"  # under raw_dir: the extracted archive, or a copy the user put there
LIST_OPTIONS = ("esc10", "folds", "test_fold")


def held_out(test_fold: int) -> dict[str, tuple[int, ...]]:
    """The splits of one round of the data set's 5-fold cross-validation: ``test_fold`` is the
    test split, the fold before it (cyclically) the validation split that selects the model,
    the other three train. ``test_fold=5`` is 1-3 train, 4 valid, 5 test."""
    if test_fold not in FOLDS:
        raise ClarError(f"test_fold={test_fold!r} is not one of 1-5")
    valid = FOLDS[test_fold - 2]
    train = tuple(f for f in FOLDS if f not in (valid, test_fold))
    return {"train": train, "valid": (valid,), "test": (test_fold,)}


def obtain(
    raw_dir: Path, *, progress: bool = True, keep_archive: bool = False, **options: object
) -> Path:
    """Return the ESC-50 root under ``raw_dir``, downloading and extracting it if needed.

    Reuses ``raw_dir/ESC-50`` (the extracted repository, or a folder holding it) or a zip placed
    at ``raw_dir/ESC-50-<commit>.zip``. ``options`` may repeat :func:`list_items`' options.
    """
    check_options(options, LIST_OPTIONS, "esc50")
    raw_dir = Path(raw_dir)
    container = raw_dir / FOLDER
    if not container.exists():
        fetch_and_extract(
            str(SOURCE["url"]),
            SOURCE["checksum"],  # type: ignore[arg-type]
            raw_dir / f"ESC-50-{COMMIT}.zip",
            container,
            progress=progress,
            validate=lambda staged: check_root(find_root(staged)),
            keep_archive=keep_archive,
        )
    root = find_root(container)
    check_root(root)
    return root


def find_root(container: Path) -> Path:
    """The folder holding ``meta/esc50.csv``: ``container`` itself or its one sub-folder."""
    if (container / "meta" / "esc50.csv").is_file():
        return container
    if not container.is_dir():
        raise ClarError(f"{container} is not a folder; delete it and run again")
    found = [d for d in sorted(container.iterdir()) if (d / "meta" / "esc50.csv").is_file()]
    if len(found) != 1:
        raise ClarError(
            f"{container} holds no ESC-50 folder (one with meta/esc50.csv and audio/); "
            "delete it and run again to download, or put an extracted ESC-50 copy there"
        )
    return found[0]


def _read_meta(root: Path) -> list[dict[str, str]]:
    meta = root / "meta" / "esc50.csv"
    try:
        with open(meta, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = tuple(reader.fieldnames or ())
    except OSError as e:
        raise ClarError(f"cannot read {meta}: {e.strerror}; is {root} an ESC-50 folder?") from e
    if header != COLUMNS:
        raise ClarError(
            f"{meta} has columns {','.join(header)}, expected {','.join(COLUMNS)}; "
            "it is not the ESC-50 metadata, replace the folder"
        )
    for line, row in enumerate(rows, start=2):
        if not row["fold"].isdigit() or int(row["fold"]) not in FOLDS:
            raise ClarError(f"{meta} line {line}: fold {row['fold']!r} is not one of 1-5")
        if row["esc10"] not in ("True", "False"):
            raise ClarError(f"{meta} line {line}: esc10 {row['esc10']!r} is not True/False")
    return rows


def check_root(root: Path) -> None:
    """Raise :class:`ClarError` unless ``root`` holds the complete data set."""
    rows = _read_meta(root)
    expected = int(SOURCE["clips"])  # type: ignore[call-overload]
    meta = root / "meta" / "esc50.csv"
    if len(rows) != expected:
        raise ClarError(f"{meta} lists {len(rows)} clips, expected {expected}; replace the folder")
    audio = root / "audio"
    on_disk = {p.name for p in audio.glob("*.wav")} if audio.is_dir() else set()
    listed = {row["filename"] for row in rows}
    missing = sorted(listed - on_disk)
    if missing or len(on_disk) != expected:
        detail = f"{missing[0]} is missing" if missing else f"{len(on_disk)} WAVs found"
        raise ClarError(
            f"{audio} does not match {meta} ({detail}, expected {expected}); "
            f"delete {root} and run again"
        )


def _fold_splits(folds: Mapping[str, Sequence[int]]) -> dict[int, str]:
    fold_split: dict[int, str] = {}
    for split, numbers in folds.items():
        if split not in SPLITS:
            raise ClarError(f"folds: unknown split {split!r}; use {', '.join(SPLITS)}")
        for number in numbers:
            if number not in FOLDS:
                raise ClarError(f"folds: {split} fold {number!r} is not one of 1-5")
            if number in fold_split:
                raise ClarError(f"folds: fold {number} is in both {fold_split[number]} and {split}")
            fold_split[number] = split
    return fold_split


def list_items(
    root: Path,
    esc10: bool = False,
    folds: Mapping[str, Sequence[int]] | None = None,
    test_fold: int = DEFAULT_TEST_FOLD,
) -> list[Item]:
    """Every clip of ``root`` as an :class:`Item`, labelled by its category.

    ``esc10`` keeps the ten ESC-10 classes. ``test_fold`` picks the round of cross-validation
    (:func:`held_out`; default 1-3 train, 4 valid, 5 test). ``folds`` instead maps split names to
    fold numbers; folds named in no split are left out.
    """
    root = Path(root)
    if folds is not None and test_fold != DEFAULT_TEST_FOLD:
        raise ClarError(
            f"folds and test_fold={test_fold!r} both set: give test_fold for a round of the "
            "5-fold cross-validation, or folds for a layout of your own"
        )
    fold_split = _fold_splits(held_out(test_fold) if folds is None else folds)
    items = []
    for row in _read_meta(root):
        fold = int(row["fold"])
        if fold not in fold_split or (esc10 and row["esc10"] != "True"):
            continue
        path = root / "audio" / row["filename"]
        if not path.is_file():
            raise ClarError(f"{path} is listed in meta/esc50.csv but missing; replace the folder")
        items.append(Item(path=path, label=row["category"], split=fold_split[fold]))
    if not items:
        raise ClarError(
            f"no ESC-50 clips selected from {root} (esc10={esc10}, folds={folds}, "
            f"test_fold={test_fold})"
        )
    return sorted(items, key=lambda item: str(item.path))
