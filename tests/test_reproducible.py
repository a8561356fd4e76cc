"""The generated stand-ins and their stored features have the same bytes on every x86-64 CPU.

Each run below is a fresh process that generates the three embedded data sets (a few clips a
class), prepares them and writes their features, then prints a sha256 per split file. The runs
differ only in the CPU paths the numerical libraries take: the machine's best (AVX-512 where it
has it) against the x86-64 baseline (numpy's SIMD dispatch off, ATen's default kernels, MKL at
SSE4.2, OpenBLAS's oldest kernel). Before float64 synthesis, about one environment clip in ten
changed between numpy's AVX2 and AVX-512 paths, and log-mel features changed in ~0.4 % of their
float16 values between ATen's default and AVX2 kernels.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Run in a child process: the CPU path is fixed when numpy, torch and MKL load.
RUN = r"""
import hashlib, json, sys
from pathlib import Path

import numpy as np
import torch

from clar.config import DatasetParams, FeatureParams, PrepareParams
from clar.data.embedded import KINDS
from clar.data.feature_store import write_features
from clar.data.prepare import prepare
from clar.data.store import Store

try:
    from numpy._core._multiarray_umath import __cpu_features__
except ImportError:  # numpy 1.x
    from numpy.core._multiarray_umath import __cpu_features__

out = Path(sys.argv[1])
counts = {"train": 2, "valid": 1, "test": 1}
prep = PrepareParams(sample_rate=16000, split_seed=0, valid_fraction=0.1, skip_bad_files=False)
feats = FeatureParams(
    window_ms=128.0, hop_ms=8.0, n_bins=128, f_min=40.0, f_max=8000.0,
    channels=("log_stft", "phase", "log_mel"), max_gb=1.0,
)
hashes = {}
for kind in KINDS:
    options = {"generator": kind, "clips_per_class": counts, "seed": 5}
    dataset = DatasetParams(name=kind, kind="embedded", clip_seconds=0.25, options=options)
    prepared, features = out / "prepared" / kind, out / "features" / kind
    prepare(dataset, prep, out / "raw", prepared, progress=False)
    write_features(Store.open(prepared), feats, features, progress=False)
    for path in sorted(prepared.glob("*.npy")) + sorted(features.glob("*.npy")):
        rel = path.relative_to(out).as_posix()
        hashes[rel] = hashlib.sha256(np.load(path).tobytes()).hexdigest()
print(json.dumps({
    "hashes": hashes,
    "aten": torch.backends.cpu.get_cpu_capability(),
    "numpy": sorted(name for name, on in __cpu_features__.items() if on),
}))
"""


def _dispatch_targets() -> list[str]:
    """numpy's runtime SIMD targets this CPU supports (the names NPY_DISABLE_CPU_FEATURES
    takes; numpy 2.4 calls AVX-512 ``X86_V4``, older numpy ``AVX512_SKX``)."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as umath
    return [name for name in umath.__cpu_dispatch__ if umath.__cpu_features__.get(name)]


def _run(tmp: Path, env: dict[str, str]) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in BASELINE}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(tmp)],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


BASELINE = {
    "NPY_DISABLE_CPU_FEATURES": " ".join(_dispatch_targets()),
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    "OPENBLAS_CORETYPE": "Prescott",
}


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="the CPU paths are x86-64's"
)
def test_stand_ins_and_features_have_the_same_bytes_on_every_cpu_path(tmp_path: Path) -> None:
    best = _run(tmp_path / "best", {})
    baseline = _run(tmp_path / "baseline", BASELINE)
    # The switches took effect, so the two runs did take different paths where the CPU has any.
    assert baseline["aten"] == "DEFAULT"
    assert not set(_dispatch_targets()) & set(baseline["numpy"])
    kinds = ("speech", "music", "environment")
    for kind in kinds:
        for folder, splits in (("prepared", 3), ("features", 3)):
            assert sum(k.startswith(f"{folder}/{kind}/") for k in best["hashes"]) == splits
    differing = sorted(k for k in best["hashes"] if best["hashes"][k] != baseline["hashes"][k])
    assert not differing, (best["aten"], baseline["aten"], differing)
