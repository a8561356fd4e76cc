"""The cached tensor store: one contiguous int16 array per split, plus a manifest.

Layout of a prepared data set folder::

    train.npy  valid.npy  test.npy   int16 [N, samples]: loads onto a GPU in one copy,
                                     memory-maps on a CPU (np.load(mmap_mode="r"))
    manifest.csv                     split, index, label, label_name, source, label_rank, class_size
    info.json                        sample rate, clip length, classes, counts, skipped files,
                                     the sha256 of each file above (:func:`file_digests`)

The digests make a store's identity its content: two stores with the same names and counts but
other audio differ in ``info.json`` (hence in DVC's hash), in :attr:`Store.content`, in the
fingerprint of the runs trained on them and in the features written from them.

Label fractions (docs/method.md): a clip of class c with ``label_rank`` r is labelled at
fraction f (in percent) when ``r < ceil(f / 100 * class_size)``. The ranks are a permutation of
each class drawn from (data set, split seed, class) only, so the subsets are stratified, nested
(1 % inside 10 % inside ...), identical for every method, and every class keeps at least one
labelled clip.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clar.atomic import write_json
from clar.errors import ClarError
from clar.layout import INFO_FILE
from clar.precision import full
from clar.vocabulary import SPLITS

SCALE = 32767.0
# What a store holds, byte for byte: the clips of each split, and their labels and splits.
CONTENT_FILES = (*(f"{split}.npy" for split in SPLITS), "manifest.csv")
_CHUNK = 1 << 24


def _stream(*keys: str | int) -> np.random.Generator:
    # crc32 rather than hash(): Python salts str hashes per process, and the subsets must not move.
    return np.random.default_rng([zlib.crc32(str(k).encode()) for k in keys])


def label_ranks(labels: np.ndarray, dataset: str, split_seed: int) -> np.ndarray:
    """Rank of each training clip within its class, the order in which clips get labelled.

    ``labels``: ``[N]`` class indices of the training split, in manifest order.
    Returns ``[N]`` int ranks, a random permutation of ``0..n_c-1`` within each class c.
    """
    ranks = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        ranks[members] = _stream("label-fraction", dataset, split_seed, int(c)).permutation(
            len(members)
        )
    return ranks


def labelled_mask(ranks: np.ndarray, class_sizes: np.ndarray, fraction: float) -> np.ndarray:
    """Which training clips keep their label at ``fraction`` percent: ``[N] -> [N] bool``."""
    if not 0 < fraction <= 100:
        raise ClarError(f"label fraction {fraction!r} is invalid; allowed: 0 < fraction <= 100")
    keep = np.ceil(class_sizes * (fraction / 100.0) - 1e-9).astype(np.int64)
    return ranks < np.maximum(keep, 1)


def carve_validation(
    labels: np.ndarray, dataset: str, split_seed: int, fraction: float
) -> np.ndarray:
    """Pick a stratified validation subset of a training split that has none.

    Returns ``[N]`` bool, True for the clips that move to ``valid`` (at least one per class with
    two or more clips, so model selection sees every class).
    """
    chosen = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        n = max(1, round(len(members) * fraction))
        order = _stream("validation", dataset, split_seed, int(c)).permutation(len(members))
        chosen[members[order[:n]]] = True
    return chosen


def to_float(clips: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """int16 ``[N, samples]`` -> float32 in [-1, 1] on ``device`` (copied as int16, then cast)."""
    # A copy: memory-mapped arrays are read-only, and torch wants to own what it wraps.
    return full(torch.from_numpy(np.array(clips)).to(device)).div_(SCALE)


def file_digest(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file, read in chunks so that multi-GB stores and archives fit in memory."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_digests(folder: Path) -> dict[str, str]:
    """``{file: sha256}`` of a store's :data:`CONTENT_FILES` (prepare records it in info.json)."""
    return {name: file_digest(Path(folder) / name) for name in CONTENT_FILES}


def source_digest(paths: Sequence[Path], root: Path) -> str:
    """The sha256 of the files a data set was read from: each one's path (relative to
    ``root``) and bytes, in path order. A file edited, added, renamed or removed changes it."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        try:
            name = path.relative_to(root).as_posix()
        except ValueError:
            name = path.as_posix()
        h.update(f"{name}\0{file_digest(path)}\0".encode(errors="surrogateescape"))
    return h.hexdigest()


def short_digest(data: object) -> str:
    """16 hex digits of the sha256 of ``data`` as canonical JSON."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def write_info(folder: Path, info: dict) -> None:
    write_json(folder / INFO_FILE, info)


@dataclass(frozen=True)
class Store:
    """A prepared data set, read back. Arrays are memory-mapped until moved to a device."""

    folder: Path
    info: dict
    manifest: pd.DataFrame

    @classmethod
    def open(cls, folder: Path | str) -> Store:
        folder = Path(folder)
        if not (folder / INFO_FILE).exists():
            raise ClarError(f"{folder}: not a prepared data set; run `dvc repro` (prepare stage)")
        info = json.loads((folder / INFO_FILE).read_text())
        manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
        return cls(folder, info, manifest)

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def classes(self) -> list[str]:
        return self.info["classes"]

    @property
    def sample_rate(self) -> int:
        return self.info["sample_rate"]

    @cached_property
    def content(self) -> str:
        """A short hash of the clips, labels and splits held: from info.json's ``sha256``
        (written at prepare, so reading it costs nothing), or from the files themselves for a
        store written without it."""
        return short_digest(self.info.get("sha256") or file_digests(self.folder))

    def array(self, split: str) -> np.ndarray:
        """The int16 clips of a split, memory-mapped: ``[N, samples]``."""
        if split not in SPLITS:
            raise ClarError(f"split {split!r} is invalid; allowed: {', '.join(SPLITS)}")
        return np.load(self.folder / f"{split}.npy", mmap_mode="r")

    def rows(self, split: str) -> pd.DataFrame:
        return self.manifest[self.manifest["split"] == split].sort_values("index")

    def labels(self, split: str) -> torch.Tensor:
        """Class indices of a split: ``[N]`` int64."""
        return torch.tensor(self.rows(split)["label"].to_numpy(), dtype=torch.long)

    def labelled(self, fraction: float) -> torch.Tensor:
        """Which training clips are labelled at ``fraction`` percent: ``[N]`` bool."""
        rows = self.rows("train")
        mask = labelled_mask(rows["label_rank"].to_numpy(), rows["class_size"].to_numpy(), fraction)
        return torch.from_numpy(mask)


def open_split_array(folder: Path, split: str, n: int, samples: int) -> np.ndarray:
    """A new int16 ``[n, samples]`` array file to fill clip by clip without holding it in RAM."""
    return np.lib.format.open_memmap(
        folder / f"{split}.npy", mode="w+", dtype=np.int16, shape=(n, samples)
    )


def to_int16(clip: torch.Tensor) -> np.ndarray:
    """``[samples]`` float in [-1, 1] -> int16, clipping what resampling pushed past full scale."""
    return (clip.clamp(-1.0, 1.0) * SCALE).round().to(torch.int16).numpy()


def class_sizes(labels: Sequence[int]) -> np.ndarray:
    """For each clip, the number of clips of its class: ``[N] -> [N]``."""
    labels = np.asarray(labels)
    counts = np.bincount(labels) if len(labels) else np.zeros(0, dtype=np.int64)
    return counts[labels]
