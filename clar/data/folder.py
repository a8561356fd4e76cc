"""Any local folder of audio, so users can bring their own data.

Labels and splits come, in this order of precedence:

- from a manifest CSV (columns ``path,label,split``; ``path`` relative to the root or absolute);
- else the label is the first sub-folder under the root, or the named group ``label`` of
  ``label_regex`` searched in the file name; the split is ``test`` / ``valid`` for files named
  in a Speech-Commands-style ``testing_list.txt`` / ``validation_list.txt`` in the root, or if
  there are no such lists, for paths (relative to the root) where ``test_regex`` /
  ``valid_regex`` is found; everything else is ``train``.

Files and folders whose names start with ``_`` or ``.`` are skipped (Speech Commands keeps its
noise recordings in ``_background_noise_``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

from clar.data.download import check_options
from clar.data.item import Item
from clar.errors import ClarError
from clar.vocabulary import SPLITS

SOURCE: dict[str, object] = {
    "name": "local folder",
    "url": None,
    "checksum": None,
    "license": "whatever the folder's owner grants",
    "homepage": None,
}

LIST_FILES = {"test": "testing_list.txt", "valid": "validation_list.txt"}
# Read where the user keeps them, outside the workspace (clar.data.watch).
IN_PLACE = True
MANIFEST_COLUMNS = ("path", "label", "split")
LIST_OPTIONS = ("manifest", "label_regex", "test_regex", "valid_regex", "extensions")


def obtain(raw_dir: Path, *, root: str | Path, progress: bool = True, **options: object) -> Path:
    """Check that the folder ``root`` exists and return it; nothing is downloaded.

    ``raw_dir`` and ``progress`` are unused (kept for the common loader signature); ``options``
    may repeat :func:`list_items`' options.
    """
    check_options(options, LIST_OPTIONS, "folder")
    if str(root) == "":
        raise ClarError("data set 'folder' needs the parameter root: the folder holding the audio")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise ClarError(f"audio folder {folder} does not exist or is not a folder; fix root")
    return folder


def _compile(pattern: str | None, name: str, needs_label: bool = False) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):  # YAML reads `label_regex: 5` as a number
        raise ClarError(
            f"{name} = {pattern!r} is invalid; allowed: a regular expression as a string "
            f"(in quotes in params.yaml, e.g. {name}: '{pattern}')"
        )
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise ClarError(f"{name} {pattern!r} is not a valid regular expression: {e}") from e
    if needs_label and "label" not in compiled.groupindex:
        raise ClarError(f"{name} {pattern!r} has no named group (?P<label>...)")
    return compiled


def _audio_files(root: Path, extensions: Sequence[str]) -> list[Path]:
    if isinstance(extensions, str):  # a single ".wav" from a params file
        extensions = (extensions,)
    wanted = {ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in extensions}
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(("_", ".")) for part in rel.parts):
            continue
        if path.suffix.lower() in wanted and path.is_file():
            files.append(path)
    return sorted(files)


def _from_manifest(root: Path, manifest: str) -> list[Item]:
    path = Path(manifest).expanduser()
    if not path.is_absolute() and (root / path).is_file():
        path = root / path
    if not path.is_file():
        raise ClarError(f"manifest {manifest} not found (looked in {root} and the working folder)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = tuple(name.strip() for name in reader.fieldnames or ())
        if not set(MANIFEST_COLUMNS) <= set(header):
            raise ClarError(
                f"manifest {path} has columns {','.join(header) or '(none)'}; "
                f"it needs {','.join(MANIFEST_COLUMNS)}"
            )
        reader.fieldnames = list(header)
        items = []
        for line, row in enumerate(reader, start=2):
            rel, label, split = (str(row[c] or "").strip() for c in MANIFEST_COLUMNS)
            if split not in SPLITS:
                raise ClarError(
                    f"manifest {path} line {line}: split {split!r} is not one of "
                    f"{', '.join(SPLITS)}"
                )
            if not label:
                raise ClarError(f"manifest {path} line {line}: the label is empty")
            audio = Path(rel).expanduser()
            audio = audio if audio.is_absolute() else root / audio
            if not rel or not audio.is_file():
                raise ClarError(f"manifest {path} line {line}: audio file {audio} does not exist")
            items.append(Item(path=audio, label=label, split=split))
    return items


def _read_lists(root: Path) -> dict[str, set[str]] | None:
    present = {split: root / name for split, name in LIST_FILES.items() if (root / name).is_file()}
    if not present:
        return None
    lists = {split: set() for split in LIST_FILES}
    for split, path in present.items():
        text = path.read_text(encoding="utf-8")
        lists[split] = {
            line.strip().replace("\\", "/") for line in text.splitlines() if line.strip()
        }
    both = sorted(lists["test"] & lists["valid"])
    if both:
        raise ClarError(
            f"{root}: {both[0]} is listed in both {LIST_FILES['test']} and "
            f"{LIST_FILES['valid']}; list each file in one"
        )
    return lists


def list_items(
    root: Path,
    manifest: str | None = None,
    label_regex: str | None = None,
    test_regex: str | None = None,
    valid_regex: str | None = None,
    extensions: Sequence[str] = (".wav", ".flac", ".ogg"),
) -> list[Item]:
    """Audio files of ``root`` with labels and splits (see the module docstring for the rules)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ClarError(f"audio folder {root} does not exist or is not a folder; fix root")
    if manifest is not None:
        items = _from_manifest(root, manifest)
        where = f"manifest {manifest}"
    else:
        label_re = _compile(label_regex, "label_regex", needs_label=True)
        test_re = _compile(test_regex, "test_regex")
        valid_re = _compile(valid_regex, "valid_regex")
        lists = _read_lists(root)
        items = []
        for path in _audio_files(root, extensions):
            rel = path.relative_to(root).as_posix()
            if label_re is not None:
                match = label_re.search(path.name)
                if match is None or not match.group("label"):
                    raise ClarError(
                        f"label_regex {label_regex!r} finds no label in the file name of {path}"
                    )
                label = match.group("label")
            elif "/" in rel:
                label = rel.split("/", 1)[0]
            else:
                raise ClarError(
                    f"{path} is not in a class sub-folder of {root}; give label_regex or a manifest"
                )
            if lists is not None:
                split = (
                    "test"
                    if rel in lists["test"]
                    else "valid"
                    if rel in lists["valid"]
                    else "train"
                )
            elif test_re is not None and test_re.search(rel):
                split = "test"
            elif valid_re is not None and valid_re.search(rel):
                split = "valid"
            else:
                split = "train"
            items.append(Item(path=path, label=label, split=split))
        where = f"extensions {', '.join(extensions)}"
    if not items:
        raise ClarError(f"no audio found in {root} ({where}); check root and the options")
    return sorted(items, key=lambda item: str(item.path))
