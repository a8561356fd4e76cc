"""The project's own source code as data: which clar files a module runs, and their digest.

A trained run's numbers depend on its code as much as on its parameters. The checkpoint
fingerprint includes the digest of every clar file the training loop imports, so an edit to,
say, ``clar/losses.py`` starts a run afresh instead of resuming a checkpoint written by other
code. The same import walk checks that each DVC stage lists exactly the files it runs
(tests/test_structure.py), so the fingerprint and dvc.yaml agree on what "the code" is.

Imports are read from the syntax tree rather than from ``sys.modules``: that counts lazy imports
in function bodies and TYPE_CHECKING blocks, and does not depend on what a process happened to
import before.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

# The folder that holds the clar package (the project root in a checkout).
ROOT = Path(__file__).resolve().parents[1]


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """``clar.a.b`` -> ``clar/a/b.py`` or ``clar/a/b/__init__.py`` (relative), if it exists."""
    base = Path(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if (root / path).exists():
            return path
    return None


def module_name(path: Path) -> str:
    """``clar/a/b.py`` -> ``clar.a.b``; ``clar/a/__init__.py`` -> ``clar.a``."""
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def imports(path: Path, root: Path = ROOT) -> frozenset[str]:
    """The clar modules a file names in its import statements, wherever they stand (function
    bodies and TYPE_CHECKING blocks included): ``from clar.a import b`` names ``clar.a.b``
    when b is a module, else ``clar.a``. A string that spells a clar module counts too: that
    is how the registry names the loaders it imports by kind."""
    found = set()
    for node in ast.walk(ast.parse((root / path).read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith("clar.") and module_file(node.value, root):
                found.add(node.value)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "clar")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "clar":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if module_file(sub, root) else node.module)
    return frozenset(found)


def executed(name: str, root: Path = ROOT) -> set[Path]:
    """The files Python runs to import ``name``: the module and every package above it."""
    parts = name.split(".")
    files = {module_file(".".join(parts[: i + 1]), root) for i in range(len(parts))}
    return {f for f in files if f is not None}


def closure(*scripts: Path, root: Path = ROOT) -> set[Path]:
    """Every clar file that importing ``scripts`` runs, transitively (paths relative to
    ``root``; the scripts themselves only when something imports them)."""
    seen: set[Path] = set()
    todo = list(scripts)
    while todo:
        path = todo.pop()
        for name in imports(path, root):
            for file in executed(name, root) - seen:
                seen.add(file)
                todo.append(file)
    return seen


def digest(module: str, root: Path = ROOT) -> str:
    """A short hash of the source of ``module`` and of every clar file it runs."""
    files = sorted(closure(*executed(module, root), root=root) | executed(module, root))
    h = hashlib.sha256()
    for file in files:
        h.update(str(file).encode() + b"\0" + (root / file).read_bytes() + b"\0")
    return h.hexdigest()[:16]
