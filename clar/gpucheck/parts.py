"""The parts of the GPU check, each run as a process of its own by :mod:`clar.gpucheck.runner`
(``python -m clar.gpucheck.parts NAME OUT_JSON WORK_DIR SIZES_JSON``), so that a part that
hangs or crashes is killed alone. Each part rewrites its JSON after every item it measures:
what a killed part leaves is what it had measured.

- ``env``: device, driver, torch, CUDA, cuDNN, NCCL and Python versions;
- ``checks``: :mod:`clar.gpucheck.checks`, pass or fail each;
- ``bench_eager`` / ``bench_compiled``: :func:`clar.bench.training_step` at the sizes given, per
  input and objective, in the bench's JSON format (what :func:`clar.plan.throughput` reads);
- ``train``: one grid cell of the paper profile trained on generated clips
  (:mod:`clar.gpucheck.cell`);
- ``features_eval``: the features stage and one evaluation on generated clips.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from clar.atomic import write_json


class Record:
    """A part's result, written whole to ``path`` after every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}

    def set(self, **values: Any) -> None:
        self.data.update(values)
        write_json(self.path, self.data)

    def append(self, key: str, value: Any) -> None:
        self.data.setdefault(key, []).append(value)
        write_json(self.path, self.data)


def _driver() -> str | None:
    """The NVIDIA driver's version: from the kernel module, else from nvidia-smi."""
    version = Path("/proc/driver/nvidia/version")
    if version.exists():
        for word in version.read_text().split():
            if word.count(".") >= 1 and word.replace(".", "").isdigit():
                return word
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else None


def _nccl() -> str | None:
    try:
        version = torch.cuda.nccl.version()
    except (AttributeError, RuntimeError):
        return None
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def env(record: Record, device: torch.device, sizes: dict) -> None:
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("torch", "torchaudio", "numpy", "pydantic", "hydra-core", "soundfile", "dvc"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": "cpu",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "packages": packages,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            device=props.name,
            capability=f"{props.major}.{props.minor}",
            memory_gb=round(props.total_memory / 1e9, 1),
            multiprocessors=props.multi_processor_count,
            devices=torch.cuda.device_count(),
            driver=_driver(),
            cudnn=torch.backends.cudnn.version(),
            nccl=_nccl(),
        )
    record.set(**info)


def checks(record: Record, device: torch.device, sizes: dict) -> None:
    from clar.gpucheck.checks import CHECKS, COMPILED

    for name, check in CHECKS.items():
        began = time.perf_counter()
        extra = {"backend": sizes["backend"]} if name in COMPILED else {}
        try:
            detail, status = check(device, sizes["check_width"], **extra), "pass"
        except Exception as error:  # a check's failure is its result, not the part's
            traceback.print_exc()
            detail, status = f"{type(error).__name__}: {error}".splitlines()[0], "fail"
        seconds = round(time.perf_counter() - began, 2)
        record.append(
            "checks", {"name": name, "status": status, "seconds": seconds, "detail": detail}
        )
        print(f"{name}: {status} ({seconds} s) {detail}", flush=True)


def _bench(record: Record, device: torch.device, sizes: dict, compiled: bool) -> None:
    from clar.bench import training_step
    from clar.encoders import ENCODERS
    from clar.grid import accepts
    from clar.objectives import OBJECTIVES
    from clar.plan import PEAK_TFLOPS, device_kind

    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    kind = device_kind(name) if device.type == "cuda" else None
    peak = PEAK_TFLOPS.get(kind) if kind else None
    record.set(
        date=datetime.date.today().isoformat(),
        device=name,
        kind=kind,
        peak_tflops=peak,
        width=sizes["width"],
        batch=sizes["bench_batch"],
        clip_seconds=sizes["clip_seconds"],
        backend=sizes["backend"] if compiled else None,
        steps=[],
    )
    samples = round(sizes["clip_seconds"] * 16000)
    rows = [(i, o) for i in ENCODERS.names() for o in OBJECTIVES.names() if accepts(o, i)]
    if compiled and sizes.get("compiled_rows"):
        rows = [tuple(r.split("/")) for r in sizes["compiled_rows"]]
    for input, objective in rows:
        began = time.perf_counter()
        row = training_step(
            input,
            objective,
            sizes["width"],
            sizes["bench_batch"],
            samples,
            sizes["bench_steps"],
            device,
            compiled,
            sizes["backend"],
        )
        row["mfu"] = row["tflops"] / peak if peak else None
        row["wall_seconds"] = round(time.perf_counter() - began, 2)
        record.append("steps", row)
        print(
            f"{input} {objective} {'compiled' if compiled else 'eager'}: "
            f"{row['clips_per_second']:.1f} clips/s, {row['tflops']:.3g} TFLOP/s"
            + (f", MFU {row['mfu']:.1%}" if row["mfu"] else ""),
            flush=True,
        )


def bench_eager(record: Record, device: torch.device, sizes: dict) -> None:
    _bench(record, device, sizes, compiled=False)


def bench_compiled(record: Record, device: torch.device, sizes: dict) -> None:
    _bench(record, device, sizes, compiled=True)


def train(record: Record, device: torch.device, sizes: dict) -> None:
    from clar.gpucheck.cell import train_cell

    train_cell(record, device, sizes)


def features_eval(record: Record, device: torch.device, sizes: dict) -> None:
    from clar.gpucheck.cell import features_and_evaluation

    features_and_evaluation(record, device, sizes)


PARTS = {
    "env": env,
    "checks": checks,
    "bench_eager": bench_eager,
    "train": train,
    "features_eval": features_eval,
    "bench_compiled": bench_compiled,
}


def main(argv: list[str]) -> None:
    name, out, work, sizes = argv
    options = json.loads(sizes)
    device = torch.device(options["device"])
    record = Record(Path(out))
    os.chdir(work)  # anything a part writes by default lands in the check's work folder
    PARTS[name](record, device, options)


if __name__ == "__main__":
    main(sys.argv[1:])
