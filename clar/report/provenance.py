"""What the numbers were measured with: the code's revision and the machine (``run_info.json``),
and how long each stage group took (``timings.json``, apart: a clock reading changes on every
run, and no cached output may hold one)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from clar.data.catalog import DATASETS
from clar.layout import INFO_FILE, REPORTS, SOURCES_DIR, STAGES, timing

if TYPE_CHECKING:
    from clar.config import Params

LOCK = "dvc.lock"


def git_revision() -> str:
    """The checked-out commit, or ``unknown``: ``+dirty`` when tracked files differ from it,
    ``(dvc.lock updated by this run)`` when only what ``dvc repro`` itself writes does."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + _changes([line[3:].strip() for line in changed if line.strip()])


def _changes(paths: list[str]) -> str:
    """What to add to the revision for these changed files. dvc.lock is rewritten after each
    stage, and reports/ holds the report stage's outputs in git, which DVC deletes before it
    runs the stage: neither changes what ran, so only other files make the tree dirty."""
    if any(p != LOCK and not p.startswith(f"{REPORTS}/") for p in paths):
        return "+dirty"
    return " (dvc.lock updated by this run)" if LOCK in paths else ""


def e1_absent(params: Params) -> str:
    """Why the parameters run no E1 (empty when they run it), for the claims it leaves
    unjudged: a loss option without E1's objective empties ``augmentation_study.datasets``
    (conf/loss/), which otherwise only a user does."""
    study, loss = params.augmentation_study, params.loss
    if study.datasets:
        return ""
    trained = (*loss.fraction_trained, *loss.label_free)
    if study.objective not in trained:
        return (
            f"E1 did not run: augmentation_study.datasets is empty because the objectives "
            f"trained ({', '.join(trained) or 'none'}, from the loss option) leave out E1's "
            f"objective {study.objective} (augmentation_study.objective); loss=all runs it"
        )
    return (
        "E1 did not run: augmentation_study.datasets is empty in params.yaml; set it to one "
        "or more of data.names"
    )


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


def stage_seconds(outputs: list[Path], since: float | None = None) -> dict[str, float]:
    """Wall time per stage group, summed over the timing files of the stages that wrote
    ``outputs`` (:func:`clar.layout.timing`; a folder of outputs, such as ``runs``, counts every
    stage under it), in pipeline order; groups that took no time are left out. With ``since``
    (a time stamp), only the files written since count."""
    totals = dict.fromkeys(STAGES, 0.0)
    for output in outputs:
        file, folder = timing(output), timing(output).with_suffix("")
        for path in [file] if file.is_file() else sorted(folder.rglob("*.json")):
            if since is not None and path.stat().st_mtime < since:
                continue
            stage = json.loads(path.read_text())
            totals[stage["group"]] += stage["seconds"]
    return {group: round(seconds, 1) for group, seconds in totals.items() if seconds}


THIS_RUN = (
    "the stages this dvc repro ran, from the sources stage on (a stage DVC skipped as "
    "unchanged or restored from its cache took no time; the report stage is not counted)"
)
EVERY_RUN = "the last run of every stage, whenever it ran (no sources stage dates this run)"


def timings(
    data: list[str],
    prepared_dir: Path,
    features_dir: Path,
    runs_dir: Path,
    sources_dir: Path = SOURCES_DIR,
) -> dict:
    """``timings.json``: wall time per stage group and in all, of the stages this ``dvc repro``
    ran, and what that counts (``counted``).

    Every stage leaves its timing file behind, and those of stages DVC skips or restores from
    its cache stay from earlier runs; the sources stages run on every ``dvc repro``, before
    any other, so only files written since the first of them started are this run's.
    """
    sources = [timing(sources_dir / f"{n}.json") for n in data]
    since = None
    if sources and all(p.is_file() for p in sources):
        # A stage's file is written as it ends; it started its own seconds before.
        since = min(p.stat().st_mtime - json.loads(p.read_text())["seconds"] for p in sources)
    outputs = [sources_dir / f"{n}.json" for n in data]
    outputs += [prepared_dir / n for n in data] + [features_dir / n for n in data] + [runs_dir]
    seconds = stage_seconds(outputs, since)
    return {
        "stage_seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 1),
        "counted": THIS_RUN if since is not None else EVERY_RUN,
    }


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
