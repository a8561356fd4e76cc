"""The workspace: the pipeline's stages and the folders they read and write, as dvc.yaml
declares them (a test holds the two together). Paths are relative to the project root, where
DVC runs every stage.
"""

from __future__ import annotations

from pathlib import Path

# The stage groups of dvc.yaml, in pipeline order (the report lists their times in this order).
SOURCES = "sources"
PREPARE = "prepare"
FEATURES = "features"
TRAIN = "train"
PRETRAIN = "pretrain"
AUGMENTATION_STUDY = "augmentation-study"
REPORT = "report"
STAGES = (SOURCES, PREPARE, FEATURES, TRAIN, PRETRAIN, AUGMENTATION_STUDY, REPORT)

PARAMS = Path("params.yaml")
RAW = Path("data/raw")  # downloads and generated audio, kept between runs (not tracked)
SOURCES_DIR = Path("data/sources")  # what the sources stage saw of each data set
PREPARED = Path("data/prepared")
FEATURES_DIR = Path("data/features")
RUNS = Path("runs")
CHECKPOINTS = Path("checkpoints")
REPORTS = Path("reports")
# Each stage's wall time, beside and not among the outputs (clar.cli.record_stage): a clock
# reading inside an output would change its DVC hash on every run, and with it every stage
# downstream. Not tracked by DVC or git.
TIMINGS = Path("timings")
# A prepared data set and its stored features each describe themselves in one.
INFO_FILE = "info.json"


def source(dataset: str) -> Path:
    """The sources stage's record of a data set's files (:mod:`clar.data.watch`)."""
    return SOURCES_DIR / f"{dataset}.json"


def prepared(dataset: str) -> Path:
    """The tensor store of a data set (prepare stage's output)."""
    return PREPARED / dataset


def features(dataset: str) -> Path:
    """The stored un-augmented features of a data set (features stage's output)."""
    return FEATURES_DIR / dataset


def timing(output: Path) -> Path:
    """Where the stage that writes ``output`` (a path dvc.yaml declares, relative to the project
    root) records its wall time: ``timings/<output>.json``. An absolute path keeps its parts
    under ``timings/``, so the timings never land among outputs."""
    output = Path(output)
    return TIMINGS / f"{output.relative_to(output.anchor)}.json"
