"""The features stage's output: float16 time-frequency features of the un-augmented clips.

Training computes features on the fly, after augmentation, on the training device: a GPU
recomputes them faster than a disk returns them, and augmented views differ every epoch anyway.
What is worth keeping is the un-augmented input of each split, which evaluation reads and
people inspect. Splits are written in the order test, valid, train while the total stays under
``max_gb`` (float16 features of all of NSynth would be about 110 GB); a split left out is
computed on the fly where it is needed, and ``info.json`` says which were written and why.

The features are computed in float64 and rounded once, to float16, so that they have the same
bytes on every CPU and kernel path (MKL's FFT and matrix product, ATen's AVX2 and AVX-512 log and
atan2 differ in their last bits). In float32 those differences are ~1e-7 of a value, and a few
thousand of every million float16 values changed between ``ATEN_CPU_CAPABILITY=default`` and
``avx2``; in float64 a value changes only when it lies within ~1e-15 of a float16 rounding
boundary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from clar.atomic import building, write_json
from clar.config import FeatureParams
from clar.data.store import SCALE, Store
from clar.features import TimeFrequency, gigabytes
from clar.layout import INFO_FILE
from clar.progress import progress_bar

ORDER = ("test", "valid", "train")


def write_features(
    store: Store,
    params: FeatureParams,
    out_dir: Path,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Write ``<split>.npy`` float16 ``[N, C, F, frames]`` per split under ``params.max_gb``.

    ``info.json`` records the parameters and the content hash of the clips they come from
    (``from_clips``, :attr:`Store.content`), so a reader can tell whether the stored features
    match the module it would otherwise compute them with, and refuse features of other clips.
    """
    max_gb = params.max_gb
    with building(out_dir) as work:
        module = TimeFrequency.from_params(store.sample_rate, params).to(device)
        samples = store.info["clip_samples"]
        shape = (len(module.channels), module.log_fbanks.shape[1], module.frames(samples))
        written, skipped, total = [], {}, 0.0
        for split in ORDER:
            clips = store.array(split)
            size = gigabytes(len(clips), *shape)
            if total + size > max_gb:
                skipped[split] = (
                    f"{size:.2f} GB would take the total past features.max_gb = "
                    f"{max_gb:g}; computed on the fly when needed"
                )
                continue
            out = np.lib.format.open_memmap(
                work / f"{split}.npy", mode="w+", dtype=np.float16, shape=(len(clips), *shape)
            )
            starts = range(0, len(clips), batch_size)
            for start in progress_bar(
                starts, desc=f"features {store.name} {split}", unit="batch", disable=not progress
            ):
                batch = torch.from_numpy(np.array(clips[start : start + batch_size]))
                with torch.no_grad():
                    feats = module(batch.to(device, torch.float64) / SCALE).cpu().numpy()
                # numpy rounds float64 to float16 directly; torch's .half() goes through float32
                # and so rounds twice.
                out[start : start + len(feats)] = feats.astype(np.float16)
            out.flush()
            written.append(split)
            total += size
        info = {
            "name": store.name,
            "params": params.model_dump(mode="json"),
            "from_clips": store.content,
            "shape": list(shape),
            "written": written,
            "skipped": skipped,
            "gigabytes": round(total, 3),
        }
        write_json(work / INFO_FILE, info)
    return info
