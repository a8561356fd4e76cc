"""Mean Teacher (Tarvainen & Valpola 2017, "Mean teachers are better role models") on the
labelled fraction plus the unlabelled clips, trained once per fraction.

The teacher is a copy of the student (encoder and classifier) whose weights follow the
student's as an exponential moving average after every step; it takes no gradient. Each clip
gets two independent views of the run's augmentations, the student's and the teacher's::

    loss = CE(student, y | labelled) + w(t) * mean_{b,c} (softmax(student) - softmax(teacher))^2

``w(t) = consistency * exp(-5 (1 - t)^2)``, ``t`` the share of the ramp-up done (the paper's
sigmoid ramp-up), over every clip of the batch. The teacher lives in the model (its head,
:class:`MeanTeacherHead`), so checkpoints and model.pt hold it and a resumed run goes on as an
uninterrupted one. What is scored is the student (the encoder and classifier the other
objectives' places hold), as the reference audio code (lcances/semi-supervised) selects it.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from clar.heads import ClassifierHead
from clar.losses import masked_cross_entropy
from clar.objectives.base import Labels, Objective, Views
from clar.precision import full


class MeanTeacherOptions(BaseModel):
    """``loss.options.mean_teacher``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    alpha: float = Field(0.999, ge=0, lt=1)
    """The teacher's EMA decay after the ramp-up (the paper's 0.999; lcances' 0.999)."""
    rampup_alpha: float = Field(0.99, ge=0, lt=1)
    """Its decay during the ramp-up (the paper's 0.99), so that the teacher keeps up early."""
    consistency: float = Field(1.0, ge=0)
    """The consistency weight once ramped up (lcances' lambda_ccost_max 1 for audio)."""
    rampup: float = Field(0.25, ge=0, le=1)
    """The ramp-up's length, as a share of the run's steps (lcances: 50 of 200 epochs)."""


def sigmoid_rampup(step: Tensor, length: float) -> Tensor:
    """``exp(-5 (1 - t)^2)``, ``t = min(step / length, 1)``: from e^-5 to 1 (1 at once when
    ``length`` is 0)."""
    if length <= 0:
        return torch.ones_like(step, dtype=torch.get_default_dtype())
    t = (step.to(torch.get_default_dtype()) / length).clamp(0.0, 1.0)
    return torch.exp(-5.0 * (1.0 - t) ** 2)


def ema_decay(step: Tensor, alpha: float, rampup_alpha: float, rampup_steps: float) -> Tensor:
    """The decay of the ``step``-th update (1, 2, ...): the paper's
    ``min(1 - 1 / (step + 1), alpha)``, with ``rampup_alpha`` during the ramp-up; the teacher
    is the true mean of the student's weights so far until that is the smaller."""
    cap = torch.where(step <= rampup_steps, rampup_alpha, alpha)
    return torch.minimum(1.0 - 1.0 / (step.to(cap.dtype) + 1.0), cap)


def consistency_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean squared difference of the two softmaxes ``[B, C]``, over items and classes (the
    paper's ``softmax_mse_loss`` over the batch); no gradient reaches the teacher."""
    with torch.autocast(student.device.type, enabled=False):
        p = F.softmax(full(student), dim=1)
        q = F.softmax(full(teacher).detach(), dim=1)
        return F.mse_loss(p, q)


class MeanTeacherHead(nn.Module):
    """The student's classifier, and the teacher: a frozen copy of the encoder and of that
    classifier, moved by :meth:`update`. ``step`` counts the updates (a buffer: checkpointed)."""

    def __init__(self, encoder: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.classifier = ClassifierHead(encoder.out_dim, n_classes)
        # Under the head, so the student's keys (encoder.*) stay where every other run has them.
        self.teacher = nn.ModuleList([copy.deepcopy(encoder), copy.deepcopy(self.classifier)])
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def forward(self, h: Tensor) -> Tensor:
        return self.classifier(h)

    def logits(self, h: Tensor) -> Tensor:
        return self.classifier(h)

    @torch.no_grad()
    def teach(self, inputs: Tensor) -> Tensor:
        """The teacher's logits for the encoder's inputs ``[B, ...]``."""
        encoder, classifier = self.teacher
        return classifier(encoder(inputs))

    @torch.no_grad()
    def update(self, student_encoder: nn.Module, decay: Tensor) -> None:
        """``teacher <- decay * teacher + (1 - decay) * student``, parameter by parameter."""
        students = [*student_encoder.parameters(), *self.classifier.parameters()]
        for teacher, student in zip(self.teacher.parameters(), students, strict=True):
            teacher.lerp_(student, (1.0 - decay).to(teacher.dtype))


class MeanTeacher(Objective):
    name = "mean_teacher"
    title = "Mean Teacher"
    labels = Labels.FRACTION_AND_UNLABELLED
    views = 2
    forward_only = 1  # the teacher's view: the planner counts it as a forward pass
    own_classifier = True
    # Its held-out curve (E4) beside CLAR's: the consistency term only weighs in after its
    # ramp-up, which the final number alone does not show.
    monitored = True
    compared_with = ("hybrid", "supervised")
    Options = MeanTeacherOptions
    rampup_steps: float = 0.0

    def build(self, encoder: nn.Module, n_classes: int) -> nn.Module:
        return MeanTeacherHead(encoder, n_classes)

    def schedule(self, steps_per_epoch: int, epochs: int) -> None:
        self.rampup_steps = self.options.rampup * steps_per_epoch * epochs

    def loss(
        self, model: nn.Module, clips: Tensor, labels: Tensor, views: Views
    ) -> dict[str, Tensor]:
        inner = self.unwrap(model)
        head: MeanTeacherHead = inner.head
        student_views, teacher_views = views(clips, 2).chunk(2)
        student = self.gather(model(student_views))
        teacher = self.gather(head.teach(inner.front(teacher_views)))
        supervised = masked_cross_entropy(student, self.gather(labels))
        consistency = consistency_loss(student, teacher)
        weight = self.options.consistency * sigmoid_rampup(head.step, self.rampup_steps)
        return {
            "loss": supervised + weight * consistency,
            "supervised": supervised,
            "consistency": consistency,
        }

    def after_step(self, model: nn.Module) -> None:
        head: MeanTeacherHead = model.head
        head.step += 1
        o = self.options
        head.update(model.encoder, ema_decay(head.step, o.alpha, o.rampup_alpha, self.rampup_steps))
