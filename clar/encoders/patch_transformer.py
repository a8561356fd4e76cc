"""A transformer over spectrogram patches, SSAST's patch-based model (Gong et al. 2022).

The time-frequency input ``[B, C, F, T]`` is cut into non-overlapping 16 x 16 patches (SSAST's
pre-training patch size and stride) over every channel of :mod:`clar.features`, embedded by a
linear map, given positions and passed through pre-norm transformer blocks. The embedding is
the mean of the patch tokens, SSAST's fine-tuning pooling for the patch-based model.

Sizes: SSAST Tiny at ``width`` 1.0 (embedding 192, depth 12, 3 heads, MLP ratio 4). ``width``
scales the embedding, ``3 * max(8, round(64 * width))`` (24 at 0.125), with depth and heads
kept.

Masked patch modelling (:mod:`clar.objectives.masked_patches`) asks ``forward`` for predictions
at masked positions with a :class:`Masking`: the mask token replaces the masked patches'
embeddings, and two predictors (SSAST's ``cpredlayer`` and ``gpredlayer``) map the output
tokens at masked positions back to patch values. Like SSAST's model, the encoder holds them;
other objectives leave them unused.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clar import distributed
from clar.encoders.base import SPECTROGRAM, Encoder
from clar.errors import ClarError

PATCH = 16
TINY_EMBEDDING, TINY_DEPTH, TINY_HEADS = 192, 12, 3
MAX_FREQUENCY_PATCHES = 16  # 256 bins
MAX_TIME_PATCHES = 512  # 8192 feature frames: 65 s at an 8 ms hop


@dataclass(frozen=True)
class Masking:
    """Which patches a masked forward hides: ``ratio`` of each clip's patches (at least one),
    in clusters of ``cluster`` x ``cluster`` neighbouring patches (1: independent patches)."""

    ratio: float
    cluster: int


@dataclass(frozen=True)
class MaskedPrediction:
    """A masked forward's output at the ``M`` masked positions of each clip: ``[B, M, P]``
    predictions of the discriminative and the generative head, the true (normalised) patch
    values, and the positions ``[B, M]``."""

    discriminative: Tensor
    generative: Tensor
    target: Tensor
    index: Tensor


class Block(nn.Module):
    """A pre-norm ViT block: self-attention, then a GELU MLP, each added to its input."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(attended)
        return x + self.mlp(self.norm2(x))


def _predictor(dim: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out))


