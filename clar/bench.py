"""``make bench``: throughput of the hot paths, as ratios against a baseline in the same run.

- pitch shift: the bucketed batch (:func:`clar.augment.pitch_shift`) against
  ``torchaudio.functional.pitch_shift`` one clip at a time, per clip;
- features: :class:`clar.features.TimeFrequency` on the device, clips per second;
- training: one optimisation step of each input type and objective, clips per second, with the
  raw-waveform supervised step as the baseline.

``python -m clar.bench [--device cuda] [--width 1.0] [--batch 64]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torchaudio.functional as AF

from clar.augment.functional import pitch_shift
from clar.augment.transforms import augment
from clar.config import AugmentParams
from clar.features import TimeFrequency
from clar.models import Model
from clar.train import batch_loss, pick_device
from clar.vocabulary import BEST_PAIR, INPUTS, OBJECTIVES

RATE = 16000


def seconds_per_call(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn`` after one warm-up call (kernels compiled, caches filled)."""
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clar.bench")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    generator = torch.Generator(device=device).manual_seed(0)
    clips = 0.1 * torch.randn(args.batch, RATE, device=device, generator=generator)
    print(f"device {device}, batch {args.batch} one-second clips, width {args.width}")

    baseline = seconds_per_call(lambda: AF.pitch_shift(clips[:1], RATE, 3.7), device, 1)
    ours = seconds_per_call(lambda: pitch_shift(clips, generator), device, args.repeats)
    per_clip = ours / args.batch
    print(
        f"pitch shift: {per_clip * 1e3:.2f} ms/clip bucketed vs {baseline * 1e3:.0f} ms/clip "
        f"torchaudio (arbitrary step): {baseline / per_clip:.0f}x"
    )

    features = TimeFrequency().to(device)
    t = seconds_per_call(lambda: features(clips), device, args.repeats)
    print(f"features: {args.batch / t:.0f} clips/s")

    labels = torch.randint(0, 10, (args.batch,), device=device, generator=generator)
    params = AugmentParams()
    rows = []
    for input_ in INPUTS:
        for objective in OBJECTIVES:
            torch.manual_seed(0)
            model = Model(input_, objective, 10, args.width, TimeFrequency()).to(device)
            optimizer = torch.optim.Adam(model.parameters())

            def views(x: torch.Tensor) -> torch.Tensor:
                return augment(x, BEST_PAIR, generator, params)

            def step(model=model, optimizer=optimizer, objective=objective) -> None:
                with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                    loss = batch_loss(model, objective, clips, labels, views, 0.5)["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

            rows.append(
                (input_, objective, args.batch / seconds_per_call(step, device, args.repeats))
            )
    base = rows[0][2]
    for input_, objective, rate in rows:
        print(f"train {input_:11s} {objective:11s} {rate:8.1f} clips/s  {rate / base:5.2f}x")


if __name__ == "__main__":
    main()
