"""The per-stage wall times that the report's front page shows."""

from __future__ import annotations

import json
import time
from pathlib import Path

from clar.cli import STAGE_FILE, record_stage
from clar.results import stage_seconds

TEST_IMPORTED = time.time()


def test_record_stage_counts_from_the_start_of_the_process(tmp_path: Path) -> None:
    before = time.time()
    record_stage(tmp_path, "train")
    stage = json.loads((tmp_path / STAGE_FILE).read_text())
    assert stage["group"] == "train"
    # The process started before this module was imported: its imports are in the time.
    assert stage["seconds"] >= time.time() - TEST_IMPORTED - 0.01
    assert stage["seconds"] >= before - TEST_IMPORTED


def test_stage_seconds_sums_each_group_in_pipeline_order(tmp_path: Path) -> None:
    written = {
        "runs/grid/a/raw-contrastive-s0": ("pretrain", 4.0),
        "runs/grid/a/raw-supervised-f10-s0": ("train", 2.5),
        "runs/grid/b/raw-supervised-f10-s0": ("train", 3.0),
        "runs/augmentation/a": ("augmentation-study", 30.0),
        "prepared/a": ("prepare", 1.25),
        "prepared/b": ("prepare", 2.0),
    }
    for folder, (group, seconds) in written.items():
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / STAGE_FILE).write_text(
            json.dumps({"group": group, "seconds": seconds})
        )
    got = stage_seconds([tmp_path / "prepared", tmp_path / "features", tmp_path / "runs"])
    assert list(got.items()) == [
        ("prepare", 3.2),
        ("train", 5.5),
        ("pretrain", 4.0),
        ("augmentation-study", 30.0),
    ]
