"""``python -m clar compare [EXPERIMENT ...]``: the headline accuracies and the claims' verdicts
of several experiments side by side, in 120 columns (``dvc exp show`` prints every parameter
and dependency hash, far too wide to read).

Everything is read with git and from DVC's cache, so that nothing is checked out:

- an experiment is a name under ``refs/exps`` (``dvc exp run -n NAME``, or the name DVC gave it)
  or any git revision; ``workspace`` is the files as they are;
- its accuracies are its ``reports/summary.json`` (a metric kept in git);
- its claims are the verdicts table of its ``reports/index.md``, which DVC caches: its hash is
  in the experiment's ``dvc.lock``, its content under ``.dvc/cache/files/md5/``.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from clar.errors import ClarError

WIDTH = 120
WORKSPACE = "workspace"
SUMMARY = "reports/summary.json"
INDEX = "reports/index.md"
MISSING = "–"
# The verdicts as one short word each, so that a column fits 12 characters.
SHORT = {"cannot be judged": "unjudged"}
_COLUMN = 12


@dataclass
class Experiment:
    """What one experiment says: accuracies by (data set, input, objective), verdicts by
    (claim, part)."""

    name: str
    accuracy: dict[tuple[str, str, str], float] = field(default_factory=dict)
    verdicts: dict[tuple[str, str], str] = field(default_factory=dict)
    note: str = ""


def _git(root: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else None


def experiment_refs(root: Path, baseline: str | None = None) -> dict[str, str]:
    """``{name: commit}`` of DVC's experiments (of ``baseline`` only, where given)."""
    out = _git(root, "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps") or ""
    found = {}
    for line in out.splitlines():
        commit, ref = line.split(" ", 1)
        parts = ref.split("/")
        # refs/exps/<baseline[:2]>/<baseline[2:]>/<name>; refs/exps/exec/* are DVC's own.
        if len(parts) != 5 or parts[2] == "exec":
            continue
        if baseline is None or parts[2] + parts[3] == baseline:
            found[parts[4]] = commit
    return found


def _resolve(root: Path, name: str) -> str:
    if name == WORKSPACE:
        return name
    exps = experiment_refs(root)
    if name in exps:
        return exps[name]
    commit = _git(root, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    if commit is None:
        known = ", ".join([WORKSPACE, *exps]) or WORKSPACE
        raise ClarError(
            f"compare: {name!r} is neither an experiment nor a git revision; experiments: {known}"
        )
    return commit.strip()


def _read(root: Path, rev: str, path: str) -> str | None:
    if rev == WORKSPACE:
        file = root / path
        return file.read_text() if file.is_file() else None
    return _git(root, "show", f"{rev}:{path}")


def _cached(root: Path, rev: str, path: str) -> str | None:
    """A DVC output of ``rev`` from the cache, by the hash its dvc.lock records."""
    if rev == WORKSPACE:
        return _read(root, rev, path)
    lock = yaml.safe_load(_read(root, rev, "dvc.lock") or "{}") or {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == path and out.get("md5"):
                md5 = out["md5"]
                for cache in (root / ".dvc/cache/files/md5", root / ".dvc/cache"):
                    file = cache / md5[:2] / md5[2:]
                    if file.is_file():
                        return file.read_text()
    return None


def verdicts(index_md: str) -> dict[tuple[str, str], str]:
    """The rows of index.md's verdicts table (:func:`clar.report.index._summary_table`):
    ``{(claim number, part): verdict}``."""
    found: dict[tuple[str, str], str] = {}
    inside = False
    for line in index_md.splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Verdicts"
            continue
        if not inside or not line.startswith("| "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) >= 3 and cells[0].isdigit():
            found[cells[0], cells[1]] = cells[2].strip("*")
    return found


def read(root: Path, name: str) -> Experiment:
    """One experiment's accuracies and verdicts (empty, with a note, where they are absent)."""
    rev = _resolve(root, name)
    experiment = Experiment(name)
    text = _read(root, rev, SUMMARY)
    if text is None:
        experiment.note = f"no {SUMMARY}"
    else:
        for dataset, inputs in json.loads(text).items():
            for input_, objectives in inputs.items():
                for objective, value in objectives.items():
                    experiment.accuracy[dataset, input_, objective] = float(value)
    index = _cached(root, rev, INDEX)
    if index is None:
        missing = (
            f"no {INDEX}; dvc checkout restores it"
            if rev == WORKSPACE
            else f"its {INDEX} is not in the DVC cache; dvc pull fetches it"
        )
        experiment.note = f"{experiment.note}; {missing}" if experiment.note else missing
    else:
        experiment.verdicts = verdicts(index)
    return experiment


def _short(name: str) -> str:
    if re.fullmatch(r"[0-9a-f]{40}", name):
        return name[:7]
    return name if len(name) <= _COLUMN else name[: _COLUMN - 1] + "…"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _block(label: str, keys: list[tuple], cells: list[list[str]], names: list[str]) -> list[str]:
    """Rows ``keys`` (shown joined), one column per experiment, cut to :data:`WIDTH`."""
    columns = "".join(f"  {_short(n):>{_COLUMN}}" for n in names)
    room = max(20, WIDTH - len(columns))
    shown = [_fit("  ".join(k), room) for k in keys]
    first = max([len(label), *map(len, shown)])
    first = min(first, room)
    lines = [label.ljust(first) + columns]
    for key, row in zip(shown, cells, strict=True):
        lines.append(key.ljust(first) + "".join(f"  {c:>{_COLUMN}}" for c in row))
    return lines


def table(experiments: Sequence[Experiment]) -> str:
    """The accuracies (in %, at 100 % labels, mean over seeds), then the verdicts, one column
    per experiment; experiments beyond what 120 columns hold go to a second table."""
    per_table = max(1, (WIDTH - 40) // (_COLUMN + 2))
    parts = []
    for start in range(0, len(experiments), per_table):
        group = list(experiments[start : start + per_table])
        names = [e.name for e in group]
        rows = sorted({k for e in group for k in e.accuracy})
        cells = [
            [f"{100 * e.accuracy[k]:.1f}" if k in e.accuracy else MISSING for e in group]
            for k in rows
        ]
        lines = _block("test accuracy %  (data set, input, objective)", rows, cells, names)
        # In the front page's order; dict keys keep the first experiment's.
        claims = list(dict.fromkeys(k for e in group for k in e.verdicts))
        if claims:
            states = [
                [SHORT.get(v, v) for v in (e.verdicts.get(k, MISSING) for e in group)]
                for k in claims
            ]
            lines += ["", *_block("claims  (number, part)", claims, states, names)]
        notes = [f"{_short(e.name)}: {e.note}" for e in group if e.note]
        lines += ["", *notes] if notes else []
        parts.append("\n".join(line.rstrip() for line in lines))
    return "\n\n".join(parts)


def compare(names: Sequence[str], root: Path = Path(".")) -> str:
    """The table for ``names``; by default the workspace, HEAD and HEAD's experiments."""
    if not names:
        head = (_git(root, "rev-parse", "HEAD") or "").strip()
        # The branch's name reads better than a hash; a detached HEAD has none.
        branch = (_git(root, "rev-parse", "--abbrev-ref", "HEAD") or "").strip()
        current = [branch if branch and branch != "HEAD" else head] if head else []
        names = [WORKSPACE, *current, *experiment_refs(root, head or None)]
    return table([read(root, name) for name in names])
