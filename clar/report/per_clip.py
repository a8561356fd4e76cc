"""Which test clips each evaluation got right: the table the report's paired intervals resample.

``per_clip.csv`` has one row per evaluation (a run at a label fraction): the run's key columns,
a digest of its test clip ids in order (two runs are paired only when their digests agree) and
``correct``, one character per test clip, ``1`` where the evaluation head's prediction is the
label. Like ``results.csv``, it is written from the run folders once; the report renders from
the two tables alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clar import runs
from clar.report.results import run_key
from clar.vocabulary import join_combo, split_combo

KEY_COLUMNS = ("experiment", "dataset", "input", "objective", "fraction", "augmentations", "seed")
COLUMNS = (*KEY_COLUMNS, "clips", "correct")
# Rows of the heads of ``evaluate.extra_heads`` name theirs in this column, which the table has
# only when there are such rows (the evaluation head's rows leave it empty).
HEAD = "head"
# A configuration over its seeds: the key columns without the seed.
Config = tuple[Hashable, ...]


def digest(clips: np.ndarray) -> str:
    """A short hash of the test clip ids in their order."""
    return hashlib.sha256("\n".join(str(c) for c in clips).encode()).hexdigest()[:16]


def encode(correct: np.ndarray) -> str:
    """``[True, False, True]`` -> ``"101"``."""
    return (np.asarray(correct, dtype=np.uint8) + ord("0")).tobytes().decode("ascii")


def decode(text: str) -> np.ndarray:
    """``"101"`` -> ``[True, False, True]``."""
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("1")


def row(result: dict, experiment: str, predictions: dict[str, np.ndarray]) -> dict:
    """The per-clip row of one evaluation and its predictions."""
    key = run_key(result["run"], experiment, result["fraction"])
    del key["epoch"]
    return {
        **key,
        "clips": digest(predictions["clip"]),
        "correct": encode(predictions["predicted"] == predictions["label"]),
    }


def collect(runs_dir: Path) -> pd.DataFrame:
    """Every evaluation under ``runs_dir`` that has its predictions file, in path order."""
    rows = []
    for experiment in runs.EXPERIMENTS:
        for run_dir in runs.trained(runs_dir, experiment):
            for path in sorted(run_dir.glob(runs.EVALUATION_GLOB)):
                result = runs.read_json(path)
                fraction = float(result["fraction"])
                if not (run_dir / runs.predictions_file(fraction)).exists():
                    continue
                predictions = runs.read_predictions(run_dir, fraction)
                rows.append(row(result, experiment, predictions))
    extra = []
    for experiment in runs.EXPERIMENTS:
        for run_dir, result in runs.probes(runs_dir, experiment):
            head, fraction = result["evaluation_head"]["kind"], float(result["fraction"])
            if (run_dir / runs.probe_predictions_file(head, fraction)).exists():
                predictions = runs.read_probe_predictions(run_dir, head, fraction)
                extra.append({**row(result, experiment, predictions), HEAD: head})
    if not extra:
        return pd.DataFrame(rows, columns=list(COLUMNS))
    return pd.DataFrame(rows + extra, columns=[*COLUMNS, HEAD])


def read(path: Path) -> pd.DataFrame:
    """``per_clip.csv`` as written; ``correct`` stays text (as a number it would lose its
    leading zeros)."""
    return pd.read_csv(path, dtype={"clips": str, "correct": str, "augmentations": str})


def head_config(config: Config, head: str) -> Config:
    """The configuration of an extra head's evaluations of the runs of ``config``."""
    return (*config, head)


@dataclass(frozen=True)
class Outcomes:
    """One evaluation's per-clip correctness."""

    clips: str  # digest of the clip ids
    correct: np.ndarray  # bool [N]


class Correctness:
    """The per-clip table indexed by configuration and seed, for pairing runs.

    An extra head's rows are indexed by the configuration with the head's name appended
    (:func:`head_config`), apart from the evaluation head's."""

    def __init__(self, table: pd.DataFrame | None) -> None:
        self._runs: dict[Config, dict[int, Outcomes]] = {}
        if table is None or table.empty:
            return
        df = table.copy()
        df["fraction"] = pd.to_numeric(df["fraction"]).astype(float)
        df["seed"] = pd.to_numeric(df["seed"]).astype(int)
        for column in ("experiment", "dataset", "input", "objective", "augmentations"):
            df[column] = df[column].fillna("").astype(str)
        # One combination, one name, whatever order a table wrote it in.
        df["augmentations"] = [join_combo(split_combo(a)) for a in df["augmentations"]]
        heads = df[HEAD].fillna("").astype(str) if HEAD in df else pd.Series("", index=df.index)
        for r, head in zip(df.itertuples(index=False), heads, strict=True):
            config = tuple(getattr(r, c) for c in KEY_COLUMNS[:-1])
            config = head_config(config, head) if head else config
            outcomes = Outcomes(str(r.clips), decode(str(r.correct)))
            self._runs.setdefault(config, {})[int(r.seed)] = outcomes

    def __bool__(self) -> bool:
        return bool(self._runs)

    def configs(self) -> list[Config]:
        """Every configuration with at least one evaluation of the evaluation head."""
        return [c for c in self._runs if len(c) == len(KEY_COLUMNS) - 1]

    def seeds(self, config: Config) -> dict[int, Outcomes]:
        return self._runs.get(tuple(config), {})

    def paired(self, a: Config, b: Config) -> tuple[np.ndarray | None, str]:
        """``d[s, i]`` = A's minus B's correctness on clip i for each seed both ran on the same
        clips, or None and why there is none."""
        runs_a, runs_b = self.seeds(a), self.seeds(b)
        if not runs_a or not runs_b:
            return None, "no per-clip predictions for " + ("both" if not runs_a else "one side")
        common = sorted(s for s in set(runs_a) & set(runs_b) if runs_a[s].clips == runs_b[s].clips)
        if not common:
            return None, "no seed with both runs on the same test clips"
        rows = [runs_a[s].correct.astype(float) - runs_b[s].correct for s in common]
        if len({len(r) for r in rows}) > 1:
            return None, "seeds scored different numbers of test clips"
        return np.stack(rows), ""
