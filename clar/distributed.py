"""Data-parallel training on torch.distributed: one process (rank) per device, started by torchrun.

A stage with ``train.devices`` > 1 starts itself again as that many processes through torchrun
(:func:`relaunch`); each joins the job (:func:`process_group`: NCCL on CUDA, gloo on CPU, each rank
on the device ``LOCAL_RANK`` names). Training then sees the job through the functions below, all
of which are the identity in a single process, so a one-process run computes what it always did:

- :func:`shard`: rank 0's batches of the global batch, each rank's columns of them;
- :func:`wrap`: batch norm synchronised over the ranks (as the paper trained) and DDP;
- :func:`gather`: every rank's rows, keeping gradients, so a loss sees the global batch;
- :func:`mean`: the mean over ranks of logged values;
- :func:`rank_seed`: a seed per rank, so each rank draws its own augmentations.

Multi-node jobs are started by the user's torchrun on each node (docs/gpus.md).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
import torch.distributed.nn.functional as distributed_functional
from torch import Tensor, nn
from torch.distributed import run as torchrun
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

from clar.errors import ClarError

# Ranks other than 0 wait in a collective while rank 0 alone probes and evaluates: at paper scale
# that outlasts NCCL's default of 10 minutes.
TIMEOUT = timedelta(hours=2)


def under_torchrun() -> bool:
    """Whether torchrun started this process (it sets these for every worker)."""
    return "TORCHELASTIC_RUN_ID" in os.environ and "LOCAL_RANK" in os.environ


def relaunch(devices: int, nodes: int, script: list[str]) -> bool:
    """Run ``script`` (a path and its arguments) as ``devices`` processes through torchrun and
    wait for them; returns False, and does nothing, in one process or inside torchrun already.

    The stage's own process stays the one DVC started: it holds no device and records the
    stage's wall time once every rank is done.
    """
    if devices * nodes == 1 or under_torchrun():
        return False
    if nodes > 1:
        raise ClarError(
            f"train.nodes = {nodes}: start this stage with torchrun on each node "
            "(docs/gpus.md, 'Many GPUs')"
        )
    # Each process an equal share of the node's cores (torchrun alone would give each one).
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // devices)))
    args = torchrun.parse_args(["--standalone", f"--nproc-per-node={devices}", *script])
    try:
        torchrun.run(args)
    except ChildFailedError as failed:
        raise ClarError(
            f"{len(failed.failures)} of {devices} training processes failed (train.devices = "
            f"{devices}); their errors are above"
        ) from None
    return True


@contextlib.contextmanager
def process_group(devices: int, nodes: int, device: torch.device) -> Iterator[int]:
    """Join the job torchrun started, for the body of the ``with``; yields this process's rank.

    ``devices`` x ``nodes`` must be the number of processes torchrun started. With one
    process there is no job to join and nothing changes. Ranks other than 0 print nothing: rank 0
    speaks for the job (errors still reach stderr).
    """
    world = devices * nodes
    started = int(os.environ.get("WORLD_SIZE", "1"))
    if started != world:
        raise ClarError(
            f"train.devices x train.nodes = {devices} x {nodes}, but torchrun started {started} "
            "process(es); set them to torchrun's --nproc-per-node and --nnodes"
        )
    if world == 1:
        yield 0
        return
    if device.type == "cuda":
        local = int(os.environ["LOCAL_RANK"])
        if local >= torch.cuda.device_count():
            raise ClarError(
                f"train.devices = {devices}, but this node has {torch.cuda.device_count()} "
                "CUDA device(s); lower train.devices"
            )
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    try:
        with (
            open(os.devnull, "w") as null,
            contextlib.redirect_stdout(sys.stdout if rank() == 0 else null),
        ):
            yield rank()
    finally:
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank_seed(seed: int) -> int:
    """The seed of this rank's generator: ``seed`` on rank 0, which so draws what a one-process
    run draws, and on rank r > 0 a stream of its own spawned from ``seed``."""
    r = rank()
    if r == 0:
        return seed
    return int(np.random.SeedSequence(seed, spawn_key=(r,)).generate_state(1)[0])


def shard(batches: Tensor) -> Tensor:
    """``[steps, B]`` indices of global batches -> ``[steps, B / world]``, this rank's share.

    Every rank holds the same batches: rank 0's, broadcast (each rank's generator also draws
    its own augmentations, so only rank 0's order is the job's). Rank r takes columns
    ``r * B / world`` to ``(r + 1) * B / world``, so the ranks' rows, gathered in rank order,
    are the global batch in its order. ``B`` must be a multiple of the world size.
    """
    if not dist.is_initialized():
        return batches
    dist.broadcast(batches, src=0)
    per_rank = batches.shape[1] // world()
    return batches[:, rank() * per_rank : (rank() + 1) * per_rank]


def gather(x: Tensor) -> Tensor:
    """``[n, ...]`` on each rank -> ``[world * n, ...]``, every rank's rows in rank order.

    The gradient flows back to every rank's rows (the all-gather of
    ``torch.distributed.nn``): each rank's loss of the global batch sends each rank the gradient
    for its own rows, summed over ranks, and DDP's mean over ranks makes that the gradient of
    the global batch's loss, as one process computes it.
    """
    if not dist.is_initialized():
        return x
    return torch.cat(distributed_functional.all_gather(x))


def mean(x: Tensor) -> Tensor:
    """The mean over ranks of ``x`` (detached): what the job logs."""
    if not dist.is_initialized():
        return x.detach()
    total = x.detach().clone()
    dist.all_reduce(total)
    return total / world()


def gather_objects(obj: object) -> list:
    """Every rank's ``obj`` (picklable), in rank order: ``[obj]`` in one process."""
    if not dist.is_initialized():
        return [obj]
    out: list = [None] * world()
    dist.all_gather_object(out, obj)
    return out


class AllReduceBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm synchronised over the ranks with two all-reduces that keep gradients: in
    training, the batch statistics over every rank's input, as one process computes them over
    the global batch. Evaluation uses the running statistics, as any batch norm. Any input
    ``[B, C, ...]``, on any device.

    Used where :class:`torch.nn.SyncBatchNorm` cannot be: on a CPU (its kernels are for GPUs)
    and under ``torch.compile`` (pytorch/pytorch#107372). The all-reduces are
    ``torch.distributed._functional_collectives``, which the compiler traces with their
    gradients; ``torch.distributed.nn``'s all-reduce computes the right gradient eagerly but a
    wrong one compiled (``tests/test_distributed.py``).
    """

    # The ranks' batch-norm all-reduces get a process group of their own (:func:`wrap`): on
    # DDP's, the compiled backward's all-reduces and DDP's gradient buckets interleaved in a
    # different order on each rank, and the job hung (gloo, about every second run).
    group: dist.ProcessGroup | None = None

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected an input [B, C, ...], got {tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(input)
        dims = [0, *range(2, input.ndim)]
        shape = [1, -1] + [1] * (input.ndim - 2)
        count = input.numel() // input.shape[1] * world()
        group = self.group or dist.group.WORLD
        batch_mean = funcol.all_reduce(input.sum(dims), "sum", group) / count
        centred = input - batch_mean.view(shape)
        # Two passes (mean, then squared deviations): as exact as a one-process batch norm.
        var = funcol.all_reduce(centred.square().sum(dims), "sum", group) / count
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum
                if momentum is None:  # a cumulative mean, as torch's batch norm
                    momentum = 1.0 / int(self.num_batches_tracked)
                self.running_mean.lerp_(batch_mean, momentum)
                self.running_var.lerp_(var * count / max(count - 1, 1), momentum)
        return out


_BATCH_NORM_GROUPS: dict[dist.ProcessGroup, dist.ProcessGroup] = {}


def batch_norm_group() -> dist.ProcessGroup:
    """The job's process group for :class:`AllReduceBatchNorm`, made once per job (every rank
    calls this in the same order, as :func:`torch.distributed.new_group` requires)."""
    job = dist.group.WORLD
    if job not in _BATCH_NORM_GROUPS:
        _BATCH_NORM_GROUPS.clear()  # a group of an earlier job in this process is gone
        _BATCH_NORM_GROUPS[job] = dist.new_group()
    return _BATCH_NORM_GROUPS[job]


def wrap(model: nn.Module, device: torch.device, compiled: bool = False) -> nn.Module:
    """``model`` for training in the job: its batch norms synchronised over the ranks (in
    place, on the same parameters) and the whole in DDP, which averages gradients over the
    ranks. In one process: ``model`` itself. Save, load and evaluate ``model``, not the wrapper.
    ``compiled``: the wrapper goes through ``torch.compile``, so the batch norms are
    :class:`AllReduceBatchNorm` on a GPU too.
    """
    if not dist.is_initialized():
        return model
    # Synchronised batch norm keeps the running statistics equal on every rank: no need for
    # DDP to broadcast rank 0's buffers before every forward.
    if device.type == "cuda" and not compiled:
        nn.SyncBatchNorm.convert_sync_batchnorm(model)
    else:
        group = batch_norm_group()
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.__class__ = AllReduceBatchNorm  # the same parameters and buffers
                module.group = group
    ids = [torch.cuda.current_device()] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, ids, broadcast_buffers=False)
