"""The floating-point type the computations run in.

It is torch's default dtype: float32, unless a caller sets another. The data-parallel and
resume tests set float64, where two computations that should agree do so to ~1e-12 on any CPU,
so that a tight tolerance catches a wrong step and cannot fail on rounding alone. Where bf16
autocast would cost dynamic range (the STFT, normalisation, the losses), values are cast to this
type rather than to a fixed float32, so that float64 stays float64 all the way through.
"""

from __future__ import annotations

import torch
from torch import Tensor


def full(x: Tensor) -> Tensor:
    """``x`` in the computation's full precision (torch's default dtype)."""
    return x.to(torch.get_default_dtype())
