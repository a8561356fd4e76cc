"""One paper-profile grid cell on generated clips, against the planner; the features stage and
one evaluation on the device.

The cell's parameters are the paper profile's (``profile=paper data=paper``) for its data set:
width, batch size, optimiser, augmentations, features; only the epochs and the number of clips
are the check's, so that it ends in a minute. It trains twice, for ``epochs[0]`` and
``epochs[1]`` epochs of ``steps_per_epoch`` steps each, and the difference of the two wall
times is the time of the extra steps: what start-up, the first steps' kernel selection and
saving cost alike in both cancels. The planner's time for the same steps is
:meth:`clar.costs.RunPlan.flops` over the TFLOP/s it would assume: the bench's measured MFU
of the same input and objective (the part run before) and its fixed :data:`clar.plan.ASSUMED_MFU`
x the device's peak. measured / predicted is the figure the planner's GPU-hours rest on.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from clar import grid
from clar.atomic import building
from clar.compose import compose
from clar.config import EvaluateParams, Params, TrainParams, parse_params
from clar.costs import RunPlan, encoder_flops, step_views
from clar.data.feature_store import write_features
from clar.data.generated import write_generated
from clar.data.store import Store
from clar.features import TimeFrequency, gigabytes
from clar.frame_embeddings import takes_frames
from clar.objectives import OBJECTIVES
from clar.plan import ASSUMED_MFU, PEAK_TFLOPS, device_kind
from clar.probe import embed_splits, evaluate
from clar.runs import grid_run

CLASSES = 10
ROOT = Path(__file__).resolve().parents[2]


def paper_params() -> Params:
    """The paper profile on the paper's data sets, as ``python -m clar plan profile=paper
    data=paper`` composes it."""
    conf = ROOT / "conf"
    return parse_params(compose(conf, ["profile=paper", "data=paper"]), conf)


def generated_store(root: Path, train: int, test: int, samples: int, rate: int) -> Store:
    """A prepared store under ``root`` of ``CLASSES`` classes of noisy tones: ``train``
    training clips, ``test`` validation and ``test`` test clips (made once per size, shared by
    the parts; a killed maker leaves nothing)."""
    folder = root / f"tones-{train}-{test}-{samples}-{rate}"
    if (folder / "info.json").exists():
        return Store.open(folder)
    rng = np.random.default_rng(0)
    t = np.arange(samples) / rate

    def fill(split: str, labels: np.ndarray, array: np.ndarray) -> None:
        for start in range(0, len(labels), 256):
            part = labels[start : start + 256]
            pitch = 200 * 1.3 ** part[:, None] * rng.uniform(0.95, 1.05, (len(part), 1))
            clips = 0.4 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.normal(
                size=(len(part), samples)
            )
            array[start : start + len(part)] = (clips * 32767).astype(np.int16)

    sizes = {"train": train, "valid": test, "test": test}
    with building(folder) as work:
        write_generated(
            work,
            {split: np.arange(n) % CLASSES for split, n in sizes.items()},
            fill,
            name="tones",
            kind="generated",
            sample_rate=rate,
            samples=samples,
            label_names=[f"tone{c}" for c in range(CLASSES)],
        )
    return Store.open(folder)


def cell_setup(sizes: dict) -> tuple[Params, str, str, str, object, int]:
    """The paper parameters, the cell (data set, input, objective), the cell's training
    parameters at the check's sizes, and its clip length in samples."""
    params = paper_params()
    grid.load_methods(params)
    dataset, input, objective = sizes["cell"].split("/")
    train = params.train.for_run(dataset, objective)  # as the stage trains it
    changes = {"device": sizes["device"], "warmup_epochs": 0}
    changes |= {k: sizes[k] for k in ("width", "batch_size") if sizes.get(k)}
    train = train.model_copy(update=changes)
    seconds = sizes.get("cell_seconds") or params.dataset(dataset).clip_seconds
    samples = round(seconds * params.prepare.sample_rate)
    return params, dataset, input, objective, train, samples


