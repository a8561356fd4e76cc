"""What DVC cannot see by itself: a folder data set's files, read where the user keeps them.

Every other loader obtains its clips from a fixed archive (checked against its checksum) or a
generator in clar/: prepare's parameters and code dependencies cover them. A ``folder`` data set
is read in place, from outside the workspace, so an edit there would leave ``dvc status``
silent and ``dvc repro`` on the old store. The ``sources`` stage, which DVC runs every time,
writes :func:`source_state` to ``data/sources/<name>.json``; prepare depends on that file, so
changed audio prepares the data set again and reruns everything after it, and unchanged audio
leaves the file, and so the pipeline, as it was.
"""

from __future__ import annotations

from pathlib import Path

from clar.config import DatasetParams
from clar.data import registry
from clar.data.store import source_digest


def source_state(dataset: DatasetParams, raw_dir: Path) -> dict:
    """``{"kind", "read_in_place"}``, and for a data set read in place its folder, file count
    and :func:`clar.data.store.source_digest` (every file's path and bytes)."""
    options = registry.resolve_options(dataset.name, dataset.kind, dataset.options)
    state: dict = {"kind": dataset.kind, "read_in_place": registry.in_place(dataset.kind)}
    if not state["read_in_place"]:
        return state
    root = registry.obtain(dataset.kind, raw_dir, options, dataset.clip_seconds, progress=False)
    paths = [item.path for item in registry.list_items(dataset.kind, root, options)]
    return {**state, "root": str(root), "files": len(paths), "sha256": source_digest(paths, root)}
