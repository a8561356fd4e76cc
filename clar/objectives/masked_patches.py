"""Masked patch modelling, SSAST's joint pre-training (Gong et al. 2022), label-free.

A share of each clip's spectrogram patches is replaced by a mask token; at every masked
position the encoder predicts

- which of the clip's masked patches belongs there (discriminative: InfoNCE between the
  predictions and the true patches of the clip's masked positions, SSAST's equation (1) as its
  code computes it), and
- the patch's values (generative: mean squared error),

and the loss is ``discriminative + weight * generative`` (SSAST: weight 10). As in SSAST's
``pretrain_joint`` the two parts are computed on two masked passes, each with its own mask:
here the two are the two augmented views of each clip.

Only an encoder that offers masked predictions (``forward(x, masking=Masking(...))`` returning
:class:`~clar.encoders.patch_transformer.MaskedPrediction`, as the patch transformer does)
accepts it: :meth:`MaskedPatches.accepts`.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from clar.encoders.patch_transformer import MaskedPrediction, Masking
from clar.objectives.base import Labels, Objective, Views
from clar.precision import full


class MaskedPatchesOptions(BaseModel):
    """``loss.options.masked_patches``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # SSAST masks 400 of 512 patches (0.78) in clusters of 3-5 patches a side.
    mask_ratio: float = Field(0.75, gt=0.0, lt=1.0)
    cluster: int = Field(3, ge=1)
    generative_weight: float = Field(10.0, ge=0.0)


def masked_infonce(prediction: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """SSAST's discriminative loss and accuracy over the ``M`` masked patches of each clip.

    Args:
        prediction, target: ``[B, M, P]``; row ``j`` of each is masked position ``j``.

    Returns:
        The mean over clips and positions of ``-log softmax_j(target_i . prediction_j)`` at
        ``j = i`` (each true patch classified among the clip's predictions, as SSAST's code
        does), and the share of true patches whose best prediction is their own position.
    """
    with torch.autocast(device_type=prediction.device.type, enabled=False):
        scores = full(target) @ full(prediction).transpose(1, 2)  # [B, M, M]
        log_p = scores.log_softmax(dim=-1)
        loss = -log_p.diagonal(dim1=1, dim2=2).mean()
        own = torch.arange(scores.shape[1], device=scores.device)
        accuracy = (scores.argmax(dim=1) == own).to(scores.dtype).mean()
    return loss, accuracy


def reconstruction(prediction: Tensor, target: Tensor) -> Tensor:
    """SSAST's generative loss: the mean squared error over the masked patches' values."""
    with torch.autocast(device_type=prediction.device.type, enabled=False):
        return (full(prediction) - full(target)).pow(2).mean()


class MaskedPatches(Objective):
    name = "masked_patches"
    title = "masked patches (SSAST)"
    labels = Labels.NONE
    views = 2
    monitored = True
    compared_with = ("contrastive", "hybrid")
    Options = MaskedPatchesOptions

    @classmethod
    def accepts(cls, encoder: type) -> bool:
        """Only an encoder that predicts masked patches (``masked`` and ``patchify``)."""
        return callable(getattr(encoder, "masked", None)) and callable(
            getattr(encoder, "patchify", None)
        )

    def head(self, dim: int, n_classes: int) -> nn.Module:
        # The predictors are the encoder's (SSAST's model holds them); the head passes through.
        return nn.Identity()

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        options = self.options
        masking = Masking(options.mask_ratio, options.cluster)
        # Two views as one batch, each masked on its own: the first half serves the
        # discriminative loss, the second the generative one.
        out: MaskedPrediction = model(views(clips, 2), masking=masking)
        d_pred, _ = out.discriminative.chunk(2)
        _, g_pred = out.generative.chunk(2)
        d_target, g_target = out.target.chunk(2)
        discriminative, accuracy = masked_infonce(d_pred, d_target)
        generative = reconstruction(g_pred, g_target)
        return {
            "loss": discriminative + options.generative_weight * generative,
            "discriminative": discriminative,
            "generative": generative,
            "masked_accuracy": accuracy,
        }
