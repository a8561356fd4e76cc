"""Progress bars read well in a terminal and in a log; a stage under DVC says its place in the
pipeline, in the order DVC itself runs the stages."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tqdm import tqdm

from clar.progress import announce_stage, pipeline_stages, progress_bar

ROOT = Path(__file__).resolve().parents[1]
# What every log line carries: a percentage, a count of the total and a rate.
PROGRESS = re.compile(r"\d+%\|.*\| \d+/1000 \[.*clip/s")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _log(updates: int, **options: object) -> list[str]:
    stream = io.StringIO()
    with progress_bar(total=updates, file=stream, desc="t", unit="clip", **options) as bar:
        for i in range(updates):
            bar.update(1)
            bar.set_postfix(step=i)
    text = stream.getvalue()
    assert "\r" not in text and text.endswith("\n")
    return text.splitlines()


def test_a_log_gets_a_line_every_few_percent_at_most() -> None:
    # Without the time limit, only the percentage step bounds the lines: 0, 5, ..., 100 %.
    lines = _log(1000, mininterval=0)
    assert 20 <= len(lines) <= 25
    assert all(PROGRESS.search(line) for line in lines)
    assert lines[0].startswith("t:   0%") and lines[-1].startswith("t: 100%")
    # set_postfix does not force a line of its own; the next due line carries it.
    assert "step=999" in lines[-1]


def test_a_fast_bar_logs_its_first_and_last_line_only() -> None:
    lines = _log(1000)
    assert len(lines) == 2 and all(PROGRESS.search(line) for line in lines)


def test_a_bar_that_erases_itself_on_a_terminal_leaves_its_last_line_in_a_log() -> None:
    assert _log(1000, leave=False)[-1].startswith("t: 100%")


def test_a_terminal_gets_tqdm_as_it_is() -> None:
    stream = Terminal()
    bar = progress_bar(total=1000, file=stream, desc="t", unit="clip")
    with tqdm(total=1000, file=Terminal()) as plain:
        assert type(bar) is tqdm
        assert (bar.mininterval, bar.miniters, bar.leave) == (
            plain.mininterval,
            plain.miniters,
            plain.leave,
        )
    for _ in range(1000):
        bar.update(1)
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\r") and text.count("\n") == 1 and "1000/1000" in text


def _run_logged(env: dict[str, str]) -> list[str]:
    """A bar of 1000 updates in a fresh process whose stderr is a pipe (not a terminal)."""
    code = (
        "from clar.progress import progress_bar\n"
        "for _ in progress_bar(range(1000), desc='t', unit='clip'): pass\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return done.stderr.splitlines()


def test_a_redirected_stderr_is_logged_and_tqdm_environment_variables_win() -> None:
    assert len(_run_logged({})) == 2
    assert 20 <= len(_run_logged({"TQDM_MININTERVAL": "0"})) <= 25


# ---- the stage counter ---------------------------------------------------------------------

# dvc.yaml's forms a stage list may take: a plain stage, a matrix over a params list and a
# literal list, one over dicts (DVC names those by key and index), and a stage listed first
# that depends on a later one (DVC runs it after).
SYNTHETIC = {
    "stages": {
        "late": {"cmd": "true", "deps": ["b"], "outs": ["c"]},
        "first": {"cmd": "true", "outs": ["a"]},
        "grid": {
            "matrix": {"data": "${data.names}", "size": [1, 2]},
            "cmd": "true",
            "deps": ["a"],
            "outs": ["g/${item.data}-${item.size}"],
        },
        "dicts": {"matrix": {"opt": [{"p": 1}, {"p": 2}]}, "cmd": "true", "outs": ["d${key}"]},
        "then": {"cmd": "true", "deps": ["a"], "outs": ["b"]},
    }
}


# DVC's own code warns of a deprecation inside a dependency of its.
dvc_warnings = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _dvc_order(folder: Path) -> list[str]:
    """The order in which DVC itself runs the stages of ``folder``'s dvc.yaml."""
    from dvc.repo import Repo
    from dvc.repo.reproduce import plan_repro

    Repo.init(folder, no_scm=True)
    with Repo(folder) as repo:
        return [stage.name for stage in plan_repro(repo.index.graph)]


@dvc_warnings
def test_the_stage_list_is_the_order_dvc_runs_the_repository_pipeline(tmp_path: Path) -> None:
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    load = lambda name: yaml.safe_load((tmp_path / name).read_text())  # noqa: E731
    assert pipeline_stages(load("dvc.yaml"), load("params.yaml")) == _dvc_order(tmp_path)


@dvc_warnings
def test_the_stage_list_names_matrix_members_as_dvc_does(tmp_path: Path) -> None:
    params = {"data": {"names": ["speech", "music"]}}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(SYNTHETIC, sort_keys=False))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    names = pipeline_stages(SYNTHETIC, params)
    assert names == [
        "late",
        "first",
        "grid@speech-1",
        "grid@speech-2",
        "grid@music-1",
        "grid@music-2",
        "dicts@opt0",
        "dicts@opt1",
        "then",
    ]
    dvc = _dvc_order(tmp_path)
    assert sorted(names) == sorted(dvc)
    # Listed before a stage it depends on, "late" runs after it: dvc.yaml's order is DVC's only
    # when each stage follows its dependencies, which the repository test above holds.
    assert dvc.index("late") > dvc.index("then")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"DVC_STAGE": "report", "DVC_ROOT": str(ROOT)}, r"stage (\d+) of \1: report\n"),
        ({"DVC_STAGE": "no-such-stage", "DVC_ROOT": str(ROOT)}, r""),
        ({}, r""),
    ],
)
def test_a_stage_run_by_dvc_says_its_place(environ: dict[str, str], expected: str) -> None:
    stream = io.StringIO()
    announce_stage(environ, stream)
    assert re.fullmatch(expected, stream.getvalue())
