"""``python -m clar plan [overrides]``: what a composition of conf/ costs, before anything runs.

Per training stage of dvc.yaml (``train@``/``pretrain@`` cells, ``augmentation-study@``) and in
total: the runs, the clip-views the encoder processes (augmented training views x epochs, the
held-out probes of the E4 curve, the evaluation embeddings), their FLOPs and the GPU-hours they
take on a chosen device.

- The runs are those :mod:`clar.grid` expands the parameters into, and what each costs is
  :mod:`clar.costs`'s: the encoder's measured FLOPs per clip, the clip-views as the training
  loop draws them (the objective's pool and views), the split sizes. What an objective or
  encoder costs is asked of it (:mod:`clar.objectives`, :mod:`clar.encoders`), so a plug-in is
  planned as the paper's own methods are. The features' STFT, batch norm, the heads (a few
  MFLOP) and the evaluation head fitted on the embeddings are left out.
- Time: FLOPs / (peak x MFU). The MFU is the last ``make bench`` figure for that input and
  objective (:data:`BENCH_FILE`, written by :mod:`clar.bench` on a GPU, or ``--mfu-from`` a GPU
  check's ``gpucheck.json``) when there is one, else :data:`ASSUMED_MFU`; the output says
  which. Wall time on N GPUs places whole stages on GPUs, longest first (the grid's cells are
  independent), and gives the perfect split beside it.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from clar import grid
from clar.config import Params
from clar.costs import BACKWARD_FACTOR, RunPlan, encoder_flops, run_views, split_sizes
from clar.errors import ClarError, invalid
from clar.objectives import OBJECTIVES
from clar.vocabulary import FULL_FRACTION

# Dense bf16 tensor-core peaks, TFLOP/s (NVIDIA's datasheets give twice these "with sparsity"):
# H100 SXM5 and H200 SXM 989.4 (H100 / H200 datasheets), H100 PCIe 756.5 (H100 datasheet),
# A100 312 (A100 datasheet), L40S 362.05 (L40S datasheet).
PEAK_TFLOPS = {"h100": 989.4, "h100-pcie": 756.5, "h200": 989.4, "a100": 312.0, "l40s": 362.05}
# Without a bench figure: a ResNet-18 trained in bf16 with channels-last convolutions reaches
# roughly this share of the tensor-core peak on these devices.
ASSUMED_MFU = 0.30
# Written by `make bench` (clar.bench), read here; a local measurement, not tracked by git.
BENCH_FILE = Path(".cache/clar/bench.json")


def device_kind(name: str) -> str | None:
    """The :data:`PEAK_TFLOPS` key of a CUDA device name (``torch.cuda.get_device_name``),
    e.g. "NVIDIA H100 80GB HBM3" -> "h100"; None for a device not in the table."""
    name = name.lower().replace(" ", "")
    matches = [kind for kind in PEAK_TFLOPS if kind.replace("-", "") in name]
    return max(matches, key=len) if matches else None


def run_plan(params: Params, stage: str, cell: grid.Cell, fraction: float | None) -> RunPlan:
    """One run of ``stage``, in ``cell``, trained at label ``fraction`` (None: label-free)."""
    spec = params.dataset(cell.dataset)
    train = params.train.for_run(cell.dataset, cell.objective)
    rate = params.prepare.sample_rate
    flops = encoder_flops(
        cell.input, train.width, round(spec.clip_seconds * rate), rate, params.features
    )
    splits = split_sizes(spec, params.prepare.valid_fraction)
    objective = OBJECTIVES.get(cell.objective)
    monitor = grid.monitored(cell.experiment, cell.objective)
    full = FULL_FRACTION if fraction is None else fraction
    views = run_views(splits, train, objective, full, monitor)
    return RunPlan(stage, cell.input, cell.objective, *views, flops)


def plan_runs(params: Params) -> list[RunPlan]:
    """Every training run of the pipeline (:func:`clar.grid.cell_scored`), stage by stage in
    dvc.yaml's order: the ``train@`` cells, the ``pretrain@`` cells, the augmentation study."""
    # Stable: each group keeps the grid's order of data sets, encoders and objectives.
    cells = sorted(grid.grid_cells(params), key=lambda c: OBJECTIVES.get(c.objective).label_free())
    return [
        run_plan(params, grid.stage_name(cell), cell, scored.run.fraction)
        for cell in (*cells, *grid.study_cells(params))
        for scored in grid.cell_scored(params, cell)
    ]


