"""What one section of params.yaml may say depends on another: checked once every section is
typed (:mod:`clar.config.sections`), in this order, stopping at the first broken rule."""

from __future__ import annotations

from pathlib import Path

from clar.config.sections import Params
from clar.errors import invalid, unknown_key
from clar.vocabulary import join_combo


def check_rules(params: Params, source: Path) -> None:
    """Raise :class:`clar.errors.ClarError` on the first rule ``params`` breaks."""
    _check_distinct(params, source)
    _check_references(params, source)
    _check_features(params, source)
    _check_batch_division(params, source)
    _check_ranges(params, source)


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


def _check_distinct(params: Params, source: Path) -> None:
    for key, values in _lists_of_distinct_values(params).items():
        _check_unique(source, key, values)
    for i, combo in enumerate(params.augmentation_study.combos):
        _check_unique(source, f"augmentation_study.combos[{i}]", combo)


def _check_references(params: Params, source: Path) -> None:
    """Names that point at another section's entries: data sets and the grid's inputs."""
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


def _check_features(params: Params, source: Path) -> None:
    """The time-frequency input against the sample rate and the clips' length."""
    features = params.features
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


def _check_batch_division(params: Params, source: Path) -> None:
    """Data-parallel: every rank takes an equal share of each global batch."""
    world = params.train.devices * params.train.nodes
    batch_sizes = {"train.batch_size": params.train.batch_size}
    for group in ("per_dataset", "per_objective"):
        for name, own in getattr(params.train, group).items():
            if own.batch_size is not None:
                batch_sizes[f"train.{group}.{name}.batch_size"] = own.batch_size
    for key, size in batch_sizes.items():
        if size % world:
            raise invalid(source, key, size, f"a multiple of train.devices x train.nodes ({world})")


def _check_ranges(params: Params, source: Path) -> None:
    augment = params.augment
    for low, high in (
        ("stretch_min_rate", "stretch_max_rate"),
        ("noise_min_snr_db", "noise_max_snr_db"),
    ):
        if getattr(augment, low) > getattr(augment, high):
            raise invalid(source, f"augment.{low}", getattr(augment, low), f"at most {high}")
