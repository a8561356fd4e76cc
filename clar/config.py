"""params.yaml, validated once at the edge into typed, frozen objects.

Every stage starts with :func:`load_params`; the library below it takes plain arguments. A bad
value stops the stage with one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from clar.augment import AUGMENTATIONS, FADE_SHAPES, NOISE_COLOURS, AugmentParams
from clar.data.registry import KINDS, option_defaults
from clar.errors import ClarError

INPUTS = ("raw", "spectrogram")
FRACTION_TRAINED = ("supervised", "hybrid")
LABEL_FREE = ("contrastive",)
OBJECTIVES = FRACTION_TRAINED + LABEL_FREE
FEATURE_CHANNELS = ("log_stft", "phase", "log_mel")
HEADS = ("mlp", "linear")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DatasetParams:
    """One entry of ``datasets:``: a registered kind and the options its loader takes."""

    name: str
    kind: str
    clip_seconds: float
    options: Mapping[str, Any]


@dataclass(frozen=True)
class PrepareParams:
    sample_rate: int
    split_seed: int
    valid_fraction: float
    skip_bad_files: bool


@dataclass(frozen=True)
class FeatureParams:
    """The 3-channel time-frequency input of PAPER.md (see :mod:`clar.features`)."""

    window_ms: float
    hop_ms: float
    n_bins: int
    f_min: float
    f_max: float
    channels: tuple[str, ...]
    max_gb: float


@dataclass(frozen=True)
class TrainParams:
    width: float
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    lars: bool
    warmup_epochs: int
    temperature: float
    checkpoint_every: int
    eval_every: int
    device: str
    per_dataset: Mapping[str, Mapping[str, int]]

    def for_dataset(self, name: str) -> TrainParams:
        """These parameters with the data set's own epochs / batch size, where it has them."""
        return replace(self, per_dataset={}, **self.per_dataset.get(name, {}))


@dataclass(frozen=True)
class EvaluateParams:
    head: str
    epochs: int
    lr: float
    batch_size: int


@dataclass(frozen=True)
class GridParams:
    """The E2/E3 grid: data sets x inputs x objectives x fractions x seeds."""

    inputs: tuple[str, ...]
    fractions: tuple[float, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class AugmentationStudyParams:
    """E1: contrastive training with each single augmentation and each pair."""

    datasets: tuple[str, ...]
    combos: tuple[tuple[str, ...], ...]
    input: str
    seed: int


@dataclass(frozen=True)
class Params:
    profile: str
    data: tuple[str, ...]
    datasets: Mapping[str, DatasetParams]
    prepare: PrepareParams
    features: FeatureParams
    augment: AugmentParams
    augment_names: tuple[str, ...]
    train: TrainParams
    evaluate: EvaluateParams
    fraction_trained: tuple[str, ...]
    label_free: tuple[str, ...]
    grid: GridParams
    augmentation_study: AugmentationStudyParams
    source: Path = field(default=Path("params.yaml"))

    def dataset(self, name: str) -> DatasetParams:
        if name not in self.datasets:
            raise ClarError(
                f"{self.source}: data set '{name}' is not defined under datasets:; "
                f"defined: {', '.join(sorted(self.datasets))}"
            )
        return self.datasets[name]


class _Reader:
    """Pulls typed values out of the raw mapping, naming the full key path on failure."""

    def __init__(self, raw: Mapping[str, Any], source: Path, prefix: str = "") -> None:
        if not isinstance(raw, Mapping):
            raise ClarError(f"{source}: {prefix or 'top level'} must be a mapping, got {raw!r}")
        self.raw, self.source, self.prefix = raw, source, prefix

    def key(self, name: str | int) -> str:
        if isinstance(name, int):  # an item of a list
            return f"{self.prefix}[{name}]"
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, value: Any, allowed: str) -> ClarError:
        return ClarError(
            f"{self.source}: {self.key(name)} = {value!r} is invalid; allowed: {allowed}"
        )

    def get(self, name: str, default: Any = ...) -> Any:
        if name in self.raw:
            return self.raw[name]
        if default is ...:
            raise ClarError(f"{self.source}: missing key {self.key(name)}")
        return default

    def section(self, name: str) -> _Reader:
        return _Reader(self.get(name), self.source, self.key(name))

    def number(
        self,
        name: str,
        *,
        low: float | None = None,
        high: float | None = None,
        integer: bool = False,
        low_open: bool = False,
        default: Any = ...,
    ) -> Any:
        value = self.get(name, default)
        kind = "an integer" if integer else "a number"
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        ok = ok and not isinstance(value, bool)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            bounds = []
            if low is not None:
                bounds.append(f"{'>' if low_open else '>='} {low:g}")
            if high is not None:
                bounds.append(f"<= {high:g}")
            raise self.fail(name, value, f"{kind} {' and '.join(bounds)}".strip())
        return value

    def flag(self, name: str, default: Any = ...) -> bool:
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, value, "true or false")
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(name, default)
        if value not in allowed:
            raise self.fail(name, value, ", ".join(allowed))
        return value

    def choices(self, name: str, allowed: tuple[str, ...], *, empty_ok: bool = True) -> tuple:
        values = self.get(name)
        if not isinstance(values, list) or (not values and not empty_ok):
            raise self.fail(
                name, values, f"a {'' if empty_ok else 'non-empty '}list of " + ", ".join(allowed)
            )
        for i, value in enumerate(values):
            if value not in allowed:
                raise self.fail(f"{name}[{i}]", value, ", ".join(allowed))
        return tuple(values)

    def numbers(self, name: str, **bounds: Any) -> tuple:
        values = self.get(name)
        if not isinstance(values, list) or not values:
            raise self.fail(name, values, "a non-empty list of numbers")
        item = _Reader(dict(enumerate(values)), self.source, self.key(name))
        return tuple(item.number(i, **bounds) for i in range(len(values)))


