"""What an objective declares, so that training, the planner, the report and the HEAR export
can use any without knowing its name.

A subclass of :class:`Objective` says:

- ``name``: how params.yaml (``loss.*``), run folders and the report call it; ``title``: its
  name in the report's tables;
- ``labels``: which labels it trains on. ``NONE``: none; it trains once per seed and its frozen
  encoder is scored at every label fraction. ``FRACTION``: the labelled fraction only; it trains
  once per fraction and cycles through its labelled clips. ``FRACTION_AND_UNLABELLED``: every
  training clip, those outside the fraction with label -1; once per fraction;
- ``views``: the augmented views of each clip one step puts through the network;
  ``forward_only``: how many of them take no backward pass (a teacher's), for the planner;
- ``labelled_batch(batch)``: how many clips of each batch are drawn apart from the labelled
  ones (FixMatch's B beside its mu B); by default none, one draw from the pool;
- ``head(dim, n_classes)``: the head it adds to the encoder; ``build(encoder, n_classes)``, the
  head given the encoder itself (by default ``head(encoder.out_dim, n_classes)``), for a head
  that keeps its own copy of it (a mean teacher);
- ``schedule(steps_per_epoch, epochs)``: told the length of the run before it trains;
- ``loss(model, clips, labels, views)``: its loss on one batch, with any parts to log;
- ``after_step(model)``: run after every optimiser step (e.g. a momentum target's update);
- ``own_classifier``: its head gives class logits (``head.logits(h)``), scored besides the
  evaluation head;
- ``monitored``: its grid runs log a held-out probe every ``train.eval_every`` epochs (E4);
- ``compared_with``: the objectives the report sets it against, paired, at each fraction;
- ``Options``: a pydantic model of its own parameters, given in ``loss.options.<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import ClassVar, Protocol

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from clar import distributed
from clar.errors import ClarError


class Views(Protocol):
    """``views(clips, n)``: n augmented views of each clip ``[B, T]``, ``[n * B, T]`` view by
    view, with the run's augmentations (``grid.augmentations``); ``augmentations=(...)`` names
    others (of :data:`clar.vocabulary.AUGMENTATIONS`; ``()``: the clips unchanged), for an
    objective whose views differ in kind (FixMatch's weak and strong)."""

    def __call__(
        self, clips: Tensor, n: int, augmentations: Sequence[str] | None = None
    ) -> Tensor: ...


class Labels(StrEnum):
    NONE = "none"
    FRACTION = "fraction"
    FRACTION_AND_UNLABELLED = "fraction+unlabelled"


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Objective:
    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    labels: ClassVar[Labels] = Labels.NONE
    views: ClassVar[int] = 2
    forward_only: ClassVar[int] = 0
    own_classifier: ClassVar[bool] = False
    monitored: ClassVar[bool] = False
    compared_with: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(
        self, temperature: float = 0.5, negatives: str = "global", options: BaseModel | None = None
    ) -> None:
        self.temperature = temperature
        self.negatives = negatives
        self.options = options if options is not None else self.Options()

    @classmethod
    def label_free(cls) -> bool:
        """Trained on no labels: once per seed, scored at every fraction."""
        return cls.labels == Labels.NONE

    @classmethod
    def check(cls, key: str) -> None:
        """Refuse a declaration the pipeline cannot use, naming the parameter ``key``."""
        if not isinstance(cls.views, int) or cls.views < 1:
            raise ClarError(f"{key}: {cls.__name__}.views = {cls.views!r}; give 1 or more")
        if not isinstance(cls.forward_only, int) or not 0 <= cls.forward_only <= cls.views:
            raise ClarError(
                f"{key}: {cls.__name__}.forward_only = {cls.forward_only!r}; give 0 to views "
                f"({cls.views})"
            )
        if not isinstance(cls.labels, Labels):
            allowed = ", ".join(f"Labels.{m.name}" for m in Labels)
            raise ClarError(f"{key}: {cls.__name__}.labels = {cls.labels!r}; allowed: {allowed}")

    def pool(self, labelled: Tensor) -> Tensor:
        """The training clips its batches are drawn from, as indices: ``labelled`` ``[N]`` bool
        marks the clips of the run's label fraction."""
        if self.labels == Labels.FRACTION:
            return labelled.nonzero().squeeze(1)
        return torch.arange(len(labelled), device=labelled.device)

    def training_labels(self, labels: Tensor, labelled: Tensor) -> Tensor:
        """The labels a batch carries ``[N]``: -1 outside the fraction where the objective also
        trains on unlabelled clips (a label-free objective is given none to read)."""
        if self.labels == Labels.NONE:
            return torch.full_like(labels, -1)
        if self.labels == Labels.FRACTION:
            return labels
        return torch.where(labelled, labels, -1)

    def labelled_batch(self, batch: int) -> int:
        """How many clips of each global batch of ``batch`` the loop draws apart, from the
        labelled clips, labels shown (FixMatch's B beside its mu B); the rest come from
        :meth:`pool` with every label hidden (-1). 0, the default: the whole batch from the
        pool, each clip with its :meth:`training_labels`."""
        return 0

    def head(self, dim: int, n_classes: int) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__}.head")

    @classmethod
    def accepts(cls, encoder: type) -> bool:
        """Whether it can train the encoder class ``encoder`` (every one, unless it says not):
        the grid leaves out the pairings it refuses (:func:`clar.grid.skipped_cells`)."""
        return True

    def build(self, encoder: nn.Module, n_classes: int) -> nn.Module:
        """The head of a model on ``encoder`` (an :class:`clar.encoders.base.Encoder`); what
        :func:`clar.models.build_model` calls. A head that needs the encoder itself (a mean
        teacher's copy of it) overrides this; others give :meth:`head`."""
        return self.head(encoder.out_dim, n_classes)

    def schedule(self, steps_per_epoch: int, epochs: int) -> None:
        """Told once, before training, the run's optimisation steps per epoch and its epochs
        (for a loss that changes over the run, e.g. a ramp-up); nothing by default."""

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        """The loss of one batch of clips ``[B, T]`` with labels ``[B]`` (-1: none): ``{"loss":
        scalar, other parts to log}``.

        Under data parallelism each rank holds its share of the global batch, and every rank
        computes the loss of the global batch: gather outputs and labels from all ranks
        (:meth:`gather`, gradients kept) before the loss sees them.
        """
        raise NotImplementedError(f"{type(self).__name__}.loss")

    def after_step(self, model: nn.Module) -> None:
        """Called after each optimiser step; nothing by default."""

    @staticmethod
    def unwrap(model: nn.Module) -> nn.Module:
        """The model inside the loop's network (``torch.compile`` and DDP wrappers removed), for
        a loss that reaches a part of it other than ``model(x)`` (a teacher's forward)."""
        model = getattr(model, "_orig_mod", model)
        return getattr(model, "module", model)

    @staticmethod
    def gather(x: Tensor) -> Tensor:
        """``x`` of every rank, concatenated in rank order, gradients kept (one process: ``x``)."""
        return distributed.gather(x)

    def negatives_of(self, z: Tensor) -> Tensor:
        """The views a contrastive loss sets against each other: the global batch's, or under
        ``train.negatives = per_rank`` the rank's own (the official code's per-GPU negatives)."""
        return self.gather(z) if self.negatives == "global" else z
