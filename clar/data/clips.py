"""A split's clips as training and evaluation read them: batches of float32 on the device.

The store holds int16 (:mod:`clar.data.store`). A split within the device budget crosses to the
device once, still int16 (half the bytes of float32), and every batch is gathered and converted
there. A bigger split stays on the host and only its batches cross, as int16: NSynth's training
split is about 37 GB as int16 and 74 GB as float32, more than most GPUs hold beside a model.
On a GPU the host copy is pinned and batch k + 1 is copied on a side stream while batch k
computes; on a CPU the memory-mapped array is read batch by batch, so the split is never held
in RAM twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from clar.data.store import SCALE
from clar.precision import full


class Clips:
    """int16 clips ``[N, samples]`` read as float32 batches in [-1, 1] on ``device``.

    ``budget_bytes``: the most device memory the split may take as int16; above it the split
    streams from the host.
    """

    def __init__(self, array: np.ndarray, device: torch.device, budget_bytes: float) -> None:
        self.device = device
        self.shape = tuple(array.shape)
        self.resident = array.nbytes <= budget_bytes
        self._buffers: list[Tensor] = []
        if self.resident:
            # A copy: memory-mapped arrays are read-only, and torch wants to own what it wraps.
            self._data = torch.from_numpy(np.array(array)).to(device)
        elif device.type == "cuda":
            self._data = torch.from_numpy(np.array(array)).pin_memory()
        else:
            self._array = array

    def __len__(self) -> int:
        return self.shape[0]

    def _host_rows(self, index: Tensor, out: Tensor | None = None) -> Tensor:
        if self.device.type == "cuda":
            return torch.index_select(self._data, 0, index, out=out)
        # Sorted reads of a memory map touch each page once; the order is restored after.
        rows = index.numpy()
        order = np.argsort(rows, kind="stable")
        gathered = np.empty((len(rows), self.shape[1]), dtype=np.int16)
        gathered[order] = self._array[rows[order]]
        return torch.from_numpy(gathered)

    def __getitem__(self, index: Tensor) -> Tensor:
        """``[B]`` indices (on any device) -> ``[B, samples]`` float32 on the device."""
        if self.resident:
            rows = self._data[index.to(self.device)]
        else:
            rows = self._host_rows(index.cpu()).to(self.device)
        return full(rows).div_(SCALE)

    def batches(self, index: Tensor | Sequence[Tensor]) -> Iterator[Tensor]:
        """The batches of ``index`` in order, each ``[B_k, samples]`` float32 on the device.

        ``index``: ``[steps, B]`` (training) or a sequence of ``[B_k]`` index tensors (the
        evaluation's chunks, the last one shorter). From the host on a GPU, batch k + 1 is copied
        on a side stream while batch k computes.
        """
        if self.resident or self.device.type != "cuda":
            yield from (self[row] for row in index)
            return
        # One sync per call, not one per batch.
        rows = list(index.cpu()) if isinstance(index, Tensor) else [row.cpu() for row in index]
        if not rows:
            return
        widest = max(len(row) for row in rows)
        if not self._buffers or self._buffers[0].shape[0] < widest:
            self._buffers = [
                torch.empty((widest, self.shape[1]), dtype=torch.int16).pin_memory()
                for _ in range(2)
            ]
        stream = torch.cuda.Stream(self.device)
        copied = [torch.cuda.Event(), torch.cuda.Event()]

        def start(k: int) -> Tensor:
            slot = k % 2
            # The host may refill a pinned buffer only once its previous copy has finished.
            copied[slot].synchronize()
            buffer = self._buffers[slot][: len(rows[k])]
            self._host_rows(rows[k], out=buffer)
            with torch.cuda.stream(stream):
                on_device = buffer.to(self.device, non_blocking=True)
                copied[slot].record(stream)
            return on_device

        compute = torch.cuda.current_stream(self.device)
        pending = start(0)
        for k in range(len(rows)):
            current = pending
            compute.wait_event(copied[k % 2])
            # Allocated on the copy stream, used on this one: keep the allocator from reusing it.
            current.record_stream(compute)
            if k + 1 < len(rows):
                pending = start(k + 1)
            yield full(current).div_(SCALE)

    def chunks(self, batch_size: int) -> Iterator[Tensor]:
        """Every clip in order, ``batch_size`` at a time (the last chunk may be shorter), with
        the same prefetch as :meth:`batches`."""
        return self.batches(torch.arange(len(self)).split(batch_size))
