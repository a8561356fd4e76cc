"""The paths that only a GPU takes, each checked on real computations: the pinned, side-stream
host path of a split's batches and evaluation chunks, bf16 autocast through augmentation and
the model, ``SyncBatchNorm`` in a one-rank NCCL group, and a compiled training step (one
process and data-parallel). On a CPU (the dry run) the same checks take the CPU's paths: gloo
and :class:`clar.distributed.AllReduceBatchNorm` instead of NCCL and ``SyncBatchNorm``.

Each check returns a line of detail and raises ``AssertionError`` when it fails.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from clar import distributed
from clar.augment.transforms import augment
from clar.config import AugmentParams, FeatureParams
from clar.data.clips import Clips
from clar.data.store import SCALE
from clar.encoders import ENCODERS
from clar.encoders.base import SPECTROGRAM
from clar.errors import ClarError
from clar.models import Model
from clar.objectives import OBJECTIVES, Labels, Objective
from clar.optim import build_optimizer
from clar.plugins import Registry
from clar.train import training_network
from clar.vocabulary import AUGMENTATIONS, FEATURE_CHANNELS

RATE = 16000
SAMPLES = 2000  # eighth-second clips: the checks are about paths, not sizes
FEATURES = FeatureParams(
    window_ms=32, hop_ms=8, n_bins=64, f_min=40, f_max=8000, channels=FEATURE_CHANNELS, max_gb=0
)


def waveforms(n: int, seed: int = 0) -> np.ndarray:
    """``[n, SAMPLES]`` int16 tones in noise, as the store holds clips."""
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLES) / RATE
    pitch = rng.uniform(100, 4000, (n, 1))
    clips = 0.4 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.normal(size=(n, SAMPLES))
    return (clips * 32767).astype(np.int16)


def streamed_batches(device: torch.device, width: float) -> str:
    """A split over the device budget streams from the host (pinned on a GPU, batch k + 1
    copied on a side stream while batch k computes) and gives the resident split's batches,
    bit for bit; evaluation's chunks cover every clip in order."""
    array = waveforms(37)
    resident = Clips(array, device, budget_bytes=array.nbytes)
    streamed = Clips(array, device, budget_bytes=array.nbytes - 1)
    assert resident.resident and not streamed.resident
    pinned = device.type == "cuda"
    if pinned:
        assert streamed._data.is_pinned(), "the streamed split's host copy is not pinned"
    index = torch.randint(len(array), (6, 5), generator=torch.Generator().manual_seed(0))
    for a, b, row in zip(resident.batches(index), streamed.batches(index), index, strict=True):
        expected = torch.from_numpy(array[row.numpy()].astype(np.float32)) / SCALE
        assert a.device.type == b.device.type == device.type
        torch.testing.assert_close(a.cpu(), expected, rtol=0, atol=0)
        torch.testing.assert_close(b.cpu(), expected, rtol=0, atol=0)
    chunks = [chunk.cpu() for chunk in streamed.chunks(8)]
    assert [len(c) for c in chunks] == [8, 8, 8, 8, 5]
    torch.testing.assert_close(torch.cat(chunks) * SCALE, torch.from_numpy(array).float())
    return f"6 batches and 5 chunks equal the resident split's; host copy pinned: {pinned}"


def first_registered(want: Callable[[type], bool], registry: Registry, what: str) -> str:
    """The first name in ``registry`` (the paper's own first) whose class ``want`` accepts: a
    check that needs a method of a kind picks it by what it declares, not by its name.

    Raises:
        ClarError: no registered method is ``what``.
    """
    for name in registry.names():
        if want(registry.get(name)):
            return name
    raise ClarError(f"no registered {registry.kind} {what}; known: {', '.join(registry.names())}")


def contrastive() -> Objective:
    """A label-free objective over two views (the paper's contrastive one)."""
    name = first_registered(
        lambda o: o.views == 2 and o.labels == Labels.NONE, OBJECTIVES, "label-free on two views"
    )
    return OBJECTIVES.get(name)(temperature=0.5)


