"""Which runs the parameters define: the one expansion of the paper's grid and study.

- E2-E4, the grid: one cell per data set, encoder (``grid.inputs``) and objective (``loss.*``),
  the output of one training stage. Objectives that use labels train one run per label
  fraction and seed; label-free ones one run per seed, its frozen encoder scored at every
  fraction.
- E1, the augmentation study: ``augmentation_study.objective`` (the paper's contrastive) with
  each combination of ``augmentation_study.combos``, scored at 100 % labels.

The stages, the report's completeness check and selection of runs, the planner and the test
of dvc.yaml all take the runs from here. :func:`load_methods` registers the plug-ins params.yaml
names and checks every method name against the registries, once, at the edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from clar import layout, runs
from clar.config import Params
from clar.encoders import ENCODERS
from clar.errors import ClarError, invalid, unknown_key
from clar.heads import HEADS
from clar.objectives import OBJECTIVES
from clar.runs import Run
from clar.vocabulary import FULL_FRACTION

SKIPPED_FILE = "skipped.json"
"""What the stage of a skipped cell writes into its output folder instead of runs."""


@dataclass(frozen=True)
class Cell:
    """One training stage's runs: ``experiment`` (grid or augmentation study), the data set,
    and for the grid the encoder and the objective."""

    experiment: str
    dataset: str
    input: str
    objective: str


@dataclass(frozen=True)
class Scored:
    """A run and the label fractions its evaluation head is fitted at."""

    run: Run
    fractions: tuple[float, ...]


def load_methods(params: Params) -> None:
    """Register ``plugins.*`` and check that every method params.yaml names is known and used
    as it declares (a label-free objective under ``loss.label_free`` and only there).

    Raises:
        ClarError: one line naming the key, the value and what is known.
    """
    source, plugins = params.source, params.plugins
    OBJECTIVES.add_specs(plugins.objectives, f"{source}: plugins.objectives")
    ENCODERS.add_specs(plugins.encoders, f"{source}: plugins.encoders")
    HEADS.add_specs(plugins.heads, f"{source}: plugins.heads")
    loss = params.loss
    for key, names, label_free in (
        ("loss.fraction_trained", loss.fraction_trained, False),
        ("loss.label_free", loss.label_free, True),
    ):
        for i, name in enumerate(names):
            cls = OBJECTIVES.get(name, f"{source}: {key}[{i}]")
            if cls.label_free() != label_free:
                other = "loss.label_free" if cls.label_free() else "loss.fraction_trained"
                raise invalid(source, f"{key}[{i}]", name, f"it is listed under {other}")
    for i, name in enumerate(params.grid.inputs):
        ENCODERS.get(name, f"{source}: grid.inputs[{i}]")
    for name in params.grid.fractions:
        if name not in ENCODERS.names():
            raise unknown_key(source, f"grid.fractions.{name}", ENCODERS.names(), "an encoder")
    study = params.augmentation_study
    ENCODERS.get(study.input, f"{source}: augmentation_study.input")
    OBJECTIVES.get(study.objective, f"{source}: augmentation_study.objective")
    HEADS.get(params.evaluate.head, f"{source}: evaluate.head")
    for i, name in enumerate(params.evaluate.extra_heads):
        HEADS.get(name, f"{source}: evaluate.extra_heads[{i}]")
        if name == params.evaluate.head or name in params.evaluate.extra_heads[:i]:
            raise invalid(
                source,
                f"evaluate.extra_heads[{i}]",
                name,
                "a head other than evaluate.head, each once",
            )
    for name in params.train.per_objective:
        # A key naming no objective would apply to no run: refused, with the names allowed.
        if name not in OBJECTIVES.names():
            key = f"train.per_objective.{name}"
            raise unknown_key(source, key, OBJECTIVES.names(), "an objective")
    for name in loss.options:
        objective_options(params, name)


def objective_options(params: Params, name: str) -> BaseModel:
    """``loss.options.<name>`` validated by the objective's own ``Options`` model."""
    cls = OBJECTIVES.get(name, f"{params.source}: loss.options.{name}")
    try:
        return cls.Options.model_validate(dict(params.loss.options.get(name, {})))
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(p) for p in ("loss.options", name, *first["loc"]))
        raise ClarError(f"{params.source}: {key}: {first['msg']}") from None


