"""The prepare step: obtain a data set, decode, resample to 16 kHz, fix the length, store."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clar.atomic import building
from clar.config import DatasetParams, PrepareParams
from clar.data import registry
from clar.data.audio import decode, to_clip
from clar.data.checks import beyond_full_scale, check_items, check_splits, unreadable_names
from clar.data.item import Item
from clar.data.store import (
    carve_validation,
    class_sizes,
    file_digests,
    label_ranks,
    open_split_array,
    source_digest,
    to_int16,
    write_info,
)
from clar.errors import ClarError
from clar.progress import progress_bar
from clar.vocabulary import SPLITS

_COPY_ROWS = 2048


def _decode_all(
    items: list[Item],
    rate: int,
    samples: int,
    into: np.ndarray,
    progress: bool,
    desc: str,
    loud: np.ndarray,
    clip_loud: bool,
) -> list[dict]:
    """Decode every item into row i of ``into`` (``[N, samples]`` int16) and count its samples
    beyond full scale into ``loud[i]``; return the failures."""

    def one(i: int) -> dict | None:
        try:
            waveform, source_rate = decode(items[i].path)
            loud[i] = beyond_full_scale(waveform, items[i].path, clip_loud)
        except ClarError as err:
            return {"path": str(items[i].path), "error": str(err)}
        into[i] = to_int16(to_clip(waveform, source_rate, rate, samples))
        return None

    # soundfile and torch release the GIL, so threads overlap decoding with resampling.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = pool.map(one, range(len(items)))
        bar = progress_bar(results, total=len(items), desc=desc, unit="clip", disable=not progress)
        return [r for r in bar if r is not None]


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class _Listing:
    """A data set as its loader lists it, before any file is decoded."""

    options: dict
    root: Path
    items: list[Item]
    unnamed: list[dict]  # failure records of the files whose names cannot be read
    classes: list[str]


def prepare(
    dataset: DatasetParams,
    params: PrepareParams,
    raw_dir: Path,
    out_dir: Path,
    progress: bool = True,
) -> dict:
    """Obtain ``dataset`` under ``raw_dir`` and write its tensor store to ``out_dir``.

    Returns the store's info (also written as ``out_dir/info.json``). The folder appears only
    when complete: it is built beside ``out_dir`` and renamed into place. It holds no clock
    reading, so the same inputs give the same bytes (and the same DVC hash).
    """
    listing = _list(dataset, raw_dir, progress)
    samples = round(dataset.clip_seconds * params.sample_rate)
    with building(out_dir) as work:
        everything = np.lib.format.open_memmap(
            work / "all.npy", mode="w+", dtype=np.int16, shape=(len(listing.items), samples)
        )
        loud = np.zeros(len(listing.items), dtype=np.int64)
        failures = listing.unnamed + _decode_all(
            listing.items,
            params.sample_rate,
            samples,
            everything,
            progress,
            f"prepare {dataset.name}",
            loud,
            params.clip_loud,
        )
        _refuse_or_skip(failures, dataset.name, params.skip_bad_files)
        frame = _frame(listing, failures)
        carved = _carve_validation(frame, dataset.name, params)
        _check_what_is_kept(frame, listing.classes, dataset, loud)
        manifest = _write_splits(work, frame, everything, samples, dataset.name, params.split_seed)
        del everything
        (work / "all.npy").unlink()
        info = _info(dataset, params, listing, manifest, carved, failures, loud)
        # The content, not only names and counts: other audio under the same names changes
        # info.json, and so every fingerprint and DVC hash downstream (clar.data.store).
        info["sha256"] = file_digests(work)
        if dataset.kind == "folder":
            # DVC does not watch the folder: `python -m clar data` compares it with this.
            info["source_sha256"] = source_digest([i.path for i in listing.items], listing.root)
        write_info(work, info)
    return info


def _list(dataset: DatasetParams, raw_dir: Path, progress: bool) -> _Listing:
    """Obtain the data set and list its clips; refuse a listing no store can be built from."""
    options = registry.resolve_options(dataset.name, dataset.kind, dataset.options)
    root = registry.obtain(dataset.kind, raw_dir, options, dataset.clip_seconds, progress=progress)
    items = registry.list_items(dataset.kind, root, options)
    if not items:
        raise ClarError(
            f"{root}: data set '{dataset.name}' has no audio clips; check "
            f"datasets.{dataset.name} in params.yaml"
        )
    unknown = sorted({i.split for i in items} - set(SPLITS))
    if unknown:
        raise ClarError(f"{root}: split {unknown[0]!r} is invalid; allowed: {', '.join(SPLITS)}")
    check_items(items, dataset.name)
    items, unnamed = unreadable_names(items)
    classes = sorted({i.label for i in items})
    # Before decoding, as far as the listing tells (validation may still be carved from train).
    splits, labels = [i.split for i in items], [i.label for i in items]
    check_splits(splits, labels, classes, dataset.name, dataset.kind, ("train", "test"))
    return _Listing(options, root, items, unnamed, classes)


def _refuse_or_skip(failures: list[dict], name: str, skip_bad_files: bool) -> None:
    if failures and not skip_bad_files:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise ClarError(
            f"{failures[0]['error']}{more}; fix or remove the file, or set "
            f"prepare.skip_bad_files: true to skip bad files (they are listed in "
            f"the store's info.json)"
        )
    if failures:
        # Every one, not the first: a user must see what the store lacks.
        for failure in failures:
            print(f"skipped: {failure['error']}")
        print(f"{name}: skipped {len(failures)} bad file(s) (prepare.skip_bad_files)")


def _frame(listing: _Listing, failures: list[dict]) -> pd.DataFrame:
    """One row per clip that decoded: its row in ``all.npy``, split, label and source file."""
    items, classes = listing.items, listing.classes
    bad = {f["path"] for f in failures}
    frame = pd.DataFrame(
        {
            "row": range(len(items)),
            "split": [i.split for i in items],
            "label": [classes.index(i.label) for i in items],
            "label_name": [i.label for i in items],
            "source": [_relative(i.path, listing.root) for i in items],
            "ok": [str(i.path) not in bad for i in items],
        }
    )
    return frame[frame["ok"]].drop(columns="ok")


def _carve_validation(frame: pd.DataFrame, name: str, params: PrepareParams) -> bool:
    """Move a stratified share of the training clips to ``valid`` (in ``frame``) when the data
    set has no validation split of its own; say whether it did."""
    carved = not (frame["split"] == "valid").any()
    if carved:
        train = frame["split"] == "train"
        moved = carve_validation(
            frame.loc[train, "label"].to_numpy(), name, params.split_seed, params.valid_fraction
        )
        frame.loc[frame.index[train.to_numpy()][moved], "split"] = "valid"
    return carved


def _check_what_is_kept(
    frame: pd.DataFrame, classes: list[str], dataset: DatasetParams, loud: np.ndarray
) -> None:
    """Refuse splits that cannot be scored; print what the store lacks or changed."""
    kept = frame["label_name"].tolist()
    for note in check_splits(frame["split"].tolist(), kept, classes, dataset.name, dataset.kind):
        print(note)
    if loud.any():
        print(
            f"{dataset.name}: clipped {int(loud.sum())} sample(s) beyond full scale in "
            f"{int(np.count_nonzero(loud))} file(s) (prepare.clip_loud)"
        )


def _write_splits(
    work: Path,
    frame: pd.DataFrame,
    everything: np.ndarray,
    samples: int,
    name: str,
    split_seed: int,
) -> pd.DataFrame:
    """Copy each split's clips out of ``everything`` into its own array and write the manifest,
    with the ranks that draw the nested label fractions; return the manifest."""
    parts = []
    for split in SPLITS:
        part = frame[frame["split"] == split].copy()
        part["index"] = range(len(part))
        rows = part["row"].to_numpy()
        array = open_split_array(work, split, len(rows), samples)
        for start in range(0, len(rows), _COPY_ROWS):
            array[start : start + _COPY_ROWS] = everything[rows[start : start + _COPY_ROWS]]
        array.flush()
        labels = part["label"].to_numpy()
        is_train = split == "train"
        part["label_rank"] = label_ranks(labels, name, split_seed) if is_train else -1
        part["class_size"] = class_sizes(labels) if is_train else 0
        parts.append(part)
    manifest = pd.concat(parts).drop(columns="row")
    columns = ["split", "index", "label", "label_name", "source", "label_rank", "class_size"]
    manifest[columns].to_csv(work / "manifest.csv", index=False)
    return manifest


def _info(
    dataset: DatasetParams,
    params: PrepareParams,
    listing: _Listing,
    manifest: pd.DataFrame,
    carved: bool,
    failures: list[dict],
    loud: np.ndarray,
) -> dict:
    """The store's info.json, less the digests of its content."""
    samples = round(dataset.clip_seconds * params.sample_rate)
    counts = {s: int((manifest["split"] == s).sum()) for s in SPLITS}
    return {
        "name": dataset.name,
        "kind": dataset.kind,
        "options": listing.options,
        "sample_rate": params.sample_rate,
        "clip_seconds": dataset.clip_seconds,
        "clip_samples": samples,
        "classes": listing.classes,
        "clips": counts,
        "validation_carved_from_train": carved,
        "split_seed": params.split_seed,
        "skipped": failures,
        # Only where something was clipped, so that other stores keep their bytes.
        **({"clipped_samples": int(loud.sum())} if loud.any() else {}),
        "root": str(listing.root),
        "megabytes": round(sum(counts.values()) * samples * 2 / 2**20, 1),
    }
