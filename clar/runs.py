"""What a run is: one point of the paper's experiments, its name, its folders and its files.

A run folder (:func:`folder`) holds:

- ``model.pt``: the trained network's state dict;
- ``run.json``: the run's identity and everything it was trained with (:func:`write_run_info`);
- ``history.tsv``: per-epoch loss, learning rate, clips per second, held-out accuracy;
- ``evaluation-f<fraction>.json``: the evaluation head's scores at a label fraction, and the
  labelled clips it was fitted on (count and share, per class);
- ``predictions-f<fraction>.npz``: its per-clip test predictions, what the report's paired
  intervals resample (:func:`write_predictions`);
- ``probe-<head>-f<fraction>.json`` and ``probe-<head>-predictions-f<fraction>.npz``: the same
  for each head of ``evaluate.extra_heads`` (:func:`write_probe`).

Its checkpoint lives in the twin folder under ``checkpoints/``, which is not a DVC output (an
uncached output would keep the stage out of the run-cache); a run started again with the same
fingerprint (parameters, data and code) resumes from it. Stages, training and the report take
names and paths from here.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tempfile
import zipfile
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel

from clar import layout
from clar.atomic import write_atomic, write_json, write_text
from clar.config import FeatureParams
from clar.encoders import ENCODERS
from clar.errors import ClarError
from clar.models import Model, build_model
from clar.objectives import OBJECTIVES
from clar.vocabulary import FULL_FRACTION, join_combo

# The experiments, as folders under runs/: the E2-E4 grid and the E1 augmentation study.
GRID = "grid"
AUGMENTATION = "augmentation"
EXPERIMENTS = (GRID, AUGMENTATION)

MODEL_FILE = "model.pt"
RUN_FILE = "run.json"
HISTORY_FILE = "history.tsv"
CHECKPOINT_FILE = "checkpoint.pt"
EVALUATION_GLOB = "evaluation-f*.json"
PREDICTIONS_GLOB = "predictions-f*.npz"


@dataclass(frozen=True)
class Run:
    """One training run: a point of the paper's grid or of the augmentation study.

    ``fraction`` is the percentage of training labels the run may use; label-free runs
    (the contrastive one) use none, train at 100 and are evaluated at every fraction.
    """

    dataset: str
    input: str
    objective: str
    fraction: float
    seed: int
    augmentations: tuple[str, ...]

    @classmethod
    def from_json(cls, info: dict) -> Run:
        """The inverse of ``asdict(run)`` after a trip through JSON (lists become tuples)."""
        return cls(**{**info, "augmentations": tuple(info["augmentations"])})

    @property
    def label_free(self) -> bool:
        """Its objective trains on no labels (:class:`clar.objectives.base.Objective`)."""
        return OBJECTIVES.get(self.objective).label_free()

    @property
    def views(self) -> str:
        """The run's augmentations as one name, ``fade+time_mask``."""
        return join_combo(self.augmentations)


def grid_run(
    dataset: str,
    input: str,
    objective: str,
    fraction: float | None,
    seed: int,
    augmentations: tuple[str, ...],
) -> Run:
    """A run of the E2-E4 grid; label-free objectives take no fraction (they train on none)."""
    return Run(
        dataset,
        input,
        objective,
        FULL_FRACTION if fraction is None else fraction,
        seed,
        augmentations,
    )


def name(run: Run, experiment: str) -> str:
    """The run's folder name within its data set (augmentation study: ``fade+time_mask``) or
    within its grid cell (``f10-s0``; label-free runs, which train on no labels: ``s0``)."""
    if experiment == AUGMENTATION:
        return run.views
    fraction = "" if run.label_free else f"f{run.fraction:g}-"
    return f"{fraction}s{run.seed}"


def experiment_folder(experiment: str, dataset: str, root: Path = layout.RUNS) -> Path:
    """``runs/<experiment>/<data set>``: the runs of one experiment on one data set."""
    return root / experiment / dataset


def cell_folder(dataset: str, input: str, objective: str, root: Path = layout.RUNS) -> Path:
    """``runs/grid/<data set>/<input>-<objective>``: one grid cell, the output of one stage
    (every fraction and seed of the cell)."""
    return experiment_folder(GRID, dataset, root) / f"{input}-{objective}"


def folder(run: Run, experiment: str, root: Path = layout.RUNS) -> Path:
    """The run's outputs: ``runs/grid/<data set>/<input>-<objective>/<name>`` or
    ``runs/augmentation/<data set>/<name>``."""
    if experiment == GRID:
        return cell_folder(run.dataset, run.input, run.objective, root) / name(run, experiment)
    return experiment_folder(experiment, run.dataset, root) / name(run, experiment)


def checkpoint_folder(run: Run, experiment: str) -> Path:
    """The run's checkpoint folder, ``checkpoints/...`` beside ``runs/...``."""
    return folder(run, experiment, layout.CHECKPOINTS)


def evaluation_file(fraction: float) -> str:
    return f"evaluation-f{fraction:g}.json"


