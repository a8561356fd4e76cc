"""The prepare step: obtain a data set, decode, resample to 16 kHz, fix the length, store."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
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

    samples = round(dataset.clip_seconds * params.sample_rate)
    with building(out_dir) as work:
        everything = np.lib.format.open_memmap(
            work / "all.npy", mode="w+", dtype=np.int16, shape=(len(items), samples)
        )
        loud = np.zeros(len(items), dtype=np.int64)
        failures = unnamed + _decode_all(
            items,
            params.sample_rate,
            samples,
            everything,
            progress,
            f"prepare {dataset.name}",
            loud,
            params.clip_loud,
        )
        if failures and not params.skip_bad_files:
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
            print(f"{dataset.name}: skipped {len(failures)} bad file(s) (prepare.skip_bad_files)")
        bad = {f["path"] for f in failures}
        frame = pd.DataFrame(
            {
                "row": range(len(items)),
                "split": [i.split for i in items],
                "label": [classes.index(i.label) for i in items],
                "label_name": [i.label for i in items],
                "source": [_relative(i.path, root) for i in items],
                "ok": [str(i.path) not in bad for i in items],
            }
        )
        frame = frame[frame["ok"]].drop(columns="ok")

        carved = not (frame["split"] == "valid").any()
        if carved:
            train = frame["split"] == "train"
            moved = carve_validation(
                frame.loc[train, "label"].to_numpy(),
                dataset.name,
                params.split_seed,
                params.valid_fraction,
            )
            frame.loc[frame.index[train.to_numpy()][moved], "split"] = "valid"
        kept = frame["label_name"].tolist()
        for note in check_splits(
            frame["split"].tolist(), kept, classes, dataset.name, dataset.kind
        ):
            print(note)
        if loud.any():
            print(
                f"{dataset.name}: clipped {int(loud.sum())} sample(s) beyond full scale in "
                f"{int(np.count_nonzero(loud))} file(s) (prepare.clip_loud)"
            )

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
            part["label_rank"] = (
                label_ranks(labels, dataset.name, params.split_seed) if is_train else -1
            )
            part["class_size"] = class_sizes(labels) if is_train else 0
            parts.append(part)
        del everything
        (work / "all.npy").unlink()
        manifest = pd.concat(parts).drop(columns="row")
        columns = ["split", "index", "label", "label_name", "source", "label_rank", "class_size"]
        manifest[columns].to_csv(work / "manifest.csv", index=False)

        counts = {s: int((manifest["split"] == s).sum()) for s in SPLITS}
        info = {
            "name": dataset.name,
            "kind": dataset.kind,
            "options": options,
            "sample_rate": params.sample_rate,
            "clip_seconds": dataset.clip_seconds,
            "clip_samples": samples,
            "classes": classes,
            "clips": counts,
            "validation_carved_from_train": carved,
            "split_seed": params.split_seed,
            "skipped": failures,
            # Only where something was clipped, so that other stores keep their bytes.
            **({"clipped_samples": int(loud.sum())} if loud.any() else {}),
            "root": str(root),
            "megabytes": round(sum(counts.values()) * samples * 2 / 2**20, 1),
            # The content, not only names and counts: other audio under the same names changes
            # info.json, and so every fingerprint and DVC hash downstream (clar.data.store).
            "sha256": file_digests(work),
        }
        if dataset.kind == "folder":
            # DVC does not watch the folder: `python -m clar data` compares it with this.
            info["source_sha256"] = source_digest([i.path for i in items], root)
        write_info(work, info)
    return info