def _dataset(name: str, raw: Any, source: Path) -> DatasetParams:
    r = _Reader(raw, source, f"datasets.{name}")
    kind = r.choice("kind", tuple(KINDS))
    defaults = option_defaults(kind)
    options = {k: v for k, v in r.raw.items() if k not in ("kind", "clip_seconds")}
    for key in options:
        if key not in defaults:
            raise ClarError(
                f"{source}: datasets.{name}.{key} is not an option of kind '{kind}'; "
                f"allowed: {', '.join(['clip_seconds', *defaults])}"
            )
    for key, default in defaults.items():
        if default is ... and key not in options:
            raise ClarError(f"{source}: datasets.{name}.{key} is required for kind '{kind}'")
    return DatasetParams(
        name=name,
        kind=kind,
        clip_seconds=r.number("clip_seconds", low=0, low_open=True),
        options={**defaults, **options},
    )


def _per_dataset(r: _Reader) -> dict[str, dict[str, int]]:
    out = {}
    for name in r.raw:
        d = r.section(name)
        for key in d.raw:
            if key not in ("epochs", "batch_size"):
                raise d.fail(key, d.raw[key], "only epochs and batch_size may differ per data set")
        out[name] = {k: d.number(k, low=0 if k == "epochs" else 2, integer=True) for k in d.raw}
    return out


def _augment(r: _Reader) -> AugmentParams:
    d = AugmentParams()
    for key in r.raw:
        if key != "names" and not hasattr(d, key):
            raise ClarError(
                f"{r.source}: augment.{key} is not an augmentation parameter; "
                f"allowed: names, {', '.join(vars(d))}"
            )
    stretch_buckets = r.get("stretch_buckets", d.stretch_buckets)
    if stretch_buckets is not None:
        stretch_buckets = r.number("stretch_buckets", low=1, integer=True)
    params = AugmentParams(
        probability=r.number("probability", low=0, high=1, default=d.probability),
        fade_max_fraction=r.number(
            "fade_max_fraction", low=0, high=0.5, default=d.fade_max_fraction
        ),
        fade_shapes=(
            r.choices("fade_shapes", FADE_SHAPES, empty_ok=False)
            if "fade_shapes" in r.raw
            else d.fade_shapes
        ),
        mask_fraction=r.number("mask_fraction", low=0, high=1, default=d.mask_fraction),
        mask_std=r.number("mask_std", low=0, default=d.mask_std),
        stretch_min_rate=r.number(
            "stretch_min_rate", low=0, low_open=True, default=d.stretch_min_rate
        ),
        stretch_max_rate=r.number(
            "stretch_max_rate", low=0, low_open=True, default=d.stretch_max_rate
        ),
        stretch_buckets=stretch_buckets,
        pitch_max_semitones=r.number(
            "pitch_max_semitones", low=0, high=24, default=d.pitch_max_semitones
        ),
        pitch_buckets=r.number("pitch_buckets", low=1, integer=True, default=d.pitch_buckets),
        shift_max_fraction=r.number(
            "shift_max_fraction", low=0, high=1, default=d.shift_max_fraction
        ),
        noise_min_snr_db=r.number("noise_min_snr_db", default=d.noise_min_snr_db),
        noise_max_snr_db=r.number("noise_max_snr_db", default=d.noise_max_snr_db),
        noise_colours=(
            r.choices("noise_colours", NOISE_COLOURS, empty_ok=False)
            if "noise_colours" in r.raw
            else d.noise_colours
        ),
    )
    if params.stretch_min_rate > params.stretch_max_rate:
        raise r.fail("stretch_min_rate", params.stretch_min_rate, "at most stretch_max_rate")
    if params.noise_min_snr_db > params.noise_max_snr_db:
        raise r.fail("noise_min_snr_db", params.noise_min_snr_db, "at most noise_max_snr_db")
    return params


AUGMENTATION_SEPARATOR = "+"


