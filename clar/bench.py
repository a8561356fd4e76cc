"""``make bench``: where a training step's time goes, and the hot paths against baselines measured
in the same run.

- training step, per registered encoder and objective (:mod:`clar.encoders`,
  :mod:`clar.objectives`, in registration order): the time split into data movement (the batch
  gathered from the split's int16 waveforms on the device and converted to float, as training
  holds a split), augmentation (the grid's views: fade + time masking), features (an encoder on
  the spectrogram) and the model (forward, backward, optimiser step); clips per second against
  the first step of the table; achieved TFLOP/s (the encoder's measured FLOPs,
  :func:`clar.costs.encoder_flops`, 3x for forward + backward) and MFU against the device's bf16
  peak (:data:`clar.plan.PEAK_TFLOPS`; on a CPU an MFU has no meaning and none is given);
- the official code's path: librosa's time stretch and pitch shift one clip at a time on CPU
  worker processes, against the batched versions here on the device (``pip install -e
  '.[bench]'`` installs librosa);
- pitch shift: the bucketed batch (:func:`clar.augment.pitch_shift`) against
  ``torchaudio.functional.pitch_shift`` one clip at a time; features: clips per second.

Sections are timed with CUDA events on a GPU (read after the loop, which never waits for the
device), with the wall clock on a CPU; the step time is the whole loop's, synchronised once.
The figures go to :data:`clar.plan.BENCH_FILE`, where ``python -m clar plan`` reads the MFU.

``python -m clar.bench [--device cuda] [--width 1.0] [--batch 128] [--steps 20] [--workers 16]
[--compile]``; ``--compile`` also times every step through ``torch.compile``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchaudio.functional as AF

from clar.atomic import write_json
from clar.augment.functional import pitch_shift
from clar.augment.transforms import augment
from clar.cli import Parser, run
from clar.config import AugmentParams, FeatureParams
from clar.costs import BACKWARD_FACTOR, encoder_flops
from clar.data.store import SCALE
from clar.encoders import ENCODERS, build_encoder
from clar.encoders.base import SPECTROGRAM
from clar.features import TimeFrequency
from clar.grid import accepts
from clar.models import Model
from clar.objectives import OBJECTIVES, Objective
from clar.optim import build_optimizer
from clar.plan import BENCH_FILE, PEAK_TFLOPS, device_kind
from clar.train import pick_device, training_network
from clar.vocabulary import BEST_PAIR, FEATURE_CHANNELS

RATE = 16000
FEATURES = FeatureParams(
    window_ms=128, hop_ms=8, n_bins=128, f_min=40, f_max=8000, channels=FEATURE_CHANNELS, max_gb=0
)
PARTS = ("data", "augment", "features", "model")
# The official code's per-clip path draws these two; both on every clip here, for throughput.
OFFICIAL_AUGMENTATIONS = ("time_stretch", "pitch_shift")
# Sizes that keep the whole bench near a minute on a 2-core CPU, and a GPU busy.
DEFAULTS = {
    "cpu": {"width": 0.125, "batch": 8, "steps": 3},
    "cuda": {"width": 1.0, "batch": 128, "steps": 20},
}


def seconds_per_call(
    fn: Callable[[], object], device: torch.device, repeats: int, warmup: bool = True
) -> float:
    """Median wall time of ``fn``, after one warm-up call (kernels compiled, caches filled)
    unless ``warmup`` is off."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return sorted(times)[len(times) // 2]


