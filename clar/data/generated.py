"""A prepared store of generated clips, written as the prepare stage writes one (each split's
int16 array, the manifest, info.json), for the GPU check and the tests, which need a real store
but no audio files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from clar.data.store import class_sizes, label_ranks, open_split_array, write_info

Fill = Callable[[str, np.ndarray, np.ndarray], None]
"""``fill(split, labels, array)``: write the split's clips, one per label ``[n]``, into its int16
array ``[n, samples]``."""


def write_generated(
    folder: Path,
    labels: Mapping[str, np.ndarray],
    fill: Fill,
    *,
    name: str,
    kind: str,
    sample_rate: int,
    samples: int,
    label_names: Sequence[str],
    classes: Sequence[str] | None = None,
    source: str | None = None,
) -> None:
    """Write the splits of ``labels`` (split -> class index of each clip, the splits in the
    order ``fill`` draws them) into the existing ``folder``.

    ``label_names``: each class index's name in the manifest; ``classes``: info.json's list
    (default ``label_names``); ``source``: every clip's manifest source (default
    ``split-index``). The training split's label ranks use split seed 0.
    """
    rows = []
    for split, split_labels in labels.items():
        n = len(split_labels)
        array = open_split_array(folder, split, n, samples)
        fill(split, split_labels, array)
        array.flush()
        train = split == "train"
        rows.append(
            pd.DataFrame(
                {
                    "split": split,
                    "index": range(n),
                    "label": split_labels,
                    "label_name": [label_names[c] for c in split_labels],
                    "source": source if source is not None else [f"{split}-{i}" for i in range(n)],
                    "label_rank": label_ranks(split_labels, name, 0) if train else -1,
                    "class_size": class_sizes(split_labels) if train else 0,
                }
            )
        )
    pd.concat(rows).to_csv(folder / "manifest.csv", index=False)
    write_info(
        folder,
        {
            "name": name,
            "kind": kind,
            "sample_rate": sample_rate,
            "clip_samples": samples,
            "classes": list(label_names if classes is None else classes),
            "clips": {split: len(split_labels) for split, split_labels in labels.items()},
            "split_seed": 0,
        },
    )
