"""The registry of loaders: which module reads each kind of data set, and the options it takes.

A *kind* is a loader module with two functions, ``obtain(raw_dir, *, progress, **options) -> root``
(download, verify and extract, or generate) and ``list_items(root, **options) -> list[Item]``.
The options a kind accepts are the keyword arguments of those two functions, so the loader's
signature is the one place they are defined; params.yaml may set any of them per data set.

A *data set* is a named use of a kind (``esc10`` is kind ``esc50`` with ``esc10: true``). The
built-in ones are described in :mod:`clar.data.catalog`; users add their own under ``datasets:`` in
params.yaml, usually with ``kind: folder``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from clar.data.item import Item
from clar.errors import ClarError, invalid, unknown_key
from clar.layout import PARAMS

KINDS = {
    "embedded": "clar.data.embedded",
    "esc50": "clar.data.esc50",
    "speechcommands": "clar.data.speechcommands",
    "nsynth": "clar.data.nsynth",
    "folder": "clar.data.folder",
}

# Arguments the pipeline supplies itself, besides the first (the folder to work in); everything
# else in a loader's signature is an option.
_SUPPLIED = {"progress", "clip_seconds"}


def loader(kind: str) -> ModuleType:
    """The loader module of a kind (imported on first use: the real-data loaders are optional)."""
    return importlib.import_module(KINDS[kind])


def option_defaults(kind: str) -> dict[str, Any]:
    """Every option a kind accepts, with its default (``...`` where the loader requires one)."""
    module = loader(kind)
    options: dict[str, Any] = {}
    for function in (module.obtain, module.list_items):
        for name, parameter in _options(function).items():
            empty = parameter.default is inspect.Parameter.empty
            options.setdefault(name, ... if empty else parameter.default)
    return options


def resolve_options(name: str, kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The kind and options of data set ``name`` checked against its loader, defaults filled.

    Called where a data set is prepared or listed, so that only those commands run loader
    code. Raises a one-line :class:`ClarError` naming the key and what is allowed.
    """
    if kind not in KINDS:
        raise invalid(PARAMS, f"datasets.{name}.kind", kind, ", ".join(KINDS))
    defaults = option_defaults(kind)
    for key in options:
        if key not in defaults:
            allowed = ["clip_seconds", *defaults]
            what = f"an option of kind '{kind}'"
            raise unknown_key(PARAMS, f"datasets.{name}.{key}", allowed, what)
    for key, default in defaults.items():
        if default is ... and key not in options:
            raise ClarError(f"{PARAMS}: datasets.{name}.{key} is required for kind '{kind}'")
    return {**defaults, **options}


def _options(function: Any) -> dict[str, inspect.Parameter]:
    parameters = list(inspect.signature(function).parameters.values())[1:]
    return {
        p.name: p
        for p in parameters
        if p.name not in _SUPPLIED and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def _accepted(function: Any, options: dict[str, Any]) -> dict[str, Any]:
    names = _options(function)
    return {k: v for k, v in options.items() if k in names}


def obtain(
    kind: str, raw_dir: Path, options: dict[str, Any], clip_seconds: float, progress: bool = True
) -> Path:
    """Download (or generate) a data set into raw_dir; return the root its items live under."""
    module = loader(kind)
    extra = (
        {"clip_seconds": clip_seconds}
        if "clip_seconds" in inspect.signature(module.obtain).parameters
        else {}
    )
    return module.obtain(raw_dir, progress=progress, **extra, **_accepted(module.obtain, options))


def in_place(kind: str) -> bool:
    """The loader reads the clips where the user keeps them (``IN_PLACE`` in its module), not
    from an archive or a generator: DVC must be shown when they change (:mod:`clar.data.watch`)."""
    return bool(getattr(loader(kind), "IN_PLACE", False))


def list_items(kind: str, root: Path, options: dict[str, Any]) -> list[Item]:
    """Every clip of a data set with its label and split."""
    module = loader(kind)
    return module.list_items(root, **_accepted(module.list_items, options))
