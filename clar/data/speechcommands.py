"""Speech Commands, v0.01 (the paper's SC09 is its ten digits) or v0.02: one-second keyword
clips, 30 or 35 words, the official split lists.

The official tarballs have no top-level folder, so a release is extracted into
``raw_dir/speech_commands_<version>``. A clip is in the test split if ``testing_list.txt``
names it, in valid if ``validation_list.txt`` does, else in train. ``_background_noise_`` is
not a class.
"""

from __future__ import annotations

from pathlib import Path

from clar.data.download import check_options, fetch_and_extract
from clar.data.item import Item
from clar.errors import ClarError

_COMMON: dict[str, object] = {
    "license": "CC BY 4.0",
    "homepage": "https://www.tensorflow.org/datasets/catalog/speech_commands",
    "citation": "P. Warden, Speech Commands: A Dataset for Limited-Vocabulary Speech "
    "Recognition, arXiv:1804.03209, 2018",
}
# The sha256 digests are torchaudio's (torchaudio/datasets/speechcommands.py, _CHECKSUMS); the
# v0.02 one is also TensorFlow Datasets' (url_checksums/speech_commands.txt, 2,428,923,189 bytes).
SOURCES: dict[str, dict[str, object]] = {
    "v0.01": {
        "name": "Speech Commands v0.01",
        "url": "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
        "checksum": "sha256:743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
        **_COMMON,
    },
    "v0.02": {
        "name": "Speech Commands v0.02",
        "url": "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        "checksum": "sha256:af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
        **_COMMON,
    },
}
# The paper's: its SC09 is the WaveGAN release, cut from v0.01 (docs/method.md).
DEFAULT_VERSION = "v0.01"

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_V1_WORDS = (
    *DIGITS,
    *("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"),
    *("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow"),
)
# v0.02 added five words.
WORDS = {
    "v0.01": tuple(sorted(_V1_WORDS)),
    "v0.02": tuple(sorted((*_V1_WORDS, "backward", "forward", "follow", "learn", "visual"))),
}
VOCABULARIES = ("all", "digits")
LIST_FILES = {"test": "testing_list.txt", "valid": "validation_list.txt"}
LIST_OPTIONS = ("words",)


def _check_version(version: str) -> str:
    if version not in SOURCES:
        raise ClarError(
            f"Speech Commands version={version!r} is unknown; use one of {', '.join(SOURCES)}"
        )
    return version


def folder_name(version: str) -> str:
    """The folder a release is extracted into, and its tarball's stem."""
    return f"speech_commands_{_check_version(version)}"


def obtain(
    raw_dir: Path,
    *,
    progress: bool = True,
    keep_archive: bool = False,
    version: str = DEFAULT_VERSION,
    **options: object,
) -> Path:
    """Return ``raw_dir/speech_commands_<version>``, downloading (v0.01 1.4 GB, v0.02 2.3 GB)
    and extracting if needed.

    Reuses an extracted folder there, or a tarball placed at
    ``raw_dir/speech_commands_<version>.tar.gz``. ``options`` may repeat :func:`list_items`'
    options.
    """
    check_options(options, LIST_OPTIONS, "speechcommands")
    raw_dir = Path(raw_dir)
    folder = folder_name(version)
    source = SOURCES[version]
    root = raw_dir / folder
    if not root.exists():
        fetch_and_extract(
            str(source["url"]),
            source["checksum"],  # type: ignore[arg-type]
            raw_dir / f"{folder}.tar.gz",
            root,
            progress=progress,
            validate=lambda staged: check_root(staged, version),
            keep_archive=keep_archive,
        )
    check_root(root, version)
    return root


def check_root(root: Path, version: str = DEFAULT_VERSION) -> None:
    """Raise :class:`ClarError` unless ``root`` has the split lists and every word folder of
    ``version``."""
    name = SOURCES[_check_version(version)]["name"]
    for file in LIST_FILES.values():
        if not (root / file).is_file():
            raise ClarError(
                f"{root / file} is missing; {root} is not an extracted {name} folder, "
                "delete it and run again"
            )
    missing = [word for word in WORDS[version] if not (root / word).is_dir()]
    if missing:
        raise ClarError(
            f"{root} lacks the {name} word folder(s) {', '.join(missing)}; "
            "delete it and run again to download the complete data set"
        )


def _read_list(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {line.strip() for line in text.splitlines() if line.strip()}


def list_items(root: Path, words: str = "all", version: str = DEFAULT_VERSION) -> list[Item]:
    """Clips of ``root`` labelled by word: ``words="all"`` (every word of ``version``: 30 in
    v0.01, 35 in v0.02) or ``"digits"`` (SC09)."""
    root = Path(root)
    if words not in VOCABULARIES:
        raise ClarError(f"words={words!r} is unknown; use one of {', '.join(VOCABULARIES)}")
    check_root(root, version)
    lists = {split: _read_list(root / name) for split, name in LIST_FILES.items()}
    items = []
    for word in DIGITS if words == "digits" else WORDS[version]:
        for path in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{path.name}"
            split = (
                "test" if rel in lists["test"] else "valid" if rel in lists["valid"] else "train"
            )
            items.append(Item(path=path, label=word, split=split))
    if not items:
        raise ClarError(f"no WAV clips found in the word folders of {root}")
    return sorted(items, key=lambda item: str(item.path))
