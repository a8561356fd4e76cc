"""End to end: `dvc repro` on the tiny profile in a temporary project, then `dvc exp run`."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clar.compose import compose

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
SHIPPED = ("clar", "stages", "conf", "plugins", "dvc.yaml", "pyproject.toml", ".gitignore")


def sh(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(cwd),
        "DVC_NO_ANALYTICS": "1",
    }
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, (
        f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout + done.stderr


def new_project(root: Path, overrides: list[str]) -> Path:
    """``root`` made a git + DVC project with this repository's pipeline and ``params.yaml``
    composed with ``overrides``."""
    for name in SHIPPED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    (root / "params.yaml").write_text(yaml.safe_dump(compose(root / "conf", overrides)))
    sh(root, "git", "init", "-q")
    sh(root, "dvc", "init", "-q")
    sh(root, "dvc", "config", "core.analytics", "false")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A git + DVC project with this repository's pipeline and the tiny profile, reproduced."""
    root = new_project(tmp_path_factory.mktemp("project"), ["profile=tiny"])
    sh(root, "git", "config", "user.email", "test@example.com")
    sh(root, "git", "config", "user.name", "test")
    sh(root, "dvc", "config", "hydra.enabled", "true")
    log = sh(root, "dvc", "repro")
    return root, log


def test_repro_prepares_features_trains_and_reports(project):
    root, log = project
    for name in ("speech", "music", "environment"):
        info = json.loads((root / "data/prepared" / name / "info.json").read_text())
        assert info["sample_rate"] == 16000
        assert info["clips"] == {
            "train": 60 if name == "speech" else info["clips"]["train"],
            "valid": info["clips"]["valid"],
            "test": info["clips"]["test"],
        }
        assert (root / "data/features" / name / "test.npy").exists()
    assert "prepare speech" in log  # the progress bars went to the log
    index = (root / "reports/index.md").read_text()
    for section in ("E1", "E2", "E3", "E4", "Claim"):
        assert section in index, section
    results = (root / "reports/results.csv").read_text().splitlines()
    assert results[0].startswith("experiment,dataset,input,objective,fraction")
    assert len(results) > 100
    summary = json.loads((root / "reports/summary.json").read_text())
    assert set(summary) == {"speech", "music", "environment"}


def ran(log: str) -> list[str]:
    """The stages a `dvc repro` log says it ran, but the sources stages, which DVC runs every
    time to look at the data sets' files (clar.data.watch)."""
    stages = re.findall(r"Running stage '([^']+)'", log)
    return [s for s in stages if not s.startswith("sources@")]


def test_second_repro_does_nothing(project):
    root, _ = project
    log = sh(root, "dvc", "repro")
    assert ran(log) == [], log
    assert "Stage 'prepare@speech' didn't change, skipping" in log


def test_exp_run_with_hybrid_only(project):
    root, _ = project
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "tiny baseline")
    log = sh(root, "dvc", "exp", "run", "-S", "loss=hybrid", "-S", "profile=tiny")
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["loss"] | {"options": {}} == {
        "fraction_trained": ["hybrid"],
        "label_free": [],
        "options": {},
    }
    # The hybrid runs were reproduced already: only the report is new.
    assert "Running stage 'report'" in log
    assert "Running stage 'train@" not in log
    results = (root / "reports/results.csv").read_text()
    assert (
        ",hybrid," in results and ",supervised," not in results and ",contrastive," not in results
    )


def test_going_back_restores_every_stage_from_the_run_cache(project):
    """A -> B -> A: after an experiment that reruns every training stage, returning to the
    committed parameters restores all stages from DVC's run-cache; nothing trains again."""
    root, _ = project
    sh(root, "git", "checkout", "--", "params.yaml")
    sh(root, "dvc", "repro")  # A, whatever earlier tests left in the workspace
    before = (root / "reports/results.csv").read_text()
    log = sh(root, "dvc", "exp", "run", "-S", "evaluate.epochs=3", "-S", "profile=tiny")
    assert "Running stage 'train@" in log and "Running stage 'pretrain@" in log
    sh(root, "git", "checkout", "--", "params.yaml")
    log = sh(root, "dvc", "repro")
    assert ran(log) == [], log
    assert "is cached - skipping run" in log
    assert (root / "reports/results.csv").read_text() == before


WRITE_TONES = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_current import overwrite_with_noise, write_tones
root = Path("audio")
if sys.argv[1] == "write":
    write_tones(root)
else:
    overwrite_with_noise(root / "high")
"""


def test_a_folder_edited_in_place_is_prepared_again(tmp_path):
    """A folder data set lives outside DVC's sight: the sources stage looks at its files on
    every `dvc repro`, and prepare (and everything after it) reruns only when they changed."""
    root = new_project(tmp_path, ["profile=tiny"])
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["names"], params["augmentation_study"]["datasets"] = ["adv"], []
    options = {"root": "audio", "test_regex": r"_0\.wav$"}
    params["datasets"]["adv"] = {"kind": "folder", "clip_seconds": 0.25, **options}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    tones = WRITE_TONES.format(tests=str(ROOT / "tests"))
    sh(root, sys.executable, "-c", tones, "write")
    assert "Running stage 'prepare@adv'" in sh(root, "dvc", "repro", "prepare@adv")
    before = (root / "data/prepared/adv/info.json").read_text()
    log = sh(root, "dvc", "repro", "prepare@adv")
    assert "Running stage 'sources@adv'" in log and ran(log) == [], log
    sh(root, sys.executable, "-c", tones, "noise")  # same names, other audio
    log = sh(root, "dvc", "repro", "prepare@adv")
    assert ran(log) == ["prepare@adv"], log
    assert (root / "data/prepared/adv/info.json").read_text() != before