def contrastive_and_classifier() -> Objective:
    """An objective over two views whose head also classifies (the paper's hybrid)."""
    name = first_registered(
        lambda o: o.views == 2 and o.own_classifier, OBJECTIVES, "on two views that classifies"
    )
    return OBJECTIVES.get(name)(temperature=0.5)


def _model(objective: Objective, width: float, device: torch.device) -> tuple[Model, nn.Module]:
    """A network on the spectrogram (the first such encoder registered) with ``objective``'s
    head, and its feature module, seeded."""
    from clar.bench import bench_model

    torch.manual_seed(0)
    input = first_registered(lambda e: e.front_end == SPECTROGRAM, ENCODERS, "on the spectrogram")
    model, features = bench_model(input, objective, 5, width, RATE, FEATURES)
    assert features is not None
    return model.to(device), features.to(device)


def bf16_autocast(device: torch.device, width: float) -> str:
    """Every augmentation on the device with the device's generator, then the loss of an
    objective that contrasts and classifies (the hybrid) under bf16 autocast: convolutions run
    in bf16, the projections come out float32 and of unit norm, and the loss is the float32
    loss within bf16's rounding."""
    clips = torch.from_numpy(waveforms(8)).float().div_(SCALE).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    views = augment(clips, AUGMENTATIONS, generator, AugmentParams(probability=1.0), 2)
    assert views.shape == (16, SAMPLES) and torch.isfinite(views).all()
    objective = contrastive_and_classifier()
    model, features = _model(objective, width, device)
    inputs = features(views)
    labels = torch.arange(8, device=device) % 5
    seen: list[torch.dtype] = []
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    handle = first_conv.register_forward_hook(lambda *args: seen.append(args[2].dtype))
    losses = {}
    try:
        for enabled in (False, True):
            with torch.autocast(device.type, torch.bfloat16, enabled=enabled):
                losses[enabled] = objective.loss(model, clips, labels, lambda *_: inputs)
        with torch.autocast(device.type, torch.bfloat16):
            z, _ = model(inputs[:4])
    finally:
        handle.remove()
    assert seen == [torch.float32, torch.bfloat16, torch.bfloat16], seen
    assert z.dtype == torch.float32
    torch.testing.assert_close(z.norm(dim=1), torch.ones(len(z), device=device))
    full, half = (float(losses[k]["loss"]) for k in (False, True))
    # bf16 keeps 8 significant bits (relative rounding 2^-8 = 0.4 %) on every layer's
    # activations; 5 % holds that over a ResNet-18 and fails on a loss computed wrongly.
    assert abs(half - full) <= 0.05 * abs(full), f"bf16 loss {half:.4f} vs float32 {full:.4f}"
    return f"convolutions in bf16, projections float32; loss {half:.4f} (float32 {full:.4f})"


def _one_rank_group(device: torch.device, folder: Path) -> None:
    if device.type == "cuda":
        torch.cuda.set_device(device.index or 0)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"file://{folder / 'init'}", rank=0, world_size=1)