def objectives(params: Params) -> tuple[str, ...]:
    """The grid's objectives: those trained per fraction, then the label-free ones."""
    return (*params.loss.fraction_trained, *params.loss.label_free)


def accepts(objective: str, input: str) -> bool:
    """The objective can train the encoder (``Objective.accepts``; any, unless it says not)."""
    return OBJECTIVES.get(objective).accepts(ENCODERS.get(input))


def _crossed(params: Params) -> list[Cell]:
    # dvc.yaml's matrices: every data set x encoder x objective, trainable or not.
    return [
        Cell(runs.GRID, dataset, input, objective)
        for dataset in params.data.names
        for input in params.grid.inputs
        for objective in objectives(params)
    ]


def grid_cells(params: Params) -> list[Cell]:
    """Every cell of the E2-E4 grid, in the order of dvc.yaml's stages; a pairing of an
    objective with an encoder it does not accept is no cell (:func:`skipped_cells`)."""
    return [c for c in _crossed(params) if accepts(c.objective, c.input)]


def skipped_cells(params: Params) -> list[Cell]:
    """The stages dvc.yaml's matrices make whose objective does not accept the encoder (e.g.
    masked patches on a ResNet): each writes only a note of why (:data:`SKIPPED_FILE`)."""
    return [c for c in _crossed(params) if not accepts(c.objective, c.input)]


def skip_reason(cell: Cell) -> str:
    return (
        f"objective {cell.objective!r} does not train encoder {cell.input!r} (it needs "
        f"what that encoder does not offer); this stage trains nothing"
    )


def cell_runs(params: Params, dataset: str, input: str, objective: str) -> list[Scored]:
    """The runs of one grid cell, every seed, in training order."""
    seeds, views = params.grid.seeds, params.grid.augmentations
    fractions = params.grid.fractions_for(input)
    if OBJECTIVES.get(objective).label_free():
        return [
            Scored(runs.grid_run(dataset, input, objective, None, seed, views), fractions)
            for seed in seeds
        ]
    return [
        Scored(runs.grid_run(dataset, input, objective, f, seed, views), (f,))
        for seed in seeds
        for f in fractions
    ]


def study_runs(params: Params, dataset: str) -> list[Scored]:
    """E1 on ``dataset``: every combination of ``augmentation_study.combos``."""
    study = params.augmentation_study
    return [
        Scored(
            Run(dataset, study.input, study.objective, FULL_FRACTION, study.seed, combo),
            (FULL_FRACTION,),
        )
        for combo in study.combos
    ]


def study_cells(params: Params) -> list[Cell]:
    """One augmentation-study stage per data set of ``augmentation_study.datasets``."""
    study = params.augmentation_study
    return [
        Cell(runs.AUGMENTATION, dataset, study.input, study.objective) for dataset in study.datasets
    ]


def monitored(experiment: str, objective: str) -> bool:
    """A run logs the held-out probe (the E4 curve): a grid run of a ``monitored`` objective."""
    return experiment == runs.GRID and OBJECTIVES.get(objective).monitored


def stage_name(cell: Cell) -> str:
    """The dvc.yaml stage that trains ``cell``: ``train@`` (objectives trained per fraction),
    ``pretrain@`` (label-free ones) or ``augmentation-study@``."""
    if cell.experiment == runs.AUGMENTATION:
        return f"{layout.AUGMENTATION_STUDY}@{cell.dataset}"
    group = layout.PRETRAIN if OBJECTIVES.get(cell.objective).label_free() else layout.TRAIN
    return f"{group}@{cell.dataset}-{cell.input}-{cell.objective}"


def cell_scored(params: Params, cell: Cell) -> list[Scored]:
    if cell.experiment == runs.AUGMENTATION:
        return study_runs(params, cell.dataset)
    return cell_runs(params, cell.dataset, cell.input, cell.objective)


def every_run(params: Params) -> Iterator[tuple[Cell, Scored]]:
    """Every run the parameters define with its cell: the grid, then the study."""
    for cell in (*grid_cells(params), *study_cells(params)):
        for scored in cell_scored(params, cell):
            yield cell, scored
