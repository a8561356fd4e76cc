"""Outputs appear whole: a killed writer's temporaries are cleared on the next write (a live
writer's are not), and a set of files is replaced all together or not at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clar.atomic import as_a_set, write_text

KILLED = """
import os, signal, sys
from pathlib import Path
from clar.atomic import as_a_set, temporary
target = Path(sys.argv[1])
if target.is_dir():
    with as_a_set(target) as work:
        (work / "a.md").write_text("new a")
        os.kill(os.getpid(), signal.SIGKILL)
temporary(target).write_text("half a file")
os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_while_writing(target: Path) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED, str(target)])
    assert done.returncode == -signal.SIGKILL


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_killed_writers_temporary_is_cleared_on_the_next_write(tmp_path):
    target = tmp_path / "info.json"
    killed_while_writing(target)
    assert len(hidden(tmp_path)) == 1
    live = tmp_path / f".info.json.{os.getpid()}.abc.tmp"  # this test's process is alive
    live.write_text("being written")
    write_text(target, "{}")
    assert target.read_text() == "{}" and hidden(tmp_path) == [live.name]


def test_a_set_replaces_every_file_or_none(tmp_path, umask_022):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "a.md").write_text("old a")
    (out / "curves").mkdir()
    (out / "curves" / "old.tsv").write_text("old")
    with pytest.raises(RuntimeError), as_a_set(out) as work:
        write_text(work / "a.md", "new a")
        raise RuntimeError("the render failed half-way")
    assert (out / "a.md").read_text() == "old a" and hidden(out) == []

    killed_while_writing(out)
    assert (out / "a.md").read_text() == "old a" and len(hidden(out)) == 1

    with as_a_set(out) as work:
        write_text(work / "a.md", "new a")
        write_text(work / "b.md", "new b")
        (work / "curves").mkdir()
        write_text(work / "curves" / "new.tsv", "new")
    assert sorted(p.name for p in out.iterdir()) == ["a.md", "b.md", "curves"]
    assert [p.name for p in (out / "curves").iterdir()] == ["new.tsv"]
    # Readable by everyone, as any new file under the umask (mkstemp's would be 0600).
    assert {oct(p.stat().st_mode & 0o777) for p in out.rglob("*") if p.is_file()} == {"0o644"}
