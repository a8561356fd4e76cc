"""--help says what a newcomer needs: the values a stage takes, and where to go next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clar.config import load_params
from clar.encoders import ENCODERS
from clar.objectives import OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]


def help_text(*command: str, cwd: Path = ROOT) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, *command, "--help"], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_train_help_lists_the_data_sets_encoders_and_objectives():
    text = help_text(str(ROOT / "stages/train.py"))
    names = load_params(ROOT / "params.yaml").data.names
    assert f"a data set: {', '.join(names)} (data.names in params.yaml)" in text
    assert f"an encoder: {', '.join(ENCODERS.names())}" in text
    assert f"an objective: {', '.join(OBJECTIVES.names())}" in text
    assert {"raw", "spectrogram"} <= set(ENCODERS.names())
    assert {"supervised", "contrastive", "hybrid"} <= set(OBJECTIVES.names())


def test_train_help_prints_where_params_yaml_is_missing(tmp_path):
    text = help_text(str(ROOT / "stages/train.py"), cwd=tmp_path)
    assert "the data.names of params.yaml (it does not load: params.yaml: not found" in text
    assert f"an objective: {', '.join(OBJECTIVES.names())}" in text


def test_clar_help_names_the_bench_the_gpu_check_and_the_guide():
    text = help_text("-m", "clar")
    for command in ("add-data", "compare", "data", "params", "plan", "export"):
        assert command in text
    assert "python -m clar.bench" in text and "make gpu-check" in text and "README.md" in text
