"""A run's network (docs/method.md): front end -> encoder -> objective's head.

The front end is the encoder's: the paper's time-frequency features (:mod:`clar.features`) for
an encoder on the spectrogram, nothing for one on the waveform. The encoder comes from
:mod:`clar.encoders`, the head from the objective (:mod:`clar.objectives`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from torch import Tensor, nn

from clar.encoders import ENCODERS
from clar.encoders.base import SPECTROGRAM, Encoder
from clar.features import TimeFrequency
from clar.objectives import OBJECTIVES

if TYPE_CHECKING:
    from clar.config import FeatureParams


class Model(nn.Module):
    """Features (an encoder on the spectrogram only) -> encoder -> the objective's head.

    ``embed``: ``[B, T]`` waveforms -> ``[B, D]``; ``forward`` applies the head (logits,
    unit vectors, or both, as the objective's head gives).
    """

    def __init__(self, encoder: Encoder, head: nn.Module, features: TimeFrequency | None) -> None:
        super().__init__()
        self.features = features if encoder.front_end == SPECTROGRAM else None
        self.encoder = encoder
        self.head = head

    def encode(self, inputs: Tensor) -> Tensor:
        """The encoder alone, on its own input: ``[B, T]`` waveforms or ``[B, C, F, T]``."""
        return self.encoder(inputs)

    def front(self, waveform: Tensor) -> Tensor:
        """``[B, T]`` waveforms -> the encoder's input."""
        return self.features(waveform) if self.features is not None else waveform

    def embed(self, waveform: Tensor) -> Tensor:
        return self.encoder(self.front(waveform))

    def forward(self, waveform: Tensor, **encoder_args: object) -> object:
        """The head on the encoder's output; ``encoder_args`` go to the encoder (an objective
        that asks its encoder for more than the embedding, e.g. masked patch predictions)."""
        return self.head(self.encoder(self.front(waveform), **encoder_args))

    def classify(self, h: Tensor) -> Tensor:
        """The model's own classifier (an objective with ``own_classifier``) on embeddings:
        ``[B, D] -> [B, C]``."""
        return self.head.logits(h)

    def logits(self, waveform: Tensor) -> Tensor:
        """The model's own classifier on waveforms: ``[B, T] -> [B, C]``."""
        return self.classify(self.embed(waveform))


def build_model(
    encoder: str,
    objective: str,
    n_classes: int,
    width: float,
    sample_rate: int,
    features: FeatureParams,
    options: BaseModel | Mapping[str, Any] | None = None,
) -> Model:
    """The network of a run: the encoder registered as ``encoder`` at ``width``, with its front
    end, and the head of the objective registered as ``objective`` with its ``options``
    (``loss.options.<objective>``, as run.json records them: a head may depend on them)."""
    cls = ENCODERS.get(encoder)
    spectrogram = cls.front_end == SPECTROGRAM
    front = TimeFrequency.from_params(sample_rate, features) if spectrogram else None
    net = cls(width=width, in_channels=1 if front is None else len(features.channels))
    method = OBJECTIVES.get(objective)
    if options is not None and not isinstance(options, BaseModel):
        # Through JSON, where a strict model reads arrays as the tuples it holds.
        options = method.Options.model_validate_json(json.dumps(dict(options)))
    return Model(net, method(options=options).build(net, n_classes), front)