def parse_combo(text: str, where: str, source: Path) -> tuple[str, ...]:
    """``"fade+time_mask"`` -> ``("fade", "time_mask")``, each name checked."""
    names = tuple(text.split(AUGMENTATION_SEPARATOR))
    for name in names:
        if name not in AUGMENTATIONS:
            raise ClarError(
                f"{source}: {where} = {text!r} names unknown augmentation "
                f"'{name}'; allowed: {', '.join(AUGMENTATIONS)}"
            )
    return names


def parse_params(raw: Mapping[str, Any], source: Path = Path("params.yaml")) -> Params:
    """Validate the whole of params.yaml; raise :class:`ClarError` on the first bad value."""
    r = _Reader(raw, source)
    defined = r.get("datasets")
    if not isinstance(defined, Mapping):
        raise r.fail("datasets", defined, "a mapping of data set name to options")
    datasets = {name: _dataset(name, options, source) for name, options in defined.items()}
    data = r.section("data").choices("names", tuple(datasets), empty_ok=False)

    p = r.section("prepare")
    prepare = PrepareParams(
        sample_rate=p.number("sample_rate", low=1000, integer=True),
        split_seed=p.number("split_seed", low=0, integer=True),
        valid_fraction=p.number("valid_fraction", low=0, high=0.5, low_open=True),
        skip_bad_files=p.flag("skip_bad_files"),
    )
    f = r.section("features")
    features = FeatureParams(
        window_ms=f.number("window_ms", low=0, low_open=True),
        hop_ms=f.number("hop_ms", low=0, low_open=True),
        n_bins=f.number("n_bins", low=1, integer=True),
        f_min=f.number("f_min", low=0),
        f_max=f.number("f_max", low=0, low_open=True),
        channels=f.choices("channels", FEATURE_CHANNELS, empty_ok=False),
        max_gb=f.number("max_gb", low=0),
    )
    if features.f_max > prepare.sample_rate / 2 or features.f_min >= features.f_max:
        raise f.fail(
            "f_max", features.f_max, f"above f_min ({features.f_min:g}) and at most sample_rate / 2"
        )
    a = r.section("augment")
    augment_names = a.choices("names", AUGMENTATIONS)
    t = r.section("train")
    train = TrainParams(
        width=t.number("width", low=0, high=4, low_open=True),
        epochs=t.number("epochs", low=0, integer=True),
        batch_size=t.number("batch_size", low=2, integer=True),
        lr=t.number("lr", low=0, low_open=True),
        weight_decay=t.number("weight_decay", low=0),
        lars=t.flag("lars"),
        warmup_epochs=t.number("warmup_epochs", low=0, integer=True),
        temperature=t.number("temperature", low=0, low_open=True),
        checkpoint_every=t.number("checkpoint_every", low=1, integer=True),
        eval_every=t.number("eval_every", low=1, integer=True),
        device=t.choice("device", DEVICES),
        per_dataset=_per_dataset(t.section("per_dataset")),
    )
    e = r.section("evaluate")
    evaluate = EvaluateParams(
        head=e.choice("head", HEADS),
        epochs=e.number("epochs", low=1, integer=True),
        lr=e.number("lr", low=0, low_open=True),
        batch_size=e.number("batch_size", low=2, integer=True),
    )
    loss = r.section("loss")
    g = r.section("grid")
    grid = GridParams(
        inputs=g.choices("inputs", INPUTS, empty_ok=False),
        fractions=g.numbers("fractions", low=0, high=100, low_open=True),
        seeds=g.numbers("seeds", low=0, integer=True),
    )
    s = r.section("augmentation_study")
    combos = s.get("combos")
    if not isinstance(combos, list):
        raise s.fail("combos", combos, "a list of augmentation names joined by '+'")
    study = AugmentationStudyParams(
        datasets=s.choices("datasets", data),
        combos=tuple(
            parse_combo(c, f"augmentation_study.combos[{i}]", source) for i, c in enumerate(combos)
        ),
        input=s.choice("input", INPUTS),
        seed=s.number("seed", low=0, integer=True),
    )
    return Params(
        profile=r.get("profile"),
        data=data,
        datasets=datasets,
        prepare=prepare,
        features=features,
        augment=_augment(a),
        augment_names=augment_names,
        train=train,
        evaluate=evaluate,
        fraction_trained=loss.choices("fraction_trained", FRACTION_TRAINED),
        label_free=loss.choices("label_free", LABEL_FREE),
        grid=grid,
        augmentation_study=study,
        source=source,
    )


def load_params(path: Path | str = "params.yaml") -> Params:
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


def compose(conf_dir: Path | str = "conf", overrides: list[str] | None = None) -> dict:
    """Compose ``conf/`` the way ``dvc exp run -S group=option`` does, as a plain dict."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(Path(conf_dir).resolve()), version_base=None):
        config = hydra_compose(config_name="config", overrides=overrides or [])
    return OmegaConf.to_container(config, resolve=True)
