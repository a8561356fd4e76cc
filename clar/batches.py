"""The clips of each training step: which clips of the training split, and which of their labels
the objective sees. Drawn on the device with the run's generator, so that a run started again
with the same seed (or resumed with the generator's state) draws the same batches.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def epoch_batches(pool: Tensor, steps: int, batch: int, generator: torch.Generator) -> Tensor:
    """``[steps, batch]`` indices of ``pool``, every row from within one shuffle of it.

    Shuffles are drawn in turn and each is cut into whole batches; its last
    ``len(pool) % batch`` indices are left out, so that no batch straddles two shuffles and holds
    a clip twice (the clip would be its own negative). A pool smaller than an epoch is cycled by
    whole shuffles. ``batch`` is at most ``len(pool)``.
    """
    if not 0 < batch <= len(pool):
        raise ValueError(f"a batch of {batch} from a pool of {len(pool)}")
    per_shuffle = len(pool) // batch
    shuffles = [
        pool[torch.randperm(len(pool), generator=generator, device=generator.device)]
        for _ in range(math.ceil(steps / per_shuffle))
    ]
    rows = torch.cat([s[: per_shuffle * batch].view(per_shuffle, batch) for s in shuffles])
    return rows[:steps]


def epoch_draw(
    pool: Tensor,
    labelled: Tensor,
    labels: Tensor,
    steps: int,
    batch: int,
    shown: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """One epoch's ``[steps, batch]`` clip indices and the labels the objective sees of them
    (-1: none).

    With ``shown`` 0, every clip comes from ``pool`` (:func:`epoch_batches`) with its label of
    ``labels`` ``[N]``. Otherwise (an objective's ``labelled_batch``, FixMatch's B) each row
    starts with ``shown`` clips drawn from ``labelled`` ``[L]``, labels shown, and goes on with
    ``batch - shown`` from ``pool``, labels hidden: a clip of the labelled fraction may be in
    both parts, as FixMatch's unlabelled set holds the labelled examples too. Each part is
    drawn within shuffles of its own, so the labelled clips are cycled as often as it takes.
    """
    rows = epoch_batches(pool, steps, batch - shown, generator)
    if not shown:
        return rows, labels[rows]
    first = epoch_batches(labelled, steps, shown, generator)
    hidden = torch.full_like(rows, -1)
    return torch.cat([first, rows], 1), torch.cat([labels[first], hidden], 1)
