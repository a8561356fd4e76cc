"""Frame embeddings for the evaluation heads that take them (``EvaluationHead.frames``: the
prototypical head): the frozen encoder's frames ``[N, T', D]`` beside the pooled ``[N, D]``.

:func:`clar.probe.embed_splits` stores them under :func:`frames_key`; :func:`clar.probe.evaluate`
takes them, standardised per dimension over every training frame (:func:`standardise_frames`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import Tensor

from clar.errors import ClarError
from clar.heads import HEADS

if TYPE_CHECKING:
    from clar.models import Model

FRAMES = "frames"


def frames_key(split: str) -> str:
    """Where :func:`clar.probe.embed_splits` keeps a split's frames."""
    return f"{split}/{FRAMES}"


def frame_embedder(model: Model, waveforms: bool) -> Callable[[Tensor], Tensor]:
    """The frozen encoder's frames, ``[B, T', D]``: from the waveforms through the model's front
    end, or (``waveforms`` False) from the encoder's own input (stored features)."""
    encoder = model.encoder

    def frames(x: Tensor) -> Tensor:
        return encoder.frames(model.front(x) if waveforms else x).transpose(1, 2)

    return frames


def frames_of(
    embedded: dict[str, Tensor], head: str, labelled: Tensor, chosen_on: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The labelled training frames, the selection clips' frames and the test frames."""
    if frames_key("train") not in embedded:
        raise ClarError(
            f"evaluate.head = {head!r} takes the encoder's frames: embed the splits with "
            f"clar.probe.embed_splits(..., frames=True)"
        )
    return (
        embedded[frames_key("train")][labelled],
        embedded[frames_key("valid")][chosen_on],
        embedded[frames_key("test")],
    )


def standardise_frames(train: Tensor, *others: Tensor) -> list[Tensor]:
    """Scale every frame ``[N, T', D]`` by the training frames' mean and std per dimension (the
    pooled heads' :func:`clar.probe.standardise`, over every frame of every training clip)."""
    flat = train.reshape(-1, train.shape[-1])
    mean, std = flat.mean(0), flat.std(0).clamp(min=1e-6)
    return [(x - mean) / std for x in (train, *others)]


def check_frames_size(frames: Tensor, clips: int, budget_bytes: float) -> None:
    """Refuse, in one line, frames of all ``clips`` that would take more than ``budget_bytes``
    (``train.device_clips_gb``) on the device: ``frames`` is one split's, ``[N, T', D]``."""
    per_clip = frames[0].numel() * frames.element_size()
    total = per_clip * clips
    if total > budget_bytes:
        raise ClarError(
            f"evaluate.head: the frames of {clips} clips ({tuple(frames.shape[1:])} each) take "
            f"{total / 1e9:.1f} GB, over train.device_clips_gb = {budget_bytes / 1e9:g}; raise "
            f"it or use a head on the pooled embedding (mlp, linear)"
        )


def takes_frames(*heads: str) -> bool:
    """Whether any of the evaluation heads named (``evaluate.head`` and any scored beside it)
    takes frames: what :func:`clar.probe.embed_splits`' ``frames`` should be."""
    return any(HEADS.get(head).frames for head in heads)