class PatchTransformer(Encoder):
    name = "patch_transformer"
    title = "patch transformer (SSAST Tiny)"
    front_end = SPECTROGRAM

    def __init__(self, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        heads = TINY_HEADS
        dim = heads * max(8, round(TINY_EMBEDDING / heads * width))
        self.in_channels, self.out_dim = in_channels, dim
        self.patch_dim = in_channels * PATCH * PATCH
        # SSAST normalises its fbank by the data set's mean and deviation; running statistics
        # per channel do that here, for features whose scale differs by channel (dB, radians).
        self.norm_in = nn.BatchNorm2d(in_channels, affine=False)
        self.embed = nn.Linear(self.patch_dim, dim)
        # Positions: learned, frequency and time added, cropped to the input's patch grid, so
        # that clips of any length up to MAX_TIME_PATCHES share one table.
        self.pos_frequency = nn.Parameter(torch.zeros(MAX_FREQUENCY_PATCHES, dim))
        self.pos_time = nn.Parameter(torch.zeros(MAX_TIME_PATCHES, dim))
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(TINY_DEPTH)))
        self.norm = nn.LayerNorm(dim)
        self.discriminative = _predictor(dim, self.patch_dim)
        self.generative = _predictor(dim, self.patch_dim)
        for p in (self.pos_frequency, self.pos_time, self.mask_token):
            nn.init.trunc_normal_(p, std=0.02)
        # Masks are drawn from a generator seeded by the run (the seed drawn here, after the
        # training loop seeds torch) and the count of masked forwards so far: both are in the
        # checkpoint, so a resumed run draws the masks the uninterrupted one would.
        self.register_buffer("mask_seed", torch.randint(0, 2**31 - 1, ()))
        self.register_buffer("masks_drawn", torch.zeros((), dtype=torch.int64))

    def grid(self, x: Tensor) -> tuple[int, int]:
        """The patch grid ``(n_frequency, n_time)`` of an input ``[B, C, F, T]``."""
        n_f, n_t = x.shape[2] // PATCH, x.shape[3] // PATCH
        if n_f < 1 or n_t < 1:
            raise ClarError(
                f"patch transformer: input of {x.shape[2]} bins x {x.shape[3]} frames is under "
                f"one {PATCH} x {PATCH} patch; give longer clips or more features.n_bins"
            )
        if n_f > MAX_FREQUENCY_PATCHES or n_t > MAX_TIME_PATCHES:
            raise ClarError(
                f"patch transformer: input of {x.shape[2]} bins x {x.shape[3]} frames exceeds "
                f"its positions ({PATCH * MAX_FREQUENCY_PATCHES} bins x "
                f"{PATCH * MAX_TIME_PATCHES} frames); cut the clips"
            )
        return n_f, n_t

    def patchify(self, x: Tensor) -> Tensor:
        """``[B, C, F, T] -> [B, N, C * 16 * 16]``, patches in frequency-major order (patch
        ``f * n_time + t``); bins and frames beyond the last whole patch are left out."""
        b, c = x.shape[:2]
        n_f, n_t = self.grid(x)
        x = x[:, :, : n_f * PATCH, : n_t * PATCH].reshape(b, c, n_f, PATCH, n_t, PATCH)
        return x.permute(0, 2, 4, 1, 3, 5).reshape(b, n_f * n_t, c * PATCH * PATCH)

    def unpatchify(self, patches: Tensor, n_frequency: int, n_time: int) -> Tensor:
        """The inverse of :meth:`patchify`: ``[B, N, C * 16 * 16] -> [B, C, 16 n_f, 16 n_t]``."""
        b = patches.shape[0]
        x = patches.reshape(b, n_frequency, n_time, -1, PATCH, PATCH)
        return x.permute(0, 3, 1, 4, 2, 5).reshape(b, -1, n_frequency * PATCH, n_time * PATCH)

    def targets(self, x: Tensor) -> Tensor:
        """The normalised patch values the encoder sees: ``[B, N, C * 16 * 16]``."""
        return self.patchify(self.norm_in(x))

    def encode_tokens(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``[B, C, F, T] -> [B, N, D]`` output tokens; ``mask`` ``[B, N]`` bool marks the
        patches whose embedding the learned mask token replaces (SSAST, after BEiT)."""
        n_f, n_t = self.grid(x)
        return self._encode(self.targets(x), n_f, n_t, mask)

    def _encode(self, patches: Tensor, n_f: int, n_t: int, mask: Tensor | None) -> Tensor:
        tokens = self.embed(patches)
        if mask is not None:
            tokens = torch.where(mask[..., None], self.mask_token.to(tokens.dtype), tokens)
        pos = self.pos_frequency[:n_f, None, :] + self.pos_time[None, :n_t, :]
        tokens = tokens + pos.reshape(n_f * n_t, -1)
        return self.norm(self.blocks(tokens))

    def draw_mask(self, batch: int, n_f: int, n_t: int, masking: Masking, device) -> Tensor:
        """The masked positions ``[B, M]`` of a batch, ``M = round(ratio * N)`` (at least 1)
        per clip: the top ``M`` of uniform noise smoothed over ``cluster`` x ``cluster``
        patches, so that masked patches come in clusters as in SSAST."""
        n = n_f * n_t
        m = min(n, max(1, round(masking.ratio * n)))
        seed = int(self.mask_seed) * 1_000_003 + int(self.masks_drawn) * 7919 + distributed.rank()
        self.masks_drawn += 1
        generator = torch.Generator(device=device).manual_seed(seed)
        noise = torch.rand(batch, 1, n_f, n_t, generator=generator, device=device)
        score = noise
        if masking.cluster > 1:
            k = masking.cluster
            smooth = F.avg_pool2d(noise, k, 1, k // 2, count_include_pad=False)
            score = smooth[..., :n_f, :n_t] + 1e-3 * noise  # the noise breaks ties
        return score.flatten(1).topk(m, dim=1).indices

    def masked(self, x: Tensor, masking: Masking) -> MaskedPrediction:
        n_f, n_t = self.grid(x)
        index = self.draw_mask(x.shape[0], n_f, n_t, masking, x.device)
        mask = torch.zeros(x.shape[0], n_f * n_t, dtype=torch.bool, device=x.device)
        mask.scatter_(1, index, True)
        # One pass of the input norm: in training its running statistics move once a step.
        patches = self.targets(x)
        tokens = self._encode(patches, n_f, n_t, mask)
        at = index[..., None]
        hidden = tokens.gather(1, at.expand(-1, -1, tokens.shape[-1]))
        target = patches.detach()
        return MaskedPrediction(
            self.discriminative(hidden),
            self.generative(hidden),
            target.gather(1, at.expand(-1, -1, target.shape[-1])),
            index,
        )

    def frames(self, x: Tensor) -> Tensor:
        """``[B, D, n_time]``: the tokens of each time column, averaged over frequency."""
        n_f, n_t = self.grid(x)
        tokens = self.encode_tokens(x)
        return tokens.view(x.shape[0], n_f, n_t, -1).mean(dim=1).transpose(1, 2)

    def frame_geometry(self) -> tuple[int, float, int]:
        return PATCH, (PATCH - 1) / 2, PATCH

    def forward(self, x: Tensor, masking: Masking | None = None) -> Tensor | MaskedPrediction:
        if masking is not None:
            return self.masked(x, masking)
        pooled = self.frames(x).mean(dim=2)
        if self.training and torch.is_grad_enabled():
            # Data parallelism (DDP without unused-parameter detection) needs a gradient, even
            # zero, for every parameter each step: the masked-patch parts join at weight 0.
            unused = (
                self.mask_token,
                *self.discriminative.parameters(),
                *self.generative.parameters(),
            )
            pooled = pooled + 0.0 * sum(p.sum() for p in unused)
        return pooled
