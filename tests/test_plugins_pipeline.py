"""A method of one's own through the whole pipeline, with no file under clar/ edited: the
example objective, encoder and second label-free objective of docs/extending.md, copied into
plugins/ and named in params, through `dvc repro`, the report, the planner and a HEAR export."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from test_pipeline import ROOT, new_project, ran, sh

pytestmark = pytest.mark.slow

EXAMPLES = ROOT / "docs" / "examples"
OVERRIDES = [
    "profile=tiny",
    "data.names=[speech]",
    "augmentation_study.datasets=[]",
    "plugins.objectives=['plugins/supcon.py:SupCon','plugins/simsiam.py:SimSiam']",
    "plugins.encoders=['plugins/small_cnn.py:SmallCNN']",
    "grid.inputs=[spectrogram,small_cnn]",
    "+grid.fractions.small_cnn=[50,100]",
    "loss.fraction_trained=[supervised,supcon]",
    "loss.label_free=[contrastive,simsiam]",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = new_project(tmp_path_factory.mktemp("plugins"), OVERRIDES)
    for name in ("supcon.py", "simsiam.py", "small_cnn.py"):
        shutil.copy(EXAMPLES / name, root / "plugins" / name)
    sh(root, "git", "config", "user.email", "test@example.com")
    sh(root, "git", "config", "user.name", "test")
    log = sh(root, "dvc", "repro")
    return root, log


def test_the_plugins_train_and_are_reported(project):
    root, log = project
    for cell in ("spectrogram-supcon", "small_cnn-supcon", "small_cnn-simsiam"):
        assert f"Running stage 'train@speech-{cell}'" in log or f"'pretrain@speech-{cell}'" in log
        assert (root / "runs/grid/speech" / cell).is_dir(), cell
    results = (root / "reports/results.csv").read_text()
    assert ",small_cnn,supcon," in results and ",spectrogram,simsiam," in results
    e3 = (root / "reports/e3_label_fractions.md").read_text()
    assert "SupCon" in e3
    index = (root / "reports/index.md").read_text()
    assert "SupCon beats" in index  # its claim line, from compared_with
    e2 = (root / "reports/e2_raw_vs_spectrogram.md").read_text()
    assert "small_cnn" in e2 or "small CNN" in e2


def test_the_planner_costs_the_plugins_from_their_modules(project):
    root, _ = project
    out = sh(root, sys.executable, "-m", "clar", "plan", *OVERRIDES)
    for name in ("supcon", "simsiam", "small_cnn"):
        assert name in out, (name, out)


def test_a_plugin_run_exports_for_hear(project, tmp_path):
    root, _ = project
    run = next((root / "runs/grid/speech/small_cnn-supcon").glob("f100-s0"))
    exported = tmp_path / "small_cnn.pt"
    sh(root, sys.executable, "-m", "clar", "export", str(run), str(exported))
    check = (
        "import torch, sys\n"
        "from clar.hear import load_model, get_timestamp_embeddings\n"
        f"model = load_model({str(exported)!r})\n"
        "emb, ts = get_timestamp_embeddings(torch.zeros(2, 16000), model)\n"
        "assert emb.shape[:2] == ts.shape and torch.isfinite(emb).all()\n"
        "print(emb.shape[-1], model.frame_ms)\n"
    )
    # In another folder: the export names the plug-in file it needs, by its absolute path.
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_editing_a_plugin_reruns_what_uses_it_and_retrains(project):
    root, _ = project
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "plugins")
    with (root / "plugins" / "supcon.py").open("a") as f:
        f.write("\n# edited\n")
    status = sh(root, "dvc", "status")
    assert "train@speech-small_cnn-supcon" in status and "plugins" in status
    log = sh(root, "dvc", "repro", "train@speech-small_cnn-supcon")
    assert "written with other plug-in code (supcon.py); training from scratch" in log
    assert "train@speech-small_cnn-supcon" in ran(log)


def test_two_label_free_objectives_load_as_distinct_stages(project):
    root, _ = project
    listed = sh(root, "dvc", "stage", "list", "--name-only").split()
    assert "pretrain@speech-spectrogram-simsiam" in listed
    assert "pretrain@speech-spectrogram-contrastive" in listed
    info = json.loads((root / "runs/grid/speech/spectrogram-simsiam/s0/run.json").read_text())
    assert info["plugins"]["objective"].endswith("plugins/simsiam.py:SimSiam")
