"""params.yaml, validated once at the edge into typed, frozen objects.

Every stage starts with :func:`load_params`; the library below it takes these objects or plain
arguments. Each section of params.yaml is one pydantic model whose fields carry their types and
ranges; unknown keys are refused at every level. A bad value stops the stage with one line
naming the key, the value and what is allowed.

The sections are in :mod:`clar.config.sections`, the rules that tie one section to another in
:mod:`clar.config.rules`, and the one-line messages in :mod:`clar.config.messages`; this module
reads the file and is where every name is imported from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from clar import layout
from clar.config.messages import one_line
from clar.config.rules import check_rules
from clar.config.sections import (
    Augmentation,
    AugmentationStudyParams,
    AugmentParams,
    Combo,
    Count,
    DataParams,
    DatasetParams,
    EvaluateParams,
    FeatureParams,
    Fraction,
    GridParams,
    Input,
    LossParams,
    Name,
    Params,
    PerDataset,
    PerObjective,
    PluginParams,
    Positive,
    PrepareParams,
    Rate,
    ReportParams,
    Section,
    TrainParams,
)
from clar.errors import ClarError

__all__ = [
    "AugmentParams",
    "Augmentation",
    "AugmentationStudyParams",
    "Combo",
    "Count",
    "DataParams",
    "DatasetParams",
    "EvaluateParams",
    "FeatureParams",
    "Fraction",
    "GridParams",
    "Input",
    "LossParams",
    "Name",
    "Params",
    "PerDataset",
    "PerObjective",
    "PluginParams",
    "Positive",
    "PrepareParams",
    "Rate",
    "ReportParams",
    "Section",
    "TrainParams",
    "load_params",
    "parse_params",
]


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


def parse_params(raw: Mapping[str, Any], source: Path = layout.PARAMS) -> Params:
    """Validate the whole of params.yaml; raise :class:`ClarError` on the first bad value."""
    if not isinstance(raw, Mapping):
        raise ClarError(f"{source}: the top level must be a mapping, got {raw!r}")
    raw = {**_tuples(raw), "source": source}
    raw["datasets"] = _datasets(raw.get("datasets"))
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        raise one_line(error, source) from None
    check_rules(params, source)
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
