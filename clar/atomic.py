"""Outputs appear whole or not at all: a reader (or a stage killed half-way) never leaves or
sees half a file or half a folder.

Temporary names carry the writer's process id, ``.<name>.<pid>.<random>.tmp``: what a killed
process left is removed the next time the same path is written, and what a live one is still
writing is left alone.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def clear_stale(path: Path) -> None:
    """Remove the temporary siblings of ``path`` whose process is gone (a kill skips the
    clean-up of an error)."""
    path = Path(path)
    prefix = f".{path.name}."
    for sibling in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = sibling.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling, ignore_errors=True)
            else:
                sibling.unlink(missing_ok=True)


def temporary(path: Path, folder: bool = False) -> Path:
    """A new empty file (or ``folder``) beside ``path`` to build it in, after clearing what
    killed writers of ``path`` left."""
    path = Path(path)
    clear_stale(path)
    names = {"dir": path.parent, "prefix": f".{path.name}.{os.getpid()}.", "suffix": ".tmp"}
    if folder:
        return Path(tempfile.mkdtemp(**names))
    fd, tmp = tempfile.mkstemp(**names)
    os.close(fd)
    return Path(tmp)


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then rename it over ``path``.

    The file gets the permissions of any new file (mkstemp's are private to the owner).
    """
    path = Path(path)
    tmp = temporary(path)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: object) -> Path:
    return write_text(path, json.dumps(data, indent=2) + "\n")


@contextmanager
def building(folder: Path) -> Iterator[Path]:
    """Yield an empty work folder beside ``folder``; when the block ends without an error it
    replaces ``folder``. A work folder left by a killed run is cleared first."""
    folder = Path(folder)
    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    yield work
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)


@contextmanager
def as_a_set(folder: Path) -> Iterator[Path]:
    """Yield an empty work folder inside ``folder``; when the block ends without an error, move
    everything in it into ``folder`` (replacing files and folders of the same names) at once.

    A stage killed while it writes leaves the previous set whole, never half old, half new.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    work = temporary(folder / "set", folder=True)
    try:
        yield work
        for entry in sorted(work.iterdir()):
            target = folder / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
