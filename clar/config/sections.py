"""The sections of params.yaml as pydantic models: each field's type and range, with the
paper's defaults where it has one. Rules that tie one section to another are in
:mod:`clar.config.rules`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from clar import layout
from clar.errors import ClarError
from clar.vocabulary import (
    AUGMENTATIONS,
    DEVICES,
    FADE_SHAPES,
    FEATURE_CHANNELS,
    NOISE_COLOURS,
    split_combo,
)

# An encoder, objective or evaluation head, by its registered name: checked against the
# registries, plug-ins included, by clar.grid.load_methods.
Name = Annotated[str, Field(min_length=1)]
Input = Name
Augmentation = Literal[AUGMENTATIONS]
# An E1 cell is written "fade+time_mask" in params.yaml and read as ("fade", "time_mask").
Combo = Annotated[
    tuple[Augmentation, ...],
    BeforeValidator(lambda text: split_combo(text) if isinstance(text, str) else text),
]
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
# A learning rate: the official code's LARS rate is 1.0; far above it no optimiser here trains,
# and the loss can stay finite for several epochs before it overflows.
Rate = Annotated[float, Field(gt=0, le=10)]


class Section(BaseModel):
    """A section of params.yaml: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DatasetParams(Section):
    """One entry of ``datasets:``: a loader kind and the options that loader takes.

    The kind and its options are checked against the registry when the data set is prepared
    or listed (:func:`clar.data.registry.resolve_options`), so that only the prepare stage
    depends on the loaders' code.
    """

    name: str
    kind: str
    clip_seconds: Positive
    options: Mapping[str, Any] = Field(default_factory=dict)


class DataParams(Section):
    names: tuple[str, ...] = Field(min_length=1)


class PrepareParams(Section):
    sample_rate: int = Field(ge=1000)
    split_seed: Count
    valid_fraction: float = Field(gt=0, le=0.5)
    skip_bad_files: bool
    clip_loud: bool = False
    """Float files with samples beyond full scale (|x| > 1) are refused; true clips those
    samples at full scale instead and prepare says how many."""


class FeatureParams(Section):
    """The 3-channel time-frequency input of the paper (see :mod:`clar.features`)."""

    window_ms: Positive
    hop_ms: Positive
    n_bins: int = Field(ge=1)
    f_min: Positive  # the bands are log-spaced from f_min
    f_max: Positive
    channels: tuple[Literal[FEATURE_CHANNELS], ...] = Field(min_length=1)
    max_gb: float = Field(ge=0)


class AugmentParams(Section):
    """Every range of the six augmentations, with the paper's (or official code's) defaults."""

    probability: float = Field(0.5, ge=0, le=1)
    """Chance that each example gets each selected augmentation (official code: 0.5)."""
    fade_max_fraction: float = Field(0.5, ge=0, le=0.5)
    fade_shapes: tuple[Literal[FADE_SHAPES], ...] = Field(FADE_SHAPES[:3], min_length=1)
    mask_fraction: float = Field(0.125, ge=0, le=1)
    mask_std: float = Field(0.01, ge=0)
    stretch_min_rate: Positive = 0.5
    stretch_max_rate: Positive = 1.5
    stretch_buckets: int | None = Field(None, ge=1)
    pitch_max_semitones: float = Field(15.0, ge=0, le=24)
    pitch_buckets: int = Field(31, ge=1)
    shift_max_fraction: float = Field(0.5, ge=0, le=1)
    noise_min_snr_db: float = 0.0
    noise_max_snr_db: float = 20.0
    noise_colours: tuple[Literal[NOISE_COLOURS], ...] = Field(NOISE_COLOURS, min_length=1)
    identical_views: Literal["keep", "redraw"] = "keep"
    """A positive pair whose two views drew no augmentation is the clip twice: ``keep`` it (the
    official code), or ``redraw`` its coins (:func:`clar.augment.transforms.draw_coins`)."""


class PerDataset(Section):
    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=2)


class PerObjective(PerDataset):
    """``train.per_objective.<objective>``: applied over ``train`` and ``train.per_dataset``."""

    lr: Rate | None = None
    weight_decay: float | None = Field(None, ge=0)
    lars: bool | None = None
    warmup_epochs: Count | None = None


