"""What the report says about how it was made: why E1 is absent, which stages' wall times
timings.json adds up, and the revision when the run itself rewrote dvc.lock."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from test_report import make_results

from clar.compose import compose
from clar.config import parse_params
from clar.layout import timing
from clar.report import aggregate, claims, e1, provenance
from clar.runs import AUGMENTATION

CONF = Path(__file__).resolve().parent.parent / "conf"


def params(*overrides: str):
    return parse_params(compose(CONF, list(overrides)), CONF)


def test_e1_absent_names_the_loss_option_or_the_parameter():
    assert provenance.e1_absent(params()) == ""
    hybrid = provenance.e1_absent(params("loss=hybrid"))
    assert hybrid.startswith("E1 did not run: augmentation_study.datasets is empty because")
    assert "(hybrid, from the loss option) leave out E1's objective contrastive" in hybrid
    assert hybrid.endswith("(augmentation_study.objective); loss=all runs it")
    emptied = provenance.e1_absent(params("augmentation_study.datasets=[]"))
    assert emptied == (
        "E1 did not run: augmentation_study.datasets is empty in params.yaml; set it to one or "
        "more of data.names"
    )


def test_the_claims_give_that_reason_and_no_guess_about_the_profile():
    results, _ = make_results(np.random.default_rng(1))
    without = results[results["experiment"] != AUGMENTATION]
    reason = provenance.e1_absent(params("loss=hybrid"))
    data = aggregate.gather(without, {"e1_absent": reason})
    found = claims._augmentation_claims(data, e1.augmentation_study(data.df))
    assert [c.verdict for c in found] == [claims.UNJUDGED] * 2
    assert all(c.why == reason for c in found)
    # A run with E1's parameters whose rows are missing says just that.
    data = aggregate.gather(without, {})
    (first, _) = claims._augmentation_claims(data, e1.augmentation_study(data.df))
    assert first.why.startswith("no augmentation-study runs") and "profile" not in first.why


def write_timing(output: str, group: str, seconds: float, age: float = 0.0) -> None:
    path = timing(Path(output))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"group": group, "seconds": seconds}))
    if age:
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))


def test_timings_count_only_the_stages_this_repro_ran(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # An earlier experiment's runs (an hour ago): DVC restores or skips them in this one.
    write_timing("data/prepared/speech", "prepare", 30.0, age=3600)
    write_timing("runs/grid/speech/raw-supervised", "train", 500.0, age=3600)
    # This repro: its sources stage (2 s, ended 20 s ago), then one training run.
    write_timing("data/sources/speech.json", "sources", 2.0, age=20)
    write_timing("runs/grid/speech/raw-hybrid", "train", 15.0)
    got = provenance.timings(["speech"], Path("data/prepared"), Path("data/features"), Path("runs"))
    assert got == {
        "stage_seconds": {"sources": 2.0, "train": 15.0},
        "total_seconds": 17.0,
        "counted": provenance.THIS_RUN,
    }
    # Without a sources record nothing dates this run: every stage's last time, said so.
    timing(Path("data/sources/speech.json")).unlink()
    got = provenance.timings(["speech"], Path("data/prepared"), Path("data/features"), Path("runs"))
    assert got["stage_seconds"] == {"prepare": 30.0, "train": 515.0}
    assert got["counted"] == provenance.EVERY_RUN


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "reports").mkdir()
    for name in ("dvc.lock", "params.yaml", "reports/summary.json"):
        (tmp_path / name).write_text("{}\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_revision_is_not_dirty_for_what_the_run_itself_rewrote(repo):
    rev = git(repo, "rev-parse", "--short", "HEAD")
    assert provenance.git_revision() == rev
    # DVC rewrites dvc.lock after each stage and deletes the report's outputs before it runs.
    (repo / "dvc.lock").write_text("stages: {}\n")
    (repo / "reports/summary.json").unlink()
    assert provenance.git_revision() == f"{rev} (dvc.lock updated by this run)"
    (repo / "params.yaml").write_text("x: 1\n")
    assert provenance.git_revision() == f"{rev}+dirty"
