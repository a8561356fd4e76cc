"""The training objectives, by name (:class:`clar.objectives.base.Objective` says what each
declares).

The paper's three: :mod:`~clar.objectives.supervised`, :mod:`~clar.objectives.contrastive`
(self-supervised) and CLAR's :mod:`~clar.objectives.hybrid`; the semi-supervised
:mod:`~clar.objectives.fixmatch` and :mod:`~clar.objectives.mean_teacher`. Others join through
``plugins.objectives`` in params.yaml (:mod:`clar.plugins`).
"""

from __future__ import annotations

from clar.objectives.base import Labels, Objective
from clar.plugins import Registry

OBJECTIVES: Registry[Objective] = Registry(
    "objective",
    "clar.objectives",
    (
        "clar.objectives.supervised",
        "clar.objectives.contrastive",
        "clar.objectives.hybrid",
        "clar.objectives.fixmatch",
        "clar.objectives.mean_teacher",
        "clar.objectives.masked_patches",
    ),
    Objective,
)

__all__ = ["OBJECTIVES", "Labels", "Objective"]
