"""What the numbers were measured with: the code's revision and the machine (``run_info.json``),
and how long each stage group took (``timings.json``, apart: a clock reading changes on every
run, and no cached output may hold one)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import torch

from clar.data.catalog import DATASETS
from clar.layout import INFO_FILE, STAGES, timing


def git_revision() -> str:
    """The checked-out commit (with ``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def hardware() -> str:
    """What the numbers were measured on, in words."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} logical CPUs"
    if torch.cuda.is_available():
        text += f"; GPU {torch.cuda.get_device_name(0)}"
    return text


def stage_seconds(outputs: list[Path]) -> dict[str, float]:
    """Wall time per stage group, summed over the timing files of the stages that wrote
    ``outputs`` (:func:`clar.layout.timing`; a folder of outputs, such as ``runs``, counts every
    stage under it), in pipeline order; groups that took no time are left out."""
    totals = dict.fromkeys(STAGES, 0.0)
    for output in outputs:
        file, folder = timing(output), timing(output).with_suffix("")
        for path in [file] if file.is_file() else sorted(folder.rglob("*.json")):
            stage = json.loads(path.read_text())
            totals[stage["group"]] += stage["seconds"]
    return {group: round(seconds, 1) for group, seconds in totals.items() if seconds}


def timings(data: list[str], prepared_dir: Path, features_dir: Path, runs_dir: Path) -> dict:
    """``timings.json``: wall time per stage group and in all, from the stages' timing files."""
    outputs = [prepared_dir / n for n in data] + [features_dir / n for n in data] + [runs_dir]
    seconds = stage_seconds(outputs)
    return {"stage_seconds": seconds, "total_seconds": round(sum(seconds.values()), 1)}


def run_info(
    data: list[str], prepared_dir: Path, profile: str, git_rev: str, seeds: list[int]
) -> dict:
    """What ran, and on what."""
    datasets = {}
    for name in data:
        info = json.loads((prepared_dir / name / INFO_FILE).read_text())
        spec = DATASETS.get(name)
        datasets[name] = {
            "embedded": info["kind"] == "embedded",
            "task": spec.task if spec else f"{info['kind']} data set",
            "classes": info["classes"],
            "clips": info["clips"],
            "options": info.get("options", {}),
        }
    return {
        "profile": profile,
        "git_rev": git_rev,
        "hardware": hardware(),
        "seeds": seeds,
        "datasets": datasets,
    }
