"""``python -m clar add-data NAME PATH``: a folder of your own audio as a data group option.

It lists the folder as prepare will (:func:`clar.data.registry.list_items`), refuses in one line
what prepare would refuse (no audio, one class, no test split, a class missing from a split),
and only then writes ``conf/data/NAME.yaml``, so that ``dvc exp run -S data=NAME`` runs.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from clar.atomic import write_text
from clar.data.checks import check_splits
from clar.data.item import Item
from clar.errors import ClarError
from clar.vocabulary import SPLITS

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# The share of the files a suggested --test-regex should pick: the usual 80/20 split.
_TEST_SHARE = 0.2
# A file's last digits before its extension ("dog_07.wav"), the usual numbering of recordings.
_DIGITS = re.compile(r"(\d+)\.\w+$")
_SPLIT_FOLDERS = {"train", "training", "test", "testing", "valid", "validation", "val", "dev"}


class _Dumper(yaml.SafeDumper):
    """Mappings as blocks, lists in brackets: the style of the other conf/data/*.yaml."""


_Dumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, True)
)


def _check_name(name: str, conf_dir: Path, force: bool) -> Path:
    if not _NAME.match(name):
        raise ClarError(
            f"add-data: name {name!r} is invalid; use letters, digits and _, starting with a letter"
        )
    config = yaml.safe_load((conf_dir / "config.yaml").read_text()) or {}
    if name in (config.get("datasets") or {}):
        raise ClarError(
            f"add-data: {name!r} is a data set of {conf_dir / 'config.yaml'} already; "
            "choose another name"
        )
    path = conf_dir / "data" / f"{name}.yaml"
    if path.exists() and not force:
        raise ClarError(f"add-data: {path} exists; choose another name or pass --force")
    return path


def _listing(name: str, root: Path, options: dict) -> list[Item]:
    from clar.data.registry import list_items

    try:
        return list_items("folder", root, options)
    except ClarError as err:
        # The loader names its options as params.yaml spells them; here they are flags.
        text = re.sub(r"(?<!-)\b(label|test)_regex\b", r"--\1-regex", str(err))
        text = text.replace("fix root", "check PATH").replace("check root and", "check PATH and")
        raise ClarError(f"add-data {name}: {text}") from None


def suggest_test_regex(items: list[Item], root: Path) -> tuple[str, int] | None:
    """A ``test_regex`` on the files' trailing numbers that picks about a fifth of the files and
    some of every class, with how many it picks; None where the names carry no such numbers."""
    rels = [item.path.relative_to(root).as_posix() for item in items]
    numbers = [_DIGITS.search(rel) for rel in rels]
    if not all(numbers):
        return None
    best: tuple[float, str, int] | None = None
    for last in range(1, 10):
        # The last digit in 0..last-1: about last/10 of files numbered 0, 1, 2, ...
        pattern = rf"[0-{last - 1}]\.\w+$" if last > 1 else r"0\.\w+$"
        picked = [bool(re.search(pattern, rel)) for rel in rels]
        per_class = Counter(item.label for item, p in zip(items, picked, strict=True) if p)
        trained = Counter(item.label for item, p in zip(items, picked, strict=True) if not p)
        labels = {item.label for item in items}
        if set(per_class) != labels or any(trained[label] < 2 for label in labels):
            continue
        gap = abs(sum(picked) / len(items) - _TEST_SHARE)
        if best is None or gap < best[0]:
            best = (gap, pattern, sum(picked))
    return None if best is None else (best[1], best[2])


def _refuse_missing_test(name: str, root: Path, items: list[Item]) -> None:
    if any(item.split == "test" for item in items):
        return
    suggestion = suggest_test_regex(items, root)
    if suggestion:
        pattern, n = suggestion
        hint = f"e.g. '{pattern}' (it picks {n} of the {len(items)} files, some of every class)"
    else:
        example = items[0].path.relative_to(root).as_posix()
        hint = (
            f"with a pattern found in about 20% of the paths under {root} (such as {example!r}), "
            "or put a testing_list.txt in the folder"
        )
    raise ClarError(
        f"add-data {name}: no file of {root} is in a test split; pass --test-regex, {hint}"
    )


def _splits(items: list[Item], name: str, valid_fraction: float, split_seed: int) -> list[str]:
    """Each item's split as prepare will store it: validation carved from train where the
    folder has none (:func:`clar.data.store.carve_validation`, with conf/'s prepare values)."""
    from clar.data.store import carve_validation

    splits = np.array([item.split for item in items], dtype=object)
    if "valid" not in set(splits):
        train = np.flatnonzero(splits == "train")
        classes = sorted({item.label for item in items})
        labels = np.array([classes.index(items[i].label) for i in train])
        splits[train[carve_validation(labels, name, split_seed, valid_fraction)]] = "valid"
    return splits.tolist()


def _refuse_split_folders(name: str, items: list[Item]) -> None:
    looks_split = sorted({item.label for item in items} & _SPLIT_FOLDERS)
    if looks_split:
        # root/train/<class>/*.wav: the loader takes the first sub-folder for the class.
        raise ClarError(
            f"add-data {name}: the folder's sub-folders {', '.join(looks_split)} look like "
            "splits, but the first sub-folder is read as the class; arrange it as "
            "PATH/<class>/*.wav with --test-regex, or list path,label,split in a manifest"
        )


def _refuse_missing_classes(name: str, items: list[Item], splits: list[str]) -> None:
    classes = sorted({item.label for item in items})
    if len(classes) < 2:
        raise ClarError(
            f"add-data {name}: found one class ({classes[0]!r}); put each class's files in its "
            "own sub-folder of the folder, or pass --label-regex with a group (?P<label>...)"
        )
    for split in SPLITS:
        present = {item.label for item, s in zip(items, splits, strict=True) if s == split}
        missing = [c for c in classes if c not in present]
        if missing:
            fix = "--test-regex" if split in ("test", "train") else "more training files"
            raise ClarError(
                f"add-data {name}: class {missing[0]!r} has no {split} clip; every class "
                f"needs one in each split: change {fix}"
            )


def _clip_seconds(items: list[Item]) -> float:
    """The median file's length, to 0.1 s: most clips are then neither padded nor cut much."""
    lengths = [sf.info(str(item.path)).duration for item in items]
    return max(0.1, round(float(np.median(lengths)), 1))


def add_data(
    name: str,
    path: Path,
    label_regex: str | None = None,
    test_regex: str | None = None,
    clip_seconds: float | None = None,
    conf_dir: Path = Path("conf"),
    force: bool = False,
) -> Path:
    """Check the folder ``path`` as prepare would and write ``conf_dir/data/NAME.yaml``;
    print what was found and the next command; return the file written."""
    out = _check_name(name, conf_dir, force)
    root = Path(path).expanduser().resolve()
    options = {k: v for k, v in (("label_regex", label_regex), ("test_regex", test_regex)) if v}
    items = _listing(name, root, options)
    _refuse_split_folders(name, items)
    _refuse_missing_test(name, root, items)
    config = yaml.safe_load((conf_dir / "config.yaml").read_text()) or {}
    prepare = config.get("prepare") or {}
    splits = _splits(items, name, prepare.get("valid_fraction", 0.1), prepare.get("split_seed", 0))
    _refuse_missing_classes(name, items, splits)
    classes = sorted({item.label for item in items})
    # The refusals prepare itself makes, so that nothing it would refuse gets through.
    check_splits(splits, [i.label for i in items], classes, name, "folder")
    if clip_seconds is not None and clip_seconds <= 0:
        raise ClarError(f"add-data {name}: --clip-seconds {clip_seconds} must be above 0")
    seconds = clip_seconds if clip_seconds is not None else _clip_seconds(items)
    dataset = {"kind": "folder", "root": str(root), **options, "clip_seconds": float(seconds)}
    body = {
        "data": {"names": [name]},
        "datasets": {name: dataset},
        # E1 needs a data set to run on; without this dvc repro stops asking for one.
        "augmentation_study": {"datasets": [name]},
    }
    header = (
        "# @package _global_\n"
        f"# Your audio in {root} as data set '{name}' (written by python -m clar add-data).\n"
        f"# Select it with: dvc exp run -S data={name}\n"
    )
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, width=100)
    _check_composes(conf_dir, name, header + text, out)
    _say(name, root, out, classes, items, splits, seconds, clip_seconds is None)
    return out


def _check_composes(conf_dir: Path, name: str, text: str, out: Path) -> None:
    """Write the file, and take it back if conf/ does not compose with it into valid params."""
    from clar.compose import compose
    from clar.config import parse_params

    before = out.read_text() if out.exists() else None
    write_text(out, text)
    try:
        parse_params(compose(conf_dir, [f"data={name}"]), conf_dir)
    except ClarError:
        if before is None:
            out.unlink()
        else:
            write_text(out, before)
        raise


def _say(
    name: str,
    root: Path,
    out: Path,
    classes: list[str],
    items: list[Item],
    splits: list[str],
    seconds: float,
    guessed: bool,
) -> None:
    counts = Counter(splits)
    shown = ", ".join(classes[:10]) + (
        f" and {len(classes) - 10} more" if len(classes) > 10 else ""
    )
    print(f"{name}: {len(items)} files in {root}, {len(classes)} classes: {shown}")
    print("clips per split: " + ", ".join(f"{s} {counts[s]}" for s in SPLITS))
    rows = Counter(zip((i.label for i in items), splits, strict=True))
    width = max(len(c) for c in classes[:10])
    for label in classes[:10]:
        per = "  ".join(f"{s} {rows[label, s]:>4}" for s in SPLITS)
        print(f"  {label.ljust(width)}  {per}")
    how = "the median file's length" if guessed else "--clip-seconds"
    print(f"clips are {seconds:g} s ({how}; longer files are cut, shorter ones padded)")
    print(f"wrote {out}; next: dvc exp run -S data={name} -S profile=tiny   (a first look)")
    print(f"   or: python -m clar params data={name} && dvc repro")
