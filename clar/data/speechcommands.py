"""Speech Commands v0.02: one-second keyword clips, 35 words, the official split lists.

The official tarball has no top-level folder, so it is extracted into
``raw_dir/speech_commands_v0.02``. A clip is in the test split if ``testing_list.txt`` names it,
in valid if ``validation_list.txt`` does, else in train. ``_background_noise_`` is not a class.
"""

from __future__ import annotations

from pathlib import Path

from clar.data.download import check_options, fetch_and_extract
from clar.data.item import Item
from clar.errors import ClarError

SOURCE: dict[str, object] = {
    "name": "Speech Commands v0.02",
    "url": "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
    # From TensorFlow Datasets, tensorflow_datasets/url_checksums/speech_commands.txt
    # (2,428,923,189 bytes).
    "checksum": "sha256:af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
    "license": "CC BY 4.0",
    "homepage": "https://www.tensorflow.org/datasets/catalog/speech_commands",
    "citation": "P. Warden, Speech Commands: A Dataset for Limited-Vocabulary Speech "
    "Recognition, arXiv:1804.03209, 2018",
}

FOLDER = "speech_commands_v0.02"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WORDS = tuple(
    sorted(
        (
            *DIGITS,
            *("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"),
            *("backward", "forward", "follow", "learn", "visual"),
            *("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow"),
        )
    )
)
VOCABULARIES = {"all": WORDS, "digits": DIGITS}
LIST_FILES = {"test": "testing_list.txt", "valid": "validation_list.txt"}
LIST_OPTIONS = ("words",)


def obtain(
    raw_dir: Path, *, progress: bool = True, keep_archive: bool = False, **options: object
) -> Path:
    """Return ``raw_dir/speech_commands_v0.02``, downloading (2.3 GB) and extracting if needed.

    Reuses an extracted folder there, or a tarball placed at
    ``raw_dir/speech_commands_v0.02.tar.gz``. ``options`` may repeat :func:`list_items`' options.
    """
    check_options(options, LIST_OPTIONS, "speechcommands")
    raw_dir = Path(raw_dir)
    root = raw_dir / FOLDER
    if not root.exists():
        fetch_and_extract(
            str(SOURCE["url"]),
            SOURCE["checksum"],  # type: ignore[arg-type]
            raw_dir / f"{FOLDER}.tar.gz",
            root,
            progress=progress,
            validate=check_root,
            keep_archive=keep_archive,
        )
    check_root(root)
    return root


def check_root(root: Path) -> None:
    """Raise :class:`ClarError` unless ``root`` has the split lists and all 35 word folders."""
    for name in LIST_FILES.values():
        if not (root / name).is_file():
            raise ClarError(
                f"{root / name} is missing; {root} is not an extracted Speech Commands v0.02 "
                "folder, delete it and run again"
            )
    missing = [word for word in WORDS if not (root / word).is_dir()]
    if missing:
        raise ClarError(
            f"{root} lacks the word folder(s) {', '.join(missing)}; "
            "delete it and run again to download the complete data set"
        )


def _read_list(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {line.strip() for line in text.splitlines() if line.strip()}


def list_items(root: Path, words: str = "all") -> list[Item]:
    """Clips of ``root`` labelled by word: ``words="all"`` (35 words) or ``"digits"`` (SC09)."""
    root = Path(root)
    if words not in VOCABULARIES:
        raise ClarError(f"words={words!r} is unknown; use one of {', '.join(VOCABULARIES)}")
    check_root(root)
    lists = {split: _read_list(root / name) for split, name in LIST_FILES.items()}
    items = []
    for word in VOCABULARIES[words]:
        for path in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{path.name}"
            split = (
                "test" if rel in lists["test"] else "valid" if rel in lists["valid"] else "train"
            )
            items.append(Item(path=path, label=word, split=split))
    if not items:
        raise ClarError(f"no WAV clips found in the word folders of {root}")
    return sorted(items, key=lambda item: str(item.path))