def _bench_row(bench: str | None, input: str, objective: str, compiled: bool) -> dict | None:
    """The bench's row of the same step, from the bench part's JSON (absent: not measured)."""
    if bench is None or not Path(bench).exists():
        return None
    rows = json.loads(Path(bench).read_text()).get("steps", [])
    same = [
        r
        for r in rows
        if (r["input"], r["objective"], r["compiled"]) == (input, objective, compiled)
    ]
    return same[0] if same else None


def train_cell(record, device: torch.device, sizes: dict) -> None:
    from clar.train import train

    params, dataset, input, objective, train_params, samples = cell_setup(sizes)
    rate = params.prepare.sample_rate
    batch, per_epoch = train_params.batch_size, sizes["steps_per_epoch"]
    store = generated_store(Path("store"), batch * per_epoch, sizes["test_clips"], samples, rate)
    fraction = None if OBJECTIVES.get(objective).label_free() else 100.0
    run = grid_run(dataset, input, objective, fraction, 0, params.grid.augmentations)
    record.set(
        cell=sizes["cell"],
        width=train_params.width,
        batch=batch,
        clip_samples=samples,
        compiled=train_params.compile,
        steps_per_epoch=per_epoch,
        runs=[],
    )
    # A first run warms the process up (lazy initialisation, kernel choices, allocator pools),
    # which would otherwise fall on the shorter measured run alone.
    for k, epochs in enumerate([sizes["epochs"][0], *sizes["epochs"]]):
        step = train_params.model_copy(update={"epochs": epochs, "checkpoint_every": epochs})
        out = Path(f"train-{k}")
        shutil.rmtree(out, ignore_errors=True)  # a checkpoint of an earlier check would resume
        began = time.perf_counter()
        train(
            run,
            store,
            step,
            params.augment,
            params.features,
            out,
            out / "ckpt",
            progress=False,
            monitor=False,
        )
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - began
        done = {"epochs": epochs, "steps": epochs * per_epoch, "seconds": round(seconds, 3)}
        record.append("runs", {**done, "warm_up": k == 0})
        print(
            f"{sizes['cell']}: {epochs} epoch(s) of {per_epoch} steps in {seconds:.1f} s",
            flush=True,
        )
    _, few, many = record.data["runs"]
    steps = many["steps"] - few["steps"]
    measured = many["seconds"] - few["seconds"]
    if measured <= 0:  # only where the host's load outweighs the extra steps (a busy CPU)
        record.set(measured_steps=steps, measured_seconds=measured, note="no time difference")
        return
    flops = encoder_flops(input, train_params.width, samples, rate, params.features)
    views = step_views(OBJECTIVES.get(objective), steps * batch)
    plan = RunPlan("check", input, objective, *views, 0, 0, flops)
    row = _bench_row(sizes.get("bench"), input, objective, train_params.compile)
    record.set(
        measured_steps=steps,
        measured_seconds=round(measured, 3),
        **_against_plan(plan.flops, measured, steps, row, device),
    )


