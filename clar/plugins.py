"""Registries of the pipeline's methods: objectives, encoders and evaluation heads.

Each kind of method has one :class:`Registry`. The project's own methods are modules named
here as strings (the import walk of :mod:`clar.sources` counts them, so dvc.yaml lists their
files). A researcher's own method is a class in a file of their own, named in params.yaml
under ``plugins:`` the way Hydra's ``_target_`` names one:

- ``plugins/supcon.py:SupCon``: a file (relative to the project root) and a class in it. Keep
  such files in ``plugins/``: dvc.yaml lists that folder as a dependency of the stages that
  train, score or report, so editing a file there reruns them;
- ``my_package.losses:SupCon``: a module importable from the environment;

or it is an installed package's entry point in the group ``clar.objectives``,
``clar.encoders`` or ``clar.heads`` (registered by that package, loaded by name).

Every method declares its ``name``; the rest of the code asks the registry for it by that
name and never branches on it. A plug-in's source file is part of the checkpoint fingerprint
(:func:`Registry.source_files`), so an edit retrains the runs that use it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Generic, TypeVar

from clar.errors import ClarError

T = TypeVar("T")


def load(spec: str, key: str = "plugins") -> object:
    """``path/to/file.py:Attr`` or ``package.module:Attr`` -> that object.

    Raises:
        ClarError: one line naming ``key`` (the parameter that holds ``spec``) and the fault.
    """
    where, sep, attr = spec.partition(":")
    if not sep or not where or not attr:
        raise ClarError(
            f"{key}: {spec!r} is not a plug-in; write path/to/file.py:ClassName or "
            "package.module:ClassName"
        )
    try:
        if where.endswith(".py"):
            module = _import_file(Path(where), key)
        else:
            module = importlib.import_module(where)
    except ClarError:
        raise
    except Exception as err:  # an import runs the plug-in's own code, which may raise anything
        raise ClarError(f"{key}: cannot import {where} ({type(err).__name__}: {err})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ClarError(f"{key}: {where} defines no {attr!r}") from None


def _import_file(path: Path, key: str) -> object:
    if not path.is_file():
        raise ClarError(f"{key}: {path}: no such file (paths are relative to the project root)")
    name = "clar_plugin_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would: dataclasses and pickling look it up.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


class Registry(Generic[T]):
    """The methods of one kind, by name: the project's own (``builtin`` module names, imported
    on first use) and plug-ins added by :meth:`add` or found in the entry-point ``group``.

    ``check(cls)`` validates what a class declares before it is registered (its base class,
    its attributes), so a plug-in's fault is reported where it is named, not deep in training.
    """

    def __init__(self, kind: str, group: str, builtin: Iterable[str], base: type[T]) -> None:
        self.kind = kind
        self.group = group
        self.builtin = tuple(builtin)
        self.base = base
        self._methods: dict[str, type[T]] = {}
        self._plugins: dict[str, tuple[Path | None, str]] = {}
        self._loaded = False

    def _load_builtin(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtin:
            for cls in vars(importlib.import_module(module)).values():
                own = inspect.isclass(cls) and cls.__module__ == module
                if own and issubclass(cls, self.base) and getattr(cls, "name", None):
                    self._methods[cls.name] = cls

    def add(self, cls: object, key: str, spec: str = "") -> type[T]:
        """Register a plug-in class (loaded from the parameter ``key``, where it is written
        ``spec``); returns it."""
        self._load_builtin()
        if not (inspect.isclass(cls) and issubclass(cls, self.base)):
            raise ClarError(
                f"{key}: {cls!r} is not {self.kind} class; subclass {self.base.__module__}."
                f"{self.base.__name__}"
            )
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise ClarError(f"{key}: {cls.__name__}.name must be a name (letters, digits, _)")
        known = self._methods.get(name)
        if known is not None and known is not cls:
            raise ClarError(
                f"{key}: {self.kind} '{name}' is defined twice ({known.__module__} and "
                f"{cls.__module__}); give {cls.__name__} another name"
            )
        getattr(cls, "check", lambda key: None)(key)
        self._methods[name] = cls
        self._plugins[name] = (_source(cls), _absolute(spec))
        return cls

    def add_specs(self, specs: Iterable[str], key: str) -> None:
        """Register each ``file.py:Class`` / ``module:Class`` of the parameter ``key``, then the
        installed packages' entry points of this registry's group."""
        for i, spec in enumerate(specs):
            self.add(load(spec, f"{key}[{i}]"), f"{key}[{i}]", spec)
        for point in entry_points(group=self.group):
            self.add(point.load(), f"entry point {point.name} ({self.group})", point.value)

    def get(self, name: str, key: str = "") -> type[T]:
        """The class registered as ``name``; ``key`` names the parameter in the error."""
        self._load_builtin()
        if name not in self._methods:
            where = f"{key} = {name!r}" if key else repr(name)
            raise ClarError(
                f"{where} is not a known {self.kind}; known: {', '.join(self.names())} "
                "(add your own under plugins: in params.yaml)"
            )
        return self._methods[name]

    def names(self) -> tuple[str, ...]:
        """Every registered name: the project's own in declaration order, then plug-ins."""
        self._load_builtin()
        return tuple(self._methods)

    def source_files(self, names: Iterable[str]) -> list[Path]:
        """The plug-in files behind ``names`` (the project's own methods are covered by
        :func:`clar.sources.digest`)."""
        return sorted({p for n in names if (p := self._plugins.get(n, (None,))[0]) is not None})

    def spec(self, name: str) -> str | None:
        """How the plug-in ``name`` was named (a file's path made absolute), for a saved model
        to load it again (:func:`clar.runs.load_model`); None for the project's own."""
        return self._plugins[name][1] if name in self._plugins else None

    def ensure(self, name: str, spec: str | None, key: str) -> type[T]:
        """The class ``name``, loading ``spec`` first where it is not registered yet."""
        self._load_builtin()
        if name not in self._methods and spec:
            self.add(load(spec, key), key, spec)
        return self.get(name, key)


def _source(cls: type) -> Path | None:
    try:
        return Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        return None


def _absolute(spec: str) -> str:
    where, sep, attr = spec.partition(":")
    return f"{Path(where).resolve()}{sep}{attr}" if where.endswith(".py") else spec


def files_digest(files: Iterable[Path]) -> str:
    """A short hash of the content of ``files`` (a run's plug-ins, for its fingerprint)."""
    h = hashlib.sha256()
    for file in sorted(files):
        h.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return h.hexdigest()[:16]