def fingerprint(*parts: object) -> str:
    """A short hash of everything a run's numbers depend on, to refuse a stale checkpoint."""

    def plain(part: object) -> object:
        if isinstance(part, BaseModel):
            return part.model_dump(mode="json")
        return asdict(part) if is_dataclass(part) and not isinstance(part, type) else part

    text = json.dumps([plain(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(obj: object, path: Path) -> None:
    """torch.save, whole or not at all (:func:`clar.atomic.write_atomic`), and the same bytes for
    the same ``obj``.

    torch.save names the records of its zip archive after the file it writes to; through a
    temporary name every write would differ. Serialised in memory first, every record is
    ``archive/...``, so a rerun gives the same bytes and DVC the same hash.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, lambda tmp: tmp.write_bytes(buffer.getbuffer()))


# What torch.load raises on a file cut short or overwritten: not a zip, a record missing or short.
UNREADABLE = (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile)


def checkpoint_inputs(**parts: object) -> dict[str, str]:
    """``{what: short hash}`` of each kind of input a run's numbers depend on (code, parameters,
    data; a tuple is hashed as :func:`fingerprint`'s parts): a checkpoint keeps them, so a
    refusal can say which one changed."""
    return {
        key: fingerprint(*part) if isinstance(part, tuple) else fingerprint(part)
        for key, part in parts.items()
    }


def load_checkpoint(
    folder: Path,
    stamp: str,
    inputs: dict[str, str] | None = None,
    why: dict[str, str] | None = None,
) -> dict | None:
    """The checkpoint in ``folder`` if it was written with the fingerprint ``stamp``.

    One written with another fingerprint (other code, parameters or data) is ignored, and a
    line says so, naming what changed among ``inputs`` (:func:`checkpoint_inputs`; ``why``
    words each key): resuming it would report numbers the current code and data did not
    produce. One that cannot be read (a disk filled up, a copy cut short) is moved aside to
    ``checkpoint.pt.unreadable``, and a line says so: the run starts afresh instead of failing
    on it at every attempt.
    """
    path = folder / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        # On the CPU first: a generator's state must be a CPU tensor; the rest is copied over.
        state = torch.load(path, map_location="cpu", weights_only=False)
        stamped = state["fingerprint"]
    except (*UNREADABLE, KeyError, TypeError) as err:
        aside = path.with_name(CHECKPOINT_FILE + ".unreadable")
        os.replace(path, aside)
        print(
            f"{path}: unreadable ({_reason(err)}), moved aside to {aside.name}; "
            "training from scratch"
        )
        return None
    if stamped != stamp:
        kept = state.get("inputs")
        changed = [k for k in inputs or {} if isinstance(kept, dict) and kept.get(k) != inputs[k]]
        what = ", ".join((why or {}).get(k, k) for k in changed) or "code, parameters or data"
        print(f"{path}: written with other {what}; training from scratch")
        return None
    return state


def _reason(err: BaseException) -> str:
    """An exception's first sentence, for a one-line message (torch's go on with advice)."""
    text = str(err).strip().splitlines()
    return text[0].split(". ")[0].rstrip(".") if text else type(err).__name__


def check_writable(*folders: Path) -> None:
    """Create each folder (parents too) and a file in it, or stop with one line naming it: a
    run finds out before it trains, not after."""
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # A real write: a permission bit says nothing for root or on a read-only mount.
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            raise ClarError(
                f"{folder}: cannot write there ({err.strerror or _reason(err)}); make it "
                "writable (chmod -R u+w) or remove it, then run again"
            ) from None


def save_checkpoint(folder: Path, state: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save(state, folder / CHECKPOINT_FILE)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def write_run_info(out_dir: Path, info: dict) -> None:
    """``run.json``: ``info["run"]`` is ``asdict(run)``; the rest is what it was trained with."""
    write_json(out_dir / RUN_FILE, info)


def read_run_info(run_dir: Path) -> dict:
    return read_json(run_dir / RUN_FILE)


def write_history(run_dir: Path, history: list[dict]) -> None:
    """``history.tsv``: per-epoch metrics (every key that any epoch has; blank where an epoch
    has none)."""
    keys = list(dict.fromkeys(k for row in history for k in row))
    lines = ["\t".join(keys)]
    for row in history:
        lines.append("\t".join("" if k not in row else f"{row[k]:.6g}" for k in keys))
    write_text(run_dir / HISTORY_FILE, "\n".join(lines) + "\n")


def read_history(run_dir: Path) -> pd.DataFrame:
    """``history.tsv`` of a run: one row per epoch."""
    return pd.read_csv(run_dir / HISTORY_FILE, sep="\t")


def write_evaluation(run_dir: Path, result: dict) -> None:
    write_json(run_dir / evaluation_file(result["fraction"]), result)


def predictions_file(fraction: float) -> str:
    return f"predictions-f{fraction:g}.npz"


# An evaluation head scored beside ``evaluate.head`` (``evaluate.extra_heads``) writes its own
# pair of files, named so that EVALUATION_GLOB and PREDICTIONS_GLOB never match them: the
# report's main tables read only the evaluation head's.
PROBE_PREFIX = "probe-"


def probe_file(head: str, fraction: float) -> str:
    """``probe-<head>-f<fraction>.json``: :func:`evaluation_file` of an extra head."""
    return f"{PROBE_PREFIX}{head}-f{fraction:g}.json"


def probe_predictions_file(head: str, fraction: float) -> str:
    """``probe-<head>-predictions-f<fraction>.npz``: :func:`predictions_file` of an extra head."""
    return f"{PROBE_PREFIX}{head}-{predictions_file(fraction)}"


# Every extra head's evaluation at every fraction (the head is named inside, not parsed here).
PROBE_GLOB = f"{PROBE_PREFIX}*-f*.json"


def write_predictions(run_dir: Path, fraction: float, predictions: dict[str, np.ndarray]) -> None:
    """``predictions-f<fraction>.npz``: one row per test clip, in the split's manifest order.

    Keys: ``clip`` (str ``[N]``, the clip's id in the data set), ``label`` (int64 ``[N]``),
    ``predicted`` and ``logits`` (int64 ``[N]``, float32 ``[N, C]``: the evaluation head), and
    for runs with a classifier of their own ``classifier_predicted`` / ``classifier_logits``.
    """
    write_atomic(run_dir / predictions_file(fraction), lambda tmp: _savez(tmp, predictions))


def write_probe(run_dir: Path, head: str, result: dict, predictions: dict[str, np.ndarray]) -> None:
    """An extra head's evaluation and predictions, as :func:`write_evaluation` and
    :func:`write_predictions` write the evaluation head's."""
    fraction = result["fraction"]
    write_json(run_dir / probe_file(head, fraction), result)
    path = run_dir / probe_predictions_file(head, fraction)
    write_atomic(path, lambda tmp: _savez(tmp, predictions))


def read_probe_predictions(run_dir: Path, head: str, fraction: float) -> dict[str, np.ndarray]:
    with np.load(run_dir / probe_predictions_file(head, fraction), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # np.savez appends ".npz" to a name without it; an open file keeps the temporary name.
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def read_predictions(run_dir: Path, fraction: float) -> dict[str, np.ndarray]:
    with np.load(run_dir / predictions_file(fraction), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def evaluations(root: Path, experiment: str) -> list[dict]:
    """Every evaluation written under ``root/experiment``, in path order."""
    return [read_json(p) for p in sorted((root / experiment).rglob(EVALUATION_GLOB))]


def probes(root: Path, experiment: str) -> list[tuple[Path, dict]]:
    """Every extra head's evaluation under ``root/experiment`` (:func:`write_probe`), with its
    run folder, in path order."""
    found = sorted((root / experiment).rglob(PROBE_GLOB))
    return [(p.parent, read_json(p)) for p in found]


def trained(root: Path, experiment: str) -> list[Path]:
    """Every run folder under ``root/experiment`` that holds a finished run, in path order."""
    return [p.parent for p in sorted((root / experiment).rglob(RUN_FILE))]


def plugin_specs(run: Run) -> dict[str, str]:
    """The plug-ins a run's network is built from, as run.json records them (none: ``{}``)."""
    specs = {"objective": OBJECTIVES.spec(run.objective), "encoder": ENCODERS.spec(run.input)}
    return {key: spec for key, spec in specs.items() if spec}


def load_plugins(run: Run, specs: dict[str, str], source: Path) -> None:
    """Register the plug-ins ``specs`` (:func:`plugin_specs`) that a saved run needs."""
    ENCODERS.ensure(run.input, specs.get("encoder"), f"{source}: plugins.encoder")
    OBJECTIVES.ensure(run.objective, specs.get("objective"), f"{source}: plugins.objective")


def load_model(run_dir: Path, device: torch.device) -> tuple[Model, dict, FeatureParams]:
    """Rebuild a trained model from ``run.json`` and ``model.pt``; returns the model (in eval
    mode, on ``device``), the run info and the feature parameters it was trained with."""
    info = read_run_info(run_dir)
    run = Run.from_json(info["run"])
    load_plugins(run, info.get("plugins", {}), run_dir / RUN_FILE)
    # Through JSON, where a strict model reads arrays as the tuples it holds.
    features = FeatureParams.model_validate_json(json.dumps(info["features"]))
    model = build_model(
        run.input,
        run.objective,
        len(info["classes"]),
        info["train"]["width"],
        info["sample_rate"],
        features,
        info.get("options"),
    )
    path = run_dir / MODEL_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except UNREADABLE as err:
        raise ClarError(
            f"{path}: unreadable ({_reason(err)}); restore it with `dvc checkout` or train the "
            "run again (`dvc repro -f` of its stage)"
        ) from None
    model.load_state_dict(state)
    return model.to(device).eval(), info, features
