"""params.yaml, validated once at the edge into typed, frozen objects.

Every stage starts with :func:`load_params`; the library below it takes these objects or plain
arguments. Each section of params.yaml is one pydantic model whose fields carry their types and
ranges; unknown keys are refused at every level. A bad value stops the stage with one line
naming the key, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from clar import layout
from clar.errors import ClarError, invalid, unknown_key
from clar.vocabulary import (
    AUGMENTATIONS,
    DEVICES,
    FADE_SHAPES,
    FEATURE_CHANNELS,
    NOISE_COLOURS,
    join_combo,
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
    """The 3-channel time-frequency input of PAPER.md (see :mod:`clar.features`)."""

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
    # A study's own batch size, learning rate ... per objective (README "Settings per objective").
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
    minute), later steps are faster on a GPU (README "Benchmark" measures by how much)."""

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


def _tuples(value: Any) -> Any:
    """YAML lists as tuples (strict models take tuples only), recursively."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _datasets(raw: Any) -> Any:
    """``{name: {kind, clip_seconds, **options}}`` -> ``{name: {name, kind, clip_seconds,
    options}}``: the loader options stay together for the registry to check."""
    if not isinstance(raw, Mapping):
        return raw
    out = {}
    for name, entry in raw.items():
        if isinstance(entry, Mapping):
            own = ("kind", "clip_seconds")
            entry = {
                "name": name,
                **{k: entry[k] for k in own if k in entry},
                "options": {k: v for k, v in entry.items() if k not in own},
            }
        out[name] = entry
    return out


def _key(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _field_names(loc: tuple) -> list[str]:
    """The keys allowed where ``loc`` points (the fields of the section that holds it)."""
    model: Any = Params
    for part in loc[:-1]:
        is_section = isinstance(model, type) and issubclass(model, BaseModel)
        fields = model.model_fields if is_section else {}
        if part in fields:  # else a list index or a key of a mapping such as datasets:
            annotation = fields[part].annotation
            args = getattr(annotation, "__args__", ())
            model = args[-1] if args and isinstance(args[-1], type) else annotation
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [n for n, f in model.model_fields.items() if not f.exclude and n != "name"]
    return []


_ALLOWED = {
    "greater_than": lambda c: f"> {c['gt']:g}",
    "greater_than_equal": lambda c: f">= {c['ge']:g}",
    "less_than": lambda c: f"< {c['lt']:g}",
    "less_than_equal": lambda c: f"<= {c['le']:g}",
    "literal_error": lambda c: c["expected"].replace("'", "").replace(" or ", ", "),
    "too_short": lambda c: f"at least {c['min_length']} item(s)",
}
_TYPES = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
}


def _one_line(error: ValidationError, source: Path) -> ClarError:
    """The first problem of a validation error as one line: key, value, what is allowed."""
    first = error.errors()[0]
    loc, kind = first["loc"], first["type"]
    key = _key(loc)
    if kind == "missing":
        return ClarError(f"{source}: missing key {key}")
    if kind == "extra_forbidden":
        return unknown_key(source, key, _field_names(loc))
    if kind == "literal_error" and loc[-1] == "[key]":  # a mapping keyed by names: grid.fractions
        allowed = _ALLOWED[kind](first["ctx"]).split(", ")
        return unknown_key(source, _key(loc[:-1]), allowed)
    if kind in _ALLOWED:
        allowed = _ALLOWED[kind](first.get("ctx", {}))
    else:
        allowed = _TYPES.get(kind, first["msg"])
    return invalid(source, key, first["input"], allowed)


def _check_members(source: Path, key: str, values: tuple, allowed: tuple) -> None:
    for i, value in enumerate(values):
        if value not in allowed:
            raise invalid(source, f"{key}[{i}]", value, ", ".join(allowed) or "none defined")


def _check_unique(source: Path, key: str, values: tuple) -> None:
    """A list that names runs or stages says each value once: a repeat would train twice."""
    for i, value in enumerate(values):
        if value in values[:i]:
            first = values.index(value)
            raise invalid(source, f"{key}[{i}]", value, f"each value once; it is {key}[{first}]")


def _lists_of_distinct_values(params: Params) -> dict[str, tuple]:
    grid, study, loss = params.grid, params.augmentation_study, params.loss
    return {
        "data.names": params.data.names,
        "features.channels": params.features.channels,
        "grid.inputs": grid.inputs,
        **{f"grid.fractions.{i}": fractions for i, fractions in grid.fractions.items()},
        "grid.seeds": grid.seeds,
        "grid.augmentations": grid.augmentations,
        "augmentation_study.datasets": study.datasets,
        "augmentation_study.combos": tuple(join_combo(c) for c in study.combos),
        "loss.fraction_trained": loss.fraction_trained,
        "loss.label_free": loss.label_free,
    }


def parse_params(raw: Mapping[str, Any], source: Path = layout.PARAMS) -> Params:
    """Validate the whole of params.yaml; raise :class:`ClarError` on the first bad value."""
    if not isinstance(raw, Mapping):
        raise ClarError(f"{source}: the top level must be a mapping, got {raw!r}")
    raw = {**_tuples(raw), "source": source}
    raw["datasets"] = _datasets(raw.get("datasets"))
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        raise _one_line(error, source) from None
    # What one section may say depends on another: checked once the sections are typed.
    for key, values in _lists_of_distinct_values(params).items():
        _check_unique(source, key, values)
    for i, combo in enumerate(params.augmentation_study.combos):
        _check_unique(source, f"augmentation_study.combos[{i}]", combo)
    defined = tuple(params.datasets)
    _check_members(source, "data.names", params.data.names, defined)
    # A misspelt name would leave its data set on the common epochs and batch size, unsaid.
    for name in params.train.per_dataset:
        if name not in defined:
            what = "a data set under datasets:"
            raise unknown_key(source, f"train.per_dataset.{name}", list(defined), what)
    for input in params.grid.inputs:
        if not params.grid.fractions.get(input):
            raise invalid(
                source, f"grid.fractions.{input}", None, "a list of label fractions in (0, 100]"
            )
    study = params.augmentation_study
    _check_members(source, "augmentation_study.datasets", study.datasets, params.data.names)
    features, augment = params.features, params.augment
    if features.f_max > params.prepare.sample_rate / 2 or features.f_min >= features.f_max:
        allowed = f"above f_min ({features.f_min:g}) and at most prepare.sample_rate / 2"
        raise invalid(source, "features.f_max", features.f_max, allowed)
    rate = params.prepare.sample_rate
    # The STFT needs a window of 2 samples and a hop of 1 once rounded at the sample rate.
    for name, samples in (("window_ms", 2), ("hop_ms", 1)):
        if round(rate * getattr(features, name) / 1000) < samples:
            least = f">= {(samples - 0.5) * 1000 / rate:g} ({samples} sample(s) at {rate} Hz)"
            raise invalid(source, f"features.{name}", getattr(features, name), least)
    # torch.stft pads each end by half a window, reflected: the clip must be longer than that.
    half_window = round(rate * features.window_ms / 1000) // 2
    for name in params.data.names:
        seconds = params.datasets[name].clip_seconds
        if round(seconds * rate) <= half_window:
            least = f"> {half_window / rate:g} (half of features.window_ms)"
            raise invalid(source, f"datasets.{name}.clip_seconds", seconds, least)
    # Data-parallel: every rank takes an equal share of each global batch.
    world = params.train.devices * params.train.nodes
    batch_sizes = {"train.batch_size": params.train.batch_size}
    for group in ("per_dataset", "per_objective"):
        for name, own in getattr(params.train, group).items():
            if own.batch_size is not None:
                batch_sizes[f"train.{group}.{name}.batch_size"] = own.batch_size
    for key, size in batch_sizes.items():
        if size % world:
            raise invalid(source, key, size, f"a multiple of train.devices x train.nodes ({world})")
    for low, high in (
        ("stretch_min_rate", "stretch_max_rate"),
        ("noise_min_snr_db", "noise_max_snr_db"),
    ):
        if getattr(augment, low) > getattr(augment, high):
            raise invalid(source, f"augment.{low}", getattr(augment, low), f"at most {high}")
    return params


def load_params(path: Path | str = layout.PARAMS) -> Params:
    """Read and validate params.yaml (the file DVC tracks)."""
    path = Path(path)
    if not path.exists():
        raise ClarError(f"{path}: not found; run from the project root (where dvc.yaml is)")
    with path.open() as fh:
        try:
            raw = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            raise ClarError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    return parse_params(raw or {}, path)