@dataclass(frozen=True)
class Throughput:
    """How fast a device trains: its peak and the share of it each (input, objective) reaches."""

    device: str
    peak_tflops: float
    measured_mfu: Mapping[tuple[str, str], float]
    source: str  # one line: where the MFU comes from

    def seconds(self, run: RunPlan) -> float:
        mfu = self.measured_mfu.get((run.input, run.objective), ASSUMED_MFU)
        return run.flops / (self.peak_tflops * 1e12 * mfu)


def throughput(device: str, bench_file: Path = BENCH_FILE, compiled: bool = False) -> Throughput:
    """The device's peak, with the MFU of the last ``make bench`` on a GPU where there is one.

    ``bench_file`` is the bench's JSON or the GPU check's (``make gpu-check``,
    ``gpucheck.json``), which holds the bench's steps, eager and compiled, under ``bench``. A
    figure from another GPU is applied as an MFU to this device's peak. ``compiled``
    (``train.compile``) picks the steps through ``torch.compile`` (``--compile``).
    """
    if device not in PEAK_TFLOPS:
        raise invalid("python -m clar plan", "--device", device, ", ".join(PEAK_TFLOPS))
    peak = PEAK_TFLOPS[device]
    assumed = (
        f"no GPU figure in {bench_file}: assumed MFU {ASSUMED_MFU:.0%} of the {peak:g} TFLOP/s "
        "bf16 peak"
    )
    if not bench_file.exists():
        return Throughput(device, peak, {}, assumed)
    try:
        bench = json.loads(bench_file.read_text())
    except json.JSONDecodeError as err:
        raise ClarError(f"{bench_file}: not valid JSON ({err}); run the bench again") from None
    if "format" in bench:  # the GPU check's file; its bench part may not have run
        device = bench.get("device") or "?"
        bench = bench.get("bench") or {"steps": [], "device": device, "source": "make gpu-check"}
    origin = bench.get("source", "make bench")
    measured = {
        (row["input"], row["objective"]): row["mfu"]
        for row in bench["steps"]
        if row.get("mfu") and row.get("compiled", False) == compiled
    }
    how = "compiled" if compiled else "eager"
    if not measured:
        return Throughput(
            device,
            peak,
            {},
            f"{assumed} (the last {'bench' if origin == 'make bench' else origin}: "
            f"{bench['device']}, no {how} GPU steps)",
        )
    shown = ", ".join(f"{i} {o} {m:.0%}" for (i, o), m in sorted(measured.items()))
    source = (
        f"MFU of {how} steps from {origin} on {bench['device']} ({bench['date']}, "
        f"width {bench['width']:g}, batch {bench['batch']}, {bench['clip_seconds']:g} s clips): "
        f"{shown}; x {peak:g} TFLOP/s bf16 peak"
    )
    return Throughput(device, peak, measured, source)


def wall_hours(stage_hours: list[float], gpus: int) -> float:
    """Makespan of whole stages placed on ``gpus`` GPUs, longest first, each on the least
    loaded GPU (independent cells run one per GPU)."""
    loads = [0.0] * gpus
    for hours in sorted(stage_hours, reverse=True):
        heapq.heapreplace(loads, loads[0] + hours)
    return max(loads)


UNITS = (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6))


def duration(hours: float) -> str:
    """``hours`` in the unit that reads best: seconds, minutes or hours."""
    if hours >= 1:
        return f"{hours:,.1f} h"
    return f"{hours * 60:.1f} min" if hours >= 1 / 60 else f"{hours * 3600:.1f} s"


def stage_table(planned: list[RunPlan], speed: Throughput) -> pd.DataFrame:
    """One row per stage: runs, clip-views, FLOPs (raw numbers) and GPU-hours."""
    rows: dict[str, dict] = {}
    for run in planned:
        row = rows.setdefault(
            run.stage,
            {
                "runs": 0,
                "training views": 0,
                "probe clips": 0,
                "evaluation clips": 0,
                "forward FLOP": 0.0,
                "total FLOP": 0.0,
                "GPU-hours": 0.0,
            },
        )
        row["runs"] += 1
        row["training views"] += run.training_views + run.forward_views
        row["probe clips"] += run.probe_clips
        row["evaluation clips"] += run.evaluation_clips
        row["forward FLOP"] += run.forward_flops
        row["total FLOP"] += run.flops
        row["GPU-hours"] += speed.seconds(run) / 3600
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("stage")