def _against_plan(
    flops: float, measured: float, steps: int, row: dict | None, device: torch.device
) -> dict:
    """The measured time of ``flops`` against the planner's: at the bench's MFU (its ``row``)
    and at the assumed MFU of the device's peak."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    kind = device_kind(name) if device.type == "cuda" else None
    predicted = {}
    if row is not None:
        seconds = flops / (row["tflops"] * 1e12)
        predicted["bench_mfu"] = {
            "mfu": row["mfu"],
            "tflops": row["tflops"],
            "seconds": seconds,
            "ratio": measured / seconds,
        }
    if kind is not None:
        tflops = PEAK_TFLOPS[kind] * ASSUMED_MFU
        seconds = flops / (tflops * 1e12)
        predicted["assumed_mfu"] = {
            "mfu": ASSUMED_MFU,
            "tflops": tflops,
            "seconds": seconds,
            "ratio": measured / seconds,
        }
    achieved = flops / measured / 1e12
    return {
        "seconds_per_step": measured / steps,
        "flops": flops,
        "achieved_tflops": achieved,
        "achieved_mfu": achieved / PEAK_TFLOPS[kind] if kind else None,
        "predicted": predicted,
    }


def features_and_evaluation(record, device: torch.device, sizes: dict) -> None:
    params, _, input, objective, train_params, samples = cell_setup(sizes)
    rate = params.prepare.sample_rate
    store = generated_store(
        Path("store"),
        train_params.batch_size * sizes["steps_per_epoch"],
        sizes["test_clips"],
        samples,
        rate,
    )
    clips = sum(len(store.array(s)) for s in ("train", "valid", "test"))
    record.set(clips=clips, clip_samples=samples)
    _features_stage(record, device, store, params, samples)
    evaluation = params.evaluate
    if sizes.get("eval_epochs"):
        evaluation = evaluation.model_copy(update={"epochs": sizes["eval_epochs"]})
    _evaluation(record, device, store, params, evaluation, input, objective, train_params)


def _features_stage(
    record, device: torch.device, store: Store, params: Params, samples: int
) -> None:
    """The features stage on ``device``, and as it runs today on the CPU (the test split)."""
    clips = sum(len(store.array(s)) for s in ("train", "valid", "test"))
    began = time.perf_counter()
    written = write_features(
        store, params.features, Path("features-device"), device=str(device), progress=False
    )
    seconds = time.perf_counter() - began
    record.set(
        features_device={
            "device": str(device),
            "seconds": round(seconds, 3),
            "clips_per_second": clips / seconds,
            "written": written["written"],
            "gigabytes": written["gigabytes"],
        }
    )
    print(f"features stage on {device}: {clips} clips in {seconds:.1f} s", flush=True)
    # The test split only (max_gb just holds it).
    module = TimeFrequency.from_params(params.prepare.sample_rate, params.features)
    test = len(store.array("test"))
    only_test = params.features.model_copy(
        update={
            "max_gb": gigabytes(
                test, len(module.channels), module.log_fbanks.shape[1], module.frames(samples)
            )
        }
    )
    began = time.perf_counter()
    write_features(store, only_test, Path("features-cpu"), device="cpu", progress=False)
    seconds = time.perf_counter() - began
    record.set(
        features_cpu={
            "device": "cpu",
            "seconds": round(seconds, 3),
            "clips_per_second": test / seconds,
        }
    )
    print(f"features stage on cpu: {test} clips in {seconds:.1f} s", flush=True)


def _evaluation(
    record,
    device: torch.device,
    store: Store,
    params: Params,
    evaluation: EvaluateParams,
    input: str,
    objective: str,
    train_params: TrainParams,
) -> None:
    """Embedding the three splits on ``device`` and fitting the evaluation head."""
    from clar.models import build_model

    rate = params.prepare.sample_rate
    clips = sum(len(store.array(s)) for s in ("train", "valid", "test"))
    torch.manual_seed(0)
    model = build_model(
        input, objective, len(store.classes), train_params.width, rate, params.features
    ).to(device)
    model.eval()
    began = time.perf_counter()
    embedded = embed_splits(
        model,
        store,
        Path("features-device"),
        params.features,
        evaluation.batch_size,
        device,
        train_params.device_clips_bytes,
        frames=takes_frames(evaluation.head),
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    embed = time.perf_counter() - began
    began = time.perf_counter()
    result, _ = evaluate(
        model,
        store,
        embedded,
        100.0,
        evaluation,
        seed=0,
        own_classifier=OBJECTIVES.get(objective).own_classifier,
    )
    head = time.perf_counter() - began
    record.set(
        evaluation={
            "embed_seconds": round(embed, 3),
            "embed_clips_per_second": clips / embed,
            "head_seconds": round(head, 3),
            "head": evaluation.head,
            "head_epochs": evaluation.epochs,
            "accuracy": result["evaluation_head"]["accuracy"],
        }
    )
    print(
        f"evaluation: embedding {clips} clips {embed:.1f} s, {evaluation.head} head "
        f"{evaluation.epochs} epochs {head:.1f} s",
        flush=True,
    )