class TrainParams(Section):
    width: float = Field(gt=0, le=4)
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=2)
    lr: Rate
    weight_decay: float = Field(ge=0)
    lars: bool
    warmup_epochs: Count
    temperature: Positive
    checkpoint_every: int = Field(ge=1)
    eval_every: int = Field(ge=1)
    device: Literal[DEVICES]
    per_dataset: Mapping[str, PerDataset] = Field(default_factory=dict)
    # A study's own batch size, learning rate ... per objective (docs/method.md).
    per_objective: Mapping[Name, PerObjective] = Field(default_factory=dict)
    devices: int = Field(1, ge=1)
    """Processes per node, one per device; above 1 trains data-parallel (clar.distributed)."""
    nodes: int = Field(1, ge=1)
    negatives: Literal["global", "per_rank"] = "global"
    """NT-Xent's negatives when data-parallel: the global batch's views or the rank's own."""
    device_clips_gb: float = Field(16.0, ge=0)
    """The most device memory a split's int16 clips may take; a bigger split streams its batches
    from the host (clar.data.clips)."""
    compile: bool = False
    """Train through ``torch.compile``: each run's first steps compile its network (about a
    minute), later steps are faster on a GPU (docs/planning.md: the bench measures by how much)."""

    @property
    def device_clips_bytes(self) -> float:
        """``device_clips_gb`` in bytes, as :class:`clar.data.clips.Clips` takes it."""
        return self.device_clips_gb * 1e9

    def for_run(self, dataset: str, objective: str | None = None) -> TrainParams:
        """The data set's own settings, then the objective's over them. The result holds neither
        mapping, so that a run's fingerprint and run.json say what it trained with."""
        changes: dict = {}
        for own in (self.per_dataset.get(dataset), self.per_objective.get(objective)):
            changes |= own.model_dump(exclude_none=True) if own else {}
        return self.model_copy(update={"per_dataset": {}, "per_objective": {}, **changes})


class EvaluateParams(Section):
    head: Name
    epochs: int = Field(ge=1)
    lr: Rate
    batch_size: int = Field(ge=2)
    selection: Literal["fraction", "full_validation", "last_epoch"] = "fraction"
    """The head's epoch: best on the validation clips the run's label fraction keeps, best on
    every validation clip, or the last (:func:`clar.probe.selection_clips`)."""
    extra_heads: tuple[Name, ...] = ()
    """Evaluation heads scored beside ``head`` on the same embeddings, into files of their own
    (:func:`clar.runs.probe_file`) and the report's head table (:mod:`clar.report.heads`)."""


Fraction = Annotated[float, Field(gt=0, le=100)]


class GridParams(Section):
    """The E2-E4 grid: data sets x inputs x objectives x fractions x seeds, and the
    augmentations of every grid run's views.

    ``fractions`` is per input: E2 needs both inputs at 100 % only, E3 and E4 need the low
    fractions, and on a CPU the raw encoder costs several times the spectrogram one.
    """

    inputs: tuple[Input, ...] = Field(min_length=1)
    fractions: Mapping[Input, tuple[Fraction, ...]]
    seeds: tuple[Count, ...] = Field(min_length=1)
    augmentations: tuple[Augmentation, ...]

    def fractions_for(self, input: str) -> tuple[float, ...]:
        """The label fractions the grid trains and scores ``input`` runs at, ascending."""
        return tuple(sorted(self.fractions[input]))


class AugmentationStudyParams(Section):
    """E1: contrastive training with each single augmentation and each pair."""

    datasets: tuple[str, ...]
    combos: tuple[Combo, ...]
    input: Input
    seed: Count
    objective: Name = "contrastive"
    """The objective every E1 run trains with: the paper's is the contrastive one."""


class LossParams(Section):
    """Which objectives train: those that use labels once per fraction, label-free ones once;
    ``options.<name>``: an objective's own parameters (its ``Options`` model checks them)."""

    fraction_trained: tuple[Name, ...]
    label_free: tuple[Name, ...]
    options: Mapping[str, Mapping[str, Any]] = Field(default_factory=dict)


class PluginParams(Section):
    """Methods of one's own, as ``path/to/file.py:Class`` or ``module:Class`` (clar.plugins)."""

    objectives: tuple[str, ...] = ()
    encoders: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()


class ReportParams(Section):
    allow_incomplete: bool
    """Report without the evaluations the parameters call for and the runs lack, listing them,
    instead of refusing (:mod:`clar.report.completeness`)."""


class Params(Section):
    profile: str
    data: DataParams
    datasets: Mapping[str, DatasetParams]
    prepare: PrepareParams
    features: FeatureParams
    augment: AugmentParams
    train: TrainParams
    evaluate: EvaluateParams
    grid: GridParams
    augmentation_study: AugmentationStudyParams
    loss: LossParams
    report: ReportParams
    plugins: PluginParams = PluginParams()
    source: Path = Field(layout.PARAMS, exclude=True)

    def dataset(self, name: str) -> DatasetParams:
        if name not in self.datasets:
            raise ClarError(
                f"{self.source}: data set '{name}' is not defined under datasets:; "
                f"defined: {', '.join(sorted(self.datasets))}"
            )
        return self.datasets[name]