class Laps:
    """Time between marks, summed per name, without waiting for the device in between: CUDA
    events recorded in the stream on a GPU, the wall clock on a CPU (where an op has finished
    when it returns). Each lap runs from the previous mark, so the laps tile the loop."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[tuple[str, object]] = []
        self.lap("start")

    def lap(self, name: str) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((name, event))
        else:
            self.marks.append((name, time.perf_counter()))

    def totals(self) -> dict[str, float]:
        """Seconds per name (synchronises the device once)."""
        if self.cuda:
            torch.cuda.synchronize()
        totals: dict[str, float] = {}
        for (_, before), (name, after) in zip(self.marks, self.marks[1:], strict=False):
            spent = before.elapsed_time(after) / 1e3 if self.cuda else after - before
            totals[name] = totals.get(name, 0.0) + spent
        return totals


def bench_model(
    input: str, objective: Objective, classes: int, width: float, rate: int, features: FeatureParams
) -> tuple[Model, TimeFrequency | None]:
    """The network of the encoder registered as ``input`` with ``objective``'s head, without
    the feature module, and that module (None for an encoder on the waveform): the bench times
    the features on their own and the model takes them ready-made."""
    spectrogram = ENCODERS.get(input).front_end == SPECTROGRAM
    front = TimeFrequency.from_params(rate, features) if spectrogram else None
    encoder = build_encoder(input, width, len(features.channels) if spectrogram else 1)
    return Model(encoder, objective.build(encoder, classes), None), front


def training_step(
    input: str,
    objective: str,
    width: float,
    batch: int,
    samples: int,
    steps: int,
    device: torch.device,
    compiled: bool = False,
    backend: str = "inductor",
) -> dict:
    """Time ``steps`` training steps of one input and objective, section by section; the model
    through ``torch.compile`` when ``compiled`` (as ``train.compile`` trains it; ``backend``:
    :func:`clar.train.training_network`).

    Returns the step's wall time, its parts (seconds per step, :data:`PARTS`), clips per second
    and the achieved TFLOP/s.
    """
    generator = torch.Generator(device=device).manual_seed(0)
    torch.manual_seed(0)
    method = OBJECTIVES.get(objective)(temperature=0.5)
    model, features = bench_model(input, method, 10, width, RATE, FEATURES)
    model = model.to(device)
    features = features.to(device) if features is not None else None
    optimizer = build_optimizer(model, 1e-3, 1e-6, lars=True)
    network = training_network(model, device, compiled, backend)
    split = torch.randint(-8000, 8000, (4 * batch, samples), generator=generator, device=device)
    split = split.to(torch.int16)
    labels = torch.randint(0, 10, (len(split),), generator=generator, device=device)
    # Warm-up steps: cuDNN / oneDNN pick and build their kernels on a shape's first call, and
    # torch.compile compiles the network.
    warmup = 3 if device.type == "cuda" else 1
    order = torch.randint(
        0, len(split), (warmup + steps, batch), generator=generator, device=device
    )
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda")
    params = AugmentParams()

    def step(index: torch.Tensor, laps: Laps) -> None:
        clips = split[index].float().div_(SCALE)
        laps.lap("data")
        views = augment(clips, BEST_PAIR, generator, params, method.views)
        laps.lap("augment")
        if features is not None:
            views = features(views)
        laps.lap("features")
        parts = list(views.chunk(method.views))  # handed out as asked for, n views at a time
        handed = lambda _, n, *__: torch.cat([parts.pop(0) for _ in range(n)])  # noqa: E731

        with autocast:
            loss = method.loss(network, clips, labels[index], handed)
        optimizer.zero_grad(set_to_none=True)
        loss["loss"].backward()
        optimizer.step()
        laps.lap("model")

    for index in order[:warmup]:
        step(index, Laps(device))
    if device.type == "cuda":
        torch.cuda.synchronize()
    laps = Laps(device)
    for index in order[warmup:]:
        step(index, laps)
    spent = laps.totals()
    # The step time is the laps' span, first mark to last: the parts tile it exactly, and a
    # moment the process is descheduled after the last step counts in neither.
    seconds = sum(spent.values()) / steps
    parts = {name: spent.get(name, 0.0) / steps for name in PARTS}
    flops = BACKWARD_FACTOR * encoder_flops(input, width, samples, RATE, FEATURES)
    flops *= batch * method.views
    return {
        "input": input,
        "objective": objective,
        "compiled": compiled,
        "step_seconds": seconds,
        "parts": parts,
        "clips_per_second": batch / seconds,
        "tflops": flops / seconds / 1e12,
    }


def librosa_clip(job: tuple[np.ndarray, float, int]) -> np.ndarray:
    """The official code's path for one clip: librosa time stretch, back to the clip's length,
    then pitch shift."""
    import librosa

    clip, rate, semitones = job
    stretched = librosa.util.fix_length(
        librosa.effects.time_stretch(clip, rate=rate), size=len(clip)
    )
    return librosa.effects.pitch_shift(stretched, sr=RATE, n_steps=semitones)


def official_path(clips: torch.Tensor, workers: int, device: torch.device) -> dict | None:
    """Clips per second of librosa per clip on ``workers`` CPU processes and of the batched
    augmentations here on ``device``; None without librosa."""
    try:
        import librosa  # noqa: F401
    except ImportError:
        return None
    generator = torch.Generator(device=device).manual_seed(1)
    everyone = AugmentParams(probability=1.0)
    ours = seconds_per_call(
        lambda: augment(clips, OFFICIAL_AUGMENTATIONS, generator, everyone), device, 3
    )
    rng = np.random.default_rng(0)
    host = clips.cpu().numpy()
    # Enough clips to keep every worker busy for several rounds, the batch's clips cycled.
    jobs = [
        (host[i % len(host)], float(rng.uniform(0.5, 1.5)), int(rng.integers(-15, 16)))
        for i in range(max(len(host), 8 * workers))
    ]
    # spawn: a fresh interpreter per worker, like DataLoader workers, unaffected by this
    # process's threads; the start-up is left out of the timing.
    with get_context("spawn").Pool(workers) as pool:
        pool.map(librosa_clip, jobs[:workers])
        began = time.perf_counter()
        pool.map(librosa_clip, jobs, chunksize=max(1, len(jobs) // (4 * workers)))
        theirs = time.perf_counter() - began
    return {
        "workers": workers,
        "clips": len(jobs),
        "librosa_clips_per_second": len(jobs) / theirs,
        "clips_per_second": len(clips) / ours,
        "ratio": theirs / len(jobs) * len(clips) / ours,
    }


def step_table(rows: list[dict]) -> pd.DataFrame:
    """The training steps as a table: milliseconds per step, each part's share, throughput."""
    first = rows[0]
    base, versus = first["clips_per_second"], f"vs {first['input']} {first['objective']}"
    eager = {(r["input"], r["objective"]): r["clips_per_second"] for r in rows if not r["compiled"]}
    return pd.DataFrame(
        {
            "input": row["input"],
            "objective": row["objective"],
            "compiled": "yes" if row["compiled"] else "no",
            "step ms": f"{row['step_seconds'] * 1e3:.1f}",
            **{part: f"{row['parts'][part] / row['step_seconds']:.0%}" for part in PARTS},
            "other": f"{1 - sum(row['parts'].values()) / row['step_seconds']:.0%}",
            "clips/s": f"{row['clips_per_second']:.1f}",
            versus: f"{row['clips_per_second'] / base:.2f}x",
            "vs eager": (
                f"{row['clips_per_second'] / eager[row['input'], row['objective']]:.2f}x"
                if row["compiled"]
                else "-"
            ),
            "TFLOP/s": f"{row['tflops']:.3g}",
            "MFU": f"{row['mfu']:.1%}" if row["mfu"] is not None else "-",
        }
        for row in rows
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(prog="python -m clar.bench")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--width", type=float, help="ResNet width (cpu 0.125, cuda 1.0)")
    parser.add_argument("--batch", type=int, help="clips per step (cpu 8, cuda 128)")
    parser.add_argument("--steps", type=int, help="timed steps (cpu 3, cuda 20)")
    parser.add_argument("--seconds", type=float, default=1.0, help="clip length")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BENCH_FILE)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="time every step also through torch.compile (train.compile), beside the eager one",
    )
    return parser.parse_args(argv)