def sync_batch_norm(device: torch.device, width: float) -> str:
    """The data-parallel wrapper in a one-rank group (NCCL on a GPU): its batch norms are
    ``SyncBatchNorm`` (a GPU) or the all-reduce batch norm (a CPU), DDP joins the group (its
    first broadcast goes over NCCL), and over one rank they give plain batch norm's loss and
    gradients. In float64, so the two reductions agree to far below float32's rounding. Over
    one rank torch's ``SyncBatchNorm`` computes as plain batch norm; its cross-rank kernels need
    a second GPU (NCCL refuses two ranks on one device)."""
    model, features = _model(contrastive(), width, device)
    model = model.double()
    inputs = features(torch.from_numpy(waveforms(8)).float().div_(SCALE).to(device)).double()
    reference = copy.deepcopy(model)
    with tempfile.TemporaryDirectory() as folder:
        _one_rank_group(device, Path(folder))
        try:
            net = distributed.wrap(model, device)
            kind = nn.SyncBatchNorm if device.type == "cuda" else distributed.AllReduceBatchNorm
            norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            assert norms and all(isinstance(m, kind) for m in norms), kind.__name__
            losses = []
            for network in (net, reference):
                z1, z2 = network(inputs).chunk(2)
                loss = (z1 * z2).sum(1).mean()
                loss.backward()
                losses.append(loss.item())
        finally:
            dist.destroy_process_group()
    assert abs(losses[0] - losses[1]) <= 1e-9 * abs(losses[1]), losses
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-7, atol=1e-10)
    return f"{len(norms)} {kind.__name__} layers over one rank equal batch norm (float64)"


def _train_steps(net: nn.Module, model: Model, inputs: torch.Tensor, steps: int) -> list[float]:
    """``steps`` contrastive training steps of ``net`` (``model`` or a wrapper of it) under the
    device's autocast; the losses."""
    optimizer = build_optimizer(model, 1e-3, 1e-6, lars=True)
    autocast = torch.autocast(inputs.device.type, torch.bfloat16, enabled=inputs.is_cuda)
    unlabelled = torch.full((len(inputs) // 2,), -1, device=inputs.device)
    objective = contrastive()
    losses = []
    for _ in range(steps):
        with autocast:
            loss = objective.loss(net, inputs[:8], unlabelled, lambda *_: inputs)
        optimizer.zero_grad(set_to_none=True)
        loss["loss"].backward()
        optimizer.step()
        losses.append(loss["loss"].item())
    return losses


def _compiled_against_eager(
    device: torch.device, width: float, backend: str, wrapped: bool
) -> tuple[list[float], list[float]]:
    model, features = _model(contrastive(), width, device)
    inputs = features(torch.from_numpy(waveforms(16)).float().div_(SCALE).to(device))
    twin = copy.deepcopy(model)
    eager = _train_steps(twin, twin, inputs, 3)
    torch._dynamo.reset()
    with tempfile.TemporaryDirectory() as folder:
        if wrapped:
            _one_rank_group(device, Path(folder))
        try:
            net = training_network(model, device, True, backend)
            compiled = _train_steps(net, model, inputs, 3)
        finally:
            if wrapped:
                dist.destroy_process_group()
    return eager, compiled


def compiled_step(device: torch.device, width: float, backend: str = "inductor") -> str:
    """Three training steps through ``torch.compile`` (``train.compile``) give the eager
    steps' losses (1 %: the compiler fuses and reorders float arithmetic, bf16 on a GPU)."""
    eager, compiled = _compiled_against_eager(device, width, backend, wrapped=False)
    np.testing.assert_allclose(compiled, eager, rtol=1e-2)
    return f"{backend}: losses {', '.join(f'{x:.4f}' for x in compiled)} as eager"


def compiled_data_parallel_step(
    device: torch.device, width: float, backend: str = "inductor"
) -> str:
    """The same through the data-parallel wrapper in a one-rank group: DDP under
    ``torch.compile``, its batch norms all-reducing with functional collectives (NCCL on a
    GPU)."""
    eager, compiled = _compiled_against_eager(device, width, backend, wrapped=True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-2)
    return f"{backend}, one-rank group: losses {', '.join(f'{x:.4f}' for x in compiled)} as eager"


CHECKS: dict[str, Callable[..., str]] = {
    "streamed_batches": streamed_batches,
    "bf16_autocast": bf16_autocast,
    "sync_batch_norm": sync_batch_norm,
    "compiled_step": compiled_step,
    "compiled_data_parallel_step": compiled_data_parallel_step,
}
COMPILED = ("compiled_step", "compiled_data_parallel_step")
