"""``python -m clar compare``: three experiments' accuracies and verdicts in 120 columns, read from
git (reports/summary.json) and DVC's cache (reports/index.md, by its dvc.lock hash)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from clar.compare import compare, experiment_refs, verdicts
from clar.errors import ClarError
from clar.report.claims import Claim
from clar.report.index import _summary_table
from clar.report.verdicts import INCONCLUSIVE, SUPPORTED, UNJUDGED

PARTS = (
    (1, "Augmentations matter: the best augmentation choice beats the worst"),
    (
        2,
        "ResNet-18 (2-D) on the spectrogram beats ResNet-18 (1-D) on the waveform for "
        "supervised, self-supervised and CLAR",
    ),
    (3, "CLAR converges faster than the self-supervised model"),
)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit_report(root: Path, accuracy: float, states: tuple[str, ...]) -> str:
    """A commit as `dvc exp run` makes one: summary.json in git, index.md in the cache."""
    summary = {
        "environment": {"raw": {"supervised": accuracy, "hybrid": accuracy - 0.05}},
        "speech": {"spectrogram": {"contrastive": accuracy / 2}},
    }
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports/summary.json").write_text(json.dumps(summary))
    claims = [Claim(n, s, v, "") for (n, s), v in zip(PARTS, states, strict=True)]
    index = "# Report\n\n## Verdicts\n\n" + _summary_table(claims) + "\n## Settings\n"
    md5 = hashlib.md5(index.encode()).hexdigest()
    cached = root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(index)
    lock = {"stages": {"report": {"outs": [{"path": "reports/index.md", "md5": md5}]}}}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    git(root, "add", "reports/summary.json", "dvc.lock")
    git(root, "commit", "-qm", f"accuracy {accuracy}")
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path) -> Path:
    """main, and two experiments of it under refs/exps as DVC stores them."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    base = commit_report(root, 0.80, (SUPPORTED, INCONCLUSIVE, UNJUDGED))
    for name, accuracy, states in (
        ("hybrid-loss-long-name", 0.90, (SUPPORTED, SUPPORTED, INCONCLUSIVE)),
        ("tiny", 0.50, (INCONCLUSIVE, INCONCLUSIVE, UNJUDGED)),
    ):
        exp = commit_report(root, accuracy, states)
        git(root, "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/{name}", exp)
        git(root, "reset", "-q", "--hard", base)
    git(root, "update-ref", "refs/exps/exec/EXEC_HEAD", base)
    return root


def test_three_experiments_fit_120_columns(repo):
    assert list(experiment_refs(repo)) == ["hybrid-loss-long-name", "tiny"]
    text = compare(["main", "hybrid-loss-long-name", "tiny"], repo)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 120, text
    header = lines[0]
    assert header.split()[-3:] == ["main", "hybrid-loss…", "tiny"]
    rows = {" ".join(line.split()[:3]): line.split()[3:] for line in lines[1:4]}
    assert rows == {
        "environment raw hybrid": ["75.0", "85.0", "45.0"],
        "environment raw supervised": ["80.0", "90.0", "50.0"],
        "speech spectrogram contrastive": ["40.0", "45.0", "25.0"],
    }
    claims = lines[lines.index("") + 1 :]
    assert claims[0].startswith("claims")
    assert claims[1].split()[-3:] == ["supported", "supported", "inconclusive"]
    assert claims[2].startswith("2  ResNet-18") and "…" in claims[2]  # cut to fit
    assert claims[2].split()[-3:] == ["inconclusive", "supported", "inconclusive"]
    assert claims[3].split()[-3:] == ["unjudged", "inconclusive", "unjudged"]


def test_by_default_the_workspace_the_branch_and_its_experiments(repo):
    summary = json.loads((repo / "reports/summary.json").read_text())
    summary["environment"]["raw"]["supervised"] = 0.123
    (repo / "reports/summary.json").write_text(json.dumps(summary))
    lines = compare([], repo).splitlines()
    assert lines[0].split()[-4:] == ["workspace", "main", "hybrid-loss…", "tiny"]
    assert lines[2].split()[3:] == ["12.3", "80.0", "90.0", "50.0"]
    # The workspace's index.md is not there (DVC would have checked it out): said, not guessed.
    assert lines[-1] == "workspace: no reports/index.md; dvc checkout restores it"


def test_an_unknown_experiment_is_refused_naming_those_there_are(repo):
    with pytest.raises(ClarError) as caught:
        compare(["nope"], repo)
    assert str(caught.value) == (
        "compare: 'nope' is neither an experiment nor a git revision; "
        "experiments: workspace, hybrid-loss-long-name, tiny"
    )


def test_an_index_missing_from_the_cache_is_said(repo):
    for cached in (repo / ".dvc/cache").rglob("*"):
        if cached.is_file():
            cached.unlink()
    text = compare(["tiny"], repo)
    assert "claims" not in text
    assert text.splitlines()[-1] == (
        "tiny: its reports/index.md is not in the DVC cache; dvc pull fetches it"
    )


def test_verdicts_read_only_the_verdicts_table():
    claims = [Claim(1, "A part", SUPPORTED, "")]
    page = "## Verdicts\n\n" + _summary_table(claims) + "\n## Claim 1\n\n| 1 | other | x |\n"
    assert verdicts(page) == {("1", "A part"): SUPPORTED}