def augmentation_and_features(
    clips: torch.Tensor, generator: torch.Generator, repeats: int
) -> tuple[float, float]:
    """Pitch shift's speed-up over torchaudio per clip, and the features' clips per second."""
    device, batch = clips.device, len(clips)
    # No warm-up: torchaudio builds its resampling kernel anew on every call.
    baseline = seconds_per_call(
        lambda: AF.pitch_shift(clips[:1], RATE, 3.7), device, 1, warmup=False
    )
    ours = seconds_per_call(lambda: pitch_shift(clips, generator), device, repeats) / batch
    print(
        f"pitch shift: {ours * 1e3:.2f} ms/clip bucketed vs {baseline * 1e3:.0f} ms/clip "
        f"torchaudio (arbitrary step): {baseline / ours:.0f}x"
    )
    features = TimeFrequency.from_params(RATE, FEATURES).to(device)
    rate = batch / seconds_per_call(lambda: features(clips), device, repeats)
    print(f"features: {rate:.0f} clips/s")
    return baseline / ours, rate


def print_official(official: dict | None, device: torch.device) -> None:
    if official is None:
        print(
            "official path (librosa per clip on CPU workers): not measured, librosa is not "
            "installed; pip install -e '.[bench]' adds it"
        )
    else:
        print(
            "official path: librosa time stretch + pitch shift per clip on "
            f"{official['workers']} CPU workers {official['librosa_clips_per_second']:.1f} "
            f"clips/s; batched here on {device.type} {official['clips_per_second']:.1f} "
            f"clips/s: {official['ratio']:.1f}x"
        )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = pick_device(args.device)
    # As clar.train sets them: the bench times the kernels training gets.
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    sizes = DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    width, batch, steps = (getattr(args, k) or sizes[k] for k in ("width", "batch", "steps"))
    samples = round(args.seconds * RATE)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    kind = device_kind(name) if device.type == "cuda" else None
    peak = PEAK_TFLOPS.get(kind) if kind else None
    generator = torch.Generator(device=device).manual_seed(0)
    clips = 0.1 * torch.randn(batch, samples, device=device, generator=generator)
    mfu_note = (
        f"MFU against {peak:g} TFLOP/s bf16 ({kind})"
        if peak
        else "no MFU: no bf16 tensor-core peak known for this device"
    )
    print(
        f"device {name}, width {width:g}, batch {batch} clips of {args.seconds:g} s, "
        f"{steps} timed steps; {mfu_note}"
    )
    speedup, rate = augmentation_and_features(clips, generator, args.repeats)
    # Every registered encoder with every objective that accepts it, the paper's own first.
    rows = [
        training_step(input, objective, width, batch, samples, steps, device, compiled)
        for input in ENCODERS.names()
        for objective in OBJECTIVES.names()
        if accepts(objective, input)
        for compiled in ((False, True) if args.compile else (False,))
    ]
    for row in rows:
        row["mfu"] = row["tflops"] / peak if peak else None
    print("training step (parts as shares of the step; other: what no part timed):")
    print(step_table(rows).to_string(index=False))
    official = official_path(clips, args.workers, device)
    print_official(official, device)
    result = {
        "date": datetime.date.today().isoformat(),
        "device": name,
        "kind": kind,
        "peak_tflops": peak,
        "width": width,
        "batch": batch,
        "clip_seconds": args.seconds,
        "pitch_shift_speedup": speedup,
        "features_clips_per_second": rate,
        "steps": rows,
        "official": official,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"wrote {args.out} (python -m clar plan reads its MFU)")
    return result


if __name__ == "__main__":
    run(main)
