"""``python -m clar plan [overrides]``: what a composition of conf/ costs, before anything runs.

Per training stage of dvc.yaml (``train@``/``pretrain@`` cells, ``augmentation-study@``) and in
total: the runs, the clip-views the encoder processes (augmented training views x epochs, the
held-out probes of the E4 curve, the evaluation embeddings), their FLOPs and the GPU-hours they
take on a chosen device.

- FLOPs per clip are measured, not derived: :func:`encoder_flops` runs the encoder once on the
  meta device under ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix
  products, a multiply-add counted as two), at the profile's width, clip length and features.
  Training a view costs 3x its forward pass (the backward pass computes the gradients of the
  activations and of the weights, each about one forward); probes and evaluation are forward
  only, as are the passes that recompute the batch-norm statistics. The features' STFT, batch
  norm, the heads (a few MFLOP) and the evaluation head fitted on the embeddings are left out.
- The clip-views follow the training loop (:mod:`clar.train`): ``ceil(train clips / batch)``
  steps per epoch, each of ``min(batch, pool)`` clips, the pool being the labelled clips of a
  supervised run; one view per clip for the supervised objective, two for the others.
- Split sizes come from the parameters (generated sets), the published sizes of the official
  splits (:data:`OFFICIAL_SPLITS`) or, for other data, the prepared store's ``info.json``.
- Time: FLOPs / (peak x MFU). The MFU is the last ``make bench`` figure for that input and
  objective (:data:`BENCH_FILE`, written by :mod:`clar.bench` on a GPU, or ``--mfu-from`` a GPU
  check's ``gpucheck.json``) when there is one, else :data:`ASSUMED_MFU`; the output says
  which. Wall time on N GPUs places whole stages on GPUs, longest first (the grid's cells are
  independent), and gives the perfect split beside it.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import product
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from clar import layout
from clar.config import DatasetParams, FeatureParams, Params, TrainParams
from clar.data.esc50 import held_out
from clar.data.registry import resolve_options
from clar.errors import ClarError, invalid
from clar.features import TimeFrequency
from clar.models import build_encoder
from clar.vocabulary import (
    CONTRASTIVE,
    CONVERGENCE_COMPARED,
    FULL_FRACTION,
    LABEL_FREE,
    SPECTROGRAM,
    SUPERVISED,
)

# Dense bf16 tensor-core peaks, TFLOP/s (NVIDIA's datasheets give twice these "with sparsity"):
# H100 SXM5 and H200 SXM 989.4 (H100 / H200 datasheets), H100 PCIe 756.5 (H100 datasheet),
# A100 312 (A100 datasheet), L40S 362.05 (L40S datasheet).
PEAK_TFLOPS = {"h100": 989.4, "h100-pcie": 756.5, "h200": 989.4, "a100": 312.0, "l40s": 362.05}
# Without a bench figure: a ResNet-18 trained in bf16 with channels-last convolutions reaches
# roughly this share of the tensor-core peak on these devices.
ASSUMED_MFU = 0.30
# Written by `make bench` (clar.bench), read here; a local measurement, not tracked by git.
BENCH_FILE = Path(".cache/clar/bench.json")
BACKWARD_FACTOR = 3  # training a view: its forward pass + a backward pass of about twice that

# Published sizes of the official splits as clar's loaders cut them: (train, valid, test,
# classes). Speech Commands by release and words, from its validation/testing lists (v0.01 as
# the KWS literature and the WaveGAN sc09 release count it; v0.02 all 35 words: Warden 2018),
# NSynth's train/valid/test (magenta.tensorflow.org), ESC-50 / ESC-10 400 / 80 clips per fold
# (three folds train, one validates, one tests: clar.data.esc50.held_out).
OFFICIAL_SPLITS = {
    ("speechcommands", "v0.01", "all"): (51088, 6798, 6835, 30),
    ("speechcommands", "v0.01", "digits"): (18620, 2494, 2552, 10),
    ("speechcommands", "v0.02", "all"): (84843, 9981, 11005, 35),
    ("speechcommands", "v0.02", "digits"): (31158, 3643, 4107, 10),
    ("nsynth", None): (289205, 12678, 4096, 11),
}
ESC_CLIPS_PER_FOLD = {True: 80, False: 400}  # ESC-10, ESC-50
ESC_CLASSES = {True: 10, False: 50}


def device_kind(name: str) -> str | None:
    """The :data:`PEAK_TFLOPS` key of a CUDA device name (``torch.cuda.get_device_name``),
    e.g. "NVIDIA H100 80GB HBM3" -> "h100"; None for a device not in the table."""
    name = name.lower().replace(" ", "")
    matches = [kind for kind in PEAK_TFLOPS if kind.replace("-", "") in name]
    return max(matches, key=len) if matches else None


def views_per_clip(objective: str) -> int:
    """Augmented views of each clip a training step puts through the encoder
    (:func:`clar.train.batch_loss`): one for the supervised objective, two for the others."""
    return 1 if objective == SUPERVISED else 2


@dataclass(frozen=True)
class Splits:
    """Clips per split of a data set, and its number of classes."""

    train: int
    valid: int
    test: int
    classes: int

    def labelled(self, fraction: float) -> int:
        """Labelled training clips at ``fraction`` percent, as :mod:`clar.data.store` rounds
        them (up, at least one per class), taking the classes as equally large."""
        per_class = self.train / self.classes
        return self.classes * max(1, math.ceil(per_class * fraction / 100 - 1e-9))


@dataclass(frozen=True)
class RunPlan:
    """One training run: what it processes and what one clip-view of it costs."""

    stage: str
    input: str
    objective: str
    training_views: int
    probe_clips: int
    evaluation_clips: int
    flops_per_view: int  # the encoder's forward pass on one clip

    @property
    def clip_views(self) -> int:
        return self.training_views + self.probe_clips + self.evaluation_clips

    @property
    def forward_flops(self) -> float:
        return float(self.flops_per_view) * self.clip_views

    @property
    def flops(self) -> float:
        """Training (forward + backward) of every training view, forward of the others."""
        others = self.probe_clips + self.evaluation_clips
        return float(self.flops_per_view) * (BACKWARD_FACTOR * self.training_views + others)


@cache
def encoder_flops(
    input: str, width: float, samples: int, sample_rate: int, features: FeatureParams
) -> int:
    """Forward FLOPs of the encoder on one clip of ``samples`` samples (``features`` shape the
    spectrogram encoder's input), counted on the meta device: no memory, no arithmetic."""
    shape: tuple[int, ...] = (1, samples)
    if input == SPECTROGRAM:
        frames = TimeFrequency.from_params(sample_rate, features).frames(samples)
        shape = (1, len(features.channels), features.n_bins, frames)
    with torch.device("meta"):
        encoder, clip = build_encoder(input, width), torch.empty(shape)
    # Eval mode: batch norm of one clip whose last feature map is 1 x 1 has no batch statistics.
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        encoder.eval()(clip)
    return counter.get_total_flops()


def split_sizes(dataset: DatasetParams, valid_fraction: float) -> Splits:
    """The clips per split a data set will have once prepared."""
    options = dataset.options
    if dataset.kind == "embedded":
        from clar.data.embedded import classes

        counts = dict(options.get("clips_per_class", {}))
        n = len(classes(str(options.get("generator"))))
        train, valid = counts.get("train", 0), counts.get("valid")
        if valid is None:  # carved from train at prepare time, per class
            valid = max(1, round(train * valid_fraction)) if train >= 2 else 0
            train -= valid
        return Splits(n * train, n * valid, n * counts.get("test", 0), n)
    # The loader's own defaults for what the parameters leave out (version, words, folds).
    resolved = resolve_options(dataset.name, dataset.kind, options)
    if dataset.kind == "speechcommands":
        release = resolved["version"], resolved["words"]
        return Splits(*OFFICIAL_SPLITS["speechcommands", *release])
    if dataset.kind == "nsynth":
        cap = resolved["max_per_split"]
        train, valid, test, n = OFFICIAL_SPLITS["nsynth", None]
        if cap is None:
            return Splits(train, valid, test, n)
        return Splits(min(train, cap), min(valid, cap), min(test, cap), n)
    if dataset.kind == "esc50":
        esc10 = bool(resolved["esc10"])
        folds = resolved["folds"] or held_out(resolved["test_fold"])
        per_fold = ESC_CLIPS_PER_FOLD[esc10]
        size = {split: per_fold * len(folds.get(split, ())) for split in ("train", "valid", "test")}
        return Splits(size["train"], size["valid"], size["test"], ESC_CLASSES[esc10])
    info = layout.prepared(dataset.name) / layout.INFO_FILE
    if not info.exists():
        raise ClarError(
            f"data set '{dataset.name}' ({dataset.kind}): its split sizes are known once it is "
            f"prepared; run `dvc repro prepare@{dataset.name}` first"
        )
    prepared = json.loads(info.read_text())
    clips = prepared["clips"]
    return Splits(clips["train"], clips["valid"], clips["test"], len(prepared["classes"]))


def heldout_probes(epochs: int, every: int) -> int:
    """How many times training probes held-out accuracy: every ``every`` epochs and at the end."""
    return epochs // every + (epochs % every != 0 and epochs > 0)


def run_views(
    splits: Splits,
    train: TrainParams,
    objective: str,
    fraction: float,
    monitor: bool,
) -> tuple[int, int, int]:
    """(training views, held-out probe clips, evaluation clips) of one run.

    ``train`` holds the data set's own epochs and batch size; ``fraction`` is the run's label
    fraction (100 for label-free runs) and ``monitor`` whether it logs the held-out probe.
    """
    pool = splits.labelled(fraction) if objective == SUPERVISED else splits.train
    steps = max(1, math.ceil(splits.train / train.batch_size))
    training = train.epochs * steps * min(train.batch_size, pool) * views_per_clip(objective)
    probes = heldout_probes(train.epochs, train.eval_every) if monitor else 0
    # Each probe, and the saved model, first recompute the batch-norm statistics over the pool
    # (clar.batchnorm: one forward pass). Evaluation embeds the three splits once; every
    # fraction's head, and the model's own classifier, start from those embeddings.
    scored = pool + splits.train + splits.valid + splits.test
    return training, probes * (pool + splits.train + splits.valid), scored


def run_plan(
    params: Params,
    stage: str,
    dataset: str,
    input: str,
    objective: str,
    fraction: float,
    monitor: bool,
) -> RunPlan:
    """One run of ``stage`` (the arguments of :func:`run_views`, by data set name)."""
    spec = params.dataset(dataset)
    train = params.train.for_run(dataset, objective)
    rate = params.prepare.sample_rate
    flops = encoder_flops(
        input, train.width, round(spec.clip_seconds * rate), rate, params.features
    )
    splits = split_sizes(spec, params.prepare.valid_fraction)
    views = run_views(splits, train, objective, fraction, monitor)
    return RunPlan(stage, input, objective, *views, flops)


def plan_runs(params: Params) -> list[RunPlan]:
    """Every training run of the pipeline, stage by stage, in dvc.yaml's order (the runs are
    those of :func:`clar.experiments.grid_cell` and :func:`clar.experiments.augmentation_study`).
    """
    grid, loss, study = params.grid, params.loss, params.augmentation_study
    runs: list[RunPlan] = []
    groups = ((layout.TRAIN, loss.fraction_trained), (layout.PRETRAIN, loss.label_free))
    for group, objectives in groups:
        for dataset, input, objective in product(params.data.names, grid.inputs, objectives):
            stage = f"{group}@{dataset}-{input}-{objective}"
            # Label-free runs train once per seed (and are scored at every fraction); the
            # others once per fraction.
            fractions = (FULL_FRACTION,) if objective in LABEL_FREE else grid.fractions_for(input)
            monitor = objective in CONVERGENCE_COMPARED
            runs += [
                run_plan(params, stage, dataset, input, objective, fraction, monitor)
                for _seed in grid.seeds
                for fraction in fractions
            ]
    for dataset, objective in product(study.datasets, loss.label_free):
        stage = f"{layout.AUGMENTATION_STUDY}@{dataset}-{objective}"
        runs += [
            run_plan(params, stage, dataset, study.input, CONTRASTIVE, FULL_FRACTION, False)
            for _combo in study.combos
        ]
    return runs


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


def stage_table(runs: list[RunPlan], speed: Throughput) -> pd.DataFrame:
    """One row per stage: runs, clip-views, FLOPs (raw numbers) and GPU-hours."""
    rows: dict[str, dict] = {}
    for run in runs:
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
        row["training views"] += run.training_views
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
            f"device); training a view costs {BACKWARD_FACTOR}x its forward, a probe or "
            "evaluation clip 1x",
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
    speed = throughput(device, bench_file, params.train.compile)
    runs = plan_runs(params)
    if not runs:
        raise ClarError(f"{params.source}: no training stage to plan (loss selects no objective)")
    return render(stage_table(runs, speed), speed, gpus, hours)