def deadline_line(gpu_hours: float, wall: float, gpus: int, hours: float, speed: Throughput) -> str:
    """What finishing in ``hours`` on ``gpus`` GPUs asks of the throughput, both ways of placing
    the work: time scales as 1 / MFU, so the factor is the wall time over the deadline."""
    even = gpu_hours / gpus / hours
    mfu = (
        f"; at the assumed {ASSUMED_MFU:.0%}, an MFU of {ASSUMED_MFU * even:.0%}"
        if not speed.measured_mfu
        else ""
    )
    verdict = "fits" if even <= 1 else f"needs {even:.2f}x this throughput{mfu}"
    return (
        f"deadline {duration(hours)} on {gpus} GPU(s): split perfectly {verdict}; with one "
        f"stage per GPU {wall / hours:.2f}x the deadline"
    )


def render(table: pd.DataFrame, speed: Throughput, gpus: int, hours: float | None = None) -> str:
    """The stage table and its totals as aligned text; with ``hours``, what that deadline asks."""
    total = table.sum()
    name, scale = next(((n, s) for n, s in UNITS if total["total FLOP"] >= s), UNITS[-1])
    shown = table.copy()
    for column in ("forward FLOP", "total FLOP"):
        shown[column] = [f"{v / scale:,.3f}" for v in table[column]]
    for column in ("runs", "training views", "probe clips", "evaluation clips"):
        shown[column] = [f"{v:,}" for v in table[column]]
    shown["GPU-hours"] = [duration(v) for v in table["GPU-hours"]]
    shown = shown.rename(columns={c: c.replace("FLOP", name) for c in shown.columns})
    shown = shown.rename(columns={"GPU-hours": f"{speed.device.upper()} time"})
    device = speed.device.upper()
    wall = wall_hours(list(table["GPU-hours"]), gpus)
    views = total["training views"] + total["probe clips"] + total["evaluation clips"]
    return "\n".join(
        [
            shown.to_string(),
            "",
            f"total: {len(table)} stages, {int(total['runs']):,} runs, {int(views):,} clip-views "
            f"({int(total['training views']):,} training), {total['forward FLOP'] / scale:,.3f} "
            f"{name} forward, {total['total FLOP'] / scale:,.3f} {name} with training",
            f"total: {total['GPU-hours']:,.2f} {device}-hours; wall time on {gpus} GPU(s): "
            f"{duration(wall)} with one stage per GPU, {duration(total['GPU-hours'] / gpus)} "
            f"split perfectly",
            *([deadline_line(total["GPU-hours"], wall, gpus, hours, speed)] if hours else []),
            f"throughput: {speed.source}",
            "counted: the encoder's forward FLOPs per clip, measured (FlopCounterMode, meta "
            f"device); training a view costs {BACKWARD_FACTOR}x its forward; a teacher's view, a "
            "probe or evaluation clip 1x",
            "left out: the features' STFT, batch norm, the heads, fitting the evaluation head; "
            "the prepare, features and report stages",
        ]
    )


def plan(
    params: Params,
    device: str = "h100",
    gpus: int = 1,
    bench_file: Path = BENCH_FILE,
    hours: float | None = None,
) -> str:
    """The cost of the pipeline ``params`` describes, as printable text; ``hours``: a deadline
    to hold the wall time against."""
    if gpus < 1:
        raise invalid("python -m clar plan", "--gpus", gpus, "a whole number >= 1")
    if hours is not None and not hours > 0:
        raise invalid("python -m clar plan", "--hours", hours, "a number of hours > 0")
    grid.load_methods(params)
    speed = throughput(device, bench_file, params.train.compile)
    planned = plan_runs(params)
    if not planned:
        raise ClarError(f"{params.source}: no training stage to plan (loss selects no objective)")
    return render(stage_table(planned, speed), speed, gpus, hours)
