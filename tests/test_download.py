"""fetch / extract against a real HTTP server on 127.0.0.1 and real archives."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from clar.data.download import extract, fetch, fetch_and_extract
from clar.errors import ClarError

PAYLOAD = os.urandom(3 * (1 << 20) + 12345)  # several read chunks, not a multiple of one
SHA256 = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
MD5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("checksum", [SHA256, MD5, None], ids=["sha256", "md5", "none"])
def test_clean_download(archive_server, tmp_path, checksum):
    archive_server.files["a.bin"] = PAYLOAD
    dest = tmp_path / "dl" / "a.bin"
    got = fetch(archive_server.url("a.bin"), dest, checksum, progress=True)
    assert got == dest
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["a.bin"]
    assert archive_server.ranges("a.bin") == [None]


def test_existing_verified_dest_needs_no_network(archive_server, tmp_path):
    dest = tmp_path / "a.bin"
    dest.write_bytes(PAYLOAD)
    # Nothing is served: any request would 404.
    assert fetch(archive_server.url("a.bin"), dest, SHA256, progress=False) == dest
    assert archive_server.requests == []


def test_existing_dest_with_wrong_content_is_reported_not_deleted(archive_server, tmp_path):
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"not the archive")
    with pytest.raises(ClarError, match="does not match the published checksum"):
        fetch(archive_server.url("a.bin"), dest, SHA256, progress=False)
    assert dest.read_bytes() == b"not the archive"


def test_cut_then_resumed_by_a_second_call(archive_server, tmp_path):
    archive_server.files["a.bin"] = PAYLOAD
    half = len(PAYLOAD) // 2
    archive_server.cut("a.bin", half)
    dest = tmp_path / "a.bin"
    part = tmp_path / "a.bin.part"
    with pytest.raises(ClarError, match="resume") as info:
        fetch(archive_server.url("a.bin"), dest, SHA256, progress=False, retries=0)
    assert "\n" not in str(info.value)
    assert not dest.exists()
    assert part.stat().st_size == half

    fetch(archive_server.url("a.bin"), dest, SHA256, progress=False)
    assert archive_server.ranges("a.bin") == [None, f"bytes={half}-"]
    assert dest.read_bytes() == PAYLOAD
    assert not part.exists()


def test_cut_is_resumed_within_one_call(archive_server, tmp_path):
    archive_server.files["a.bin"] = PAYLOAD
    archive_server.cut("a.bin", 1000, 2_000_000)  # two cuts, the second one mid-resume
    dest = tmp_path / "a.bin"
    fetch(archive_server.url("a.bin"), dest, MD5, progress=False, retries=3)
    assert dest.read_bytes() == PAYLOAD
    assert archive_server.ranges("a.bin") == [None, "bytes=1000-", "bytes=2001000-"]


def test_server_ignoring_range_restarts_cleanly(archive_server, tmp_path):
    archive_server.files["a.bin"] = PAYLOAD
    archive_server.ignore_range = True
    dest = tmp_path / "a.bin"
    # A stale .part of garbage: appending the 200 body to it would corrupt the file.
    (tmp_path / "a.bin.part").write_bytes(b"x" * 5000)
    fetch(archive_server.url("a.bin"), dest, SHA256, progress=False)
    assert archive_server.ranges("a.bin") == ["bytes=5000-"]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_with_416_is_verified_and_renamed(archive_server, tmp_path):
    archive_server.files["a.bin"] = PAYLOAD
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD)  # finished, but the rename was missed
    fetch(archive_server.url("a.bin"), dest, SHA256, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["a.bin"]


def test_checksum_mismatch_leaves_nothing(archive_server, tmp_path):
    archive_server.files["a.bin"] = PAYLOAD
    dest = tmp_path / "a.bin"
    wrong = "sha256:" + "0" * 64
    url = archive_server.url("a.bin")
    with pytest.raises(ClarError) as info:
        fetch(url, dest, wrong, progress=False)
    message = str(info.value)
    assert url in message and "0" * 64 in message and SHA256 in message
    assert _leftovers(tmp_path) == []


def test_unreachable_host_names_url_and_manual_locations(tmp_path):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.zip"
    dest = tmp_path / "raw" / "data.zip"
    hint = str(tmp_path / "raw" / "data")
    with pytest.raises(ClarError) as info:
        fetch(url, dest, None, progress=False, timeout=5, manual_hint=hint)
    message = str(info.value)
    assert url in message and str(dest) in message and hint in message
    assert "\n" not in message
    assert not dest.exists()


def test_http_error_names_url(archive_server, tmp_path):
    url = archive_server.url("missing.zip")
    with pytest.raises(ClarError, match="404") as info:
        fetch(url, tmp_path / "missing.zip", None, progress=False)
    assert url in str(info.value)


def test_malformed_checksum_is_rejected(tmp_path):
    with pytest.raises(ClarError, match="sha256"):
        fetch("http://127.0.0.1:9/x", tmp_path / "x", "crc32:1234", progress=False)


# --- extract ----------------------------------------------------------------------------------

FILES = {"top/a.txt": b"alpha", "top/sub/b.bin": os.urandom(2000)}


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _targz(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


@pytest.mark.parametrize("build", [_zip, _targz], ids=["zip", "tar.gz"])
def test_extract(tmp_path, build):
    archive = build(tmp_path / "archive", FILES)
    dest = tmp_path / "out"
    assert extract(archive, dest, progress=True) == dest
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
    assert _leftovers(tmp_path) == ["archive", "out"]


@pytest.mark.parametrize("build", [_zip, _targz], ids=["zip", "tar.gz"])
@pytest.mark.parametrize("evil", ["../evil.txt", "/tmp/clar-evil.txt", "top/../../evil.txt"])
def test_extract_refuses_escaping_members(tmp_path, build, evil):
    archive = build(tmp_path / "archive", {**FILES, evil: b"gotcha"})
    dest = tmp_path / "box" / "out"
    with pytest.raises(ClarError, match="escapes"):
        extract(archive, dest, progress=False)
    assert not dest.exists()
    assert _leftovers(tmp_path / "box") == []  # no staging folder left behind
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "box" / "evil.txt").exists()


def test_extract_refuses_link_out_of_the_folder(tmp_path):
    archive = _targz(tmp_path / "a.tar.gz", FILES, links={"top/link": "../../../etc/passwd"})
    with pytest.raises(ClarError, match="escapes"):
        extract(archive, tmp_path / "out", progress=False)
    assert _leftovers(tmp_path) == ["a.tar.gz"]


def test_extract_is_atomic_when_validation_fails(tmp_path):
    archive = _zip(tmp_path / "a.zip", FILES)

    def validate(staged: Path) -> None:
        assert (staged / "top" / "a.txt").read_bytes() == b"alpha"  # fully unpacked by now
        raise ClarError("content check failed")

    with pytest.raises(ClarError, match="content check failed"):
        extract(archive, tmp_path / "out", progress=False, validate=validate)
    assert _leftovers(tmp_path) == ["a.zip"]


def test_extract_truncated_archive(tmp_path):
    whole = _targz(tmp_path / "whole.tar.gz", FILES).read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ClarError, match=r"cut\.tar\.gz"):
        extract(cut, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert sorted(_leftovers(tmp_path)) == ["cut.tar.gz", "whole.tar.gz"]


def test_extract_refuses_to_overwrite(tmp_path):
    archive = _zip(tmp_path / "a.zip", FILES)
    (tmp_path / "out").mkdir()
    with pytest.raises(ClarError, match="already exists"):
        extract(archive, tmp_path / "out", progress=False)


def test_an_archive_placed_by_hand_is_kept_after_extraction(archive_server, tmp_path):
    archive = _zip(tmp_path / "a.zip", FILES)
    checksum = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
    # Nothing is served: the placed copy is used, and stays the user's.
    fetch_and_extract(archive_server.url("a.zip"), checksum, archive, tmp_path / "out")
    assert archive.is_file() and (tmp_path / "out" / "top" / "a.txt").read_bytes() == b"alpha"
    # One this call downloaded is deleted once extracted.
    archive_server.files["b.zip"] = archive.read_bytes()
    fetched = tmp_path / "b.zip"
    fetch_and_extract(archive_server.url("b.zip"), checksum, fetched, tmp_path / "again")
    assert not fetched.exists() and (tmp_path / "again" / "top" / "a.txt").is_file()


KILLED_EXTRACTION = """
import os, signal, sys
from pathlib import Path
from clar.atomic import temporary
(temporary(Path(sys.argv[1]), folder=True) / "half.txt").write_text("half")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_extraction_is_cleared_but_a_partial_download_kept(tmp_path):
    archive = _zip(tmp_path / "a.zip", FILES)
    (tmp_path / "b.zip.part").write_bytes(b"the first bytes of a resumable download")
    killed = subprocess.run([sys.executable, "-c", KILLED_EXTRACTION, str(tmp_path / "out")])
    assert killed.returncode == -signal.SIGKILL
    assert len(_leftovers(tmp_path)) == 3  # the archive, the .part and the staging folder
    extract(archive, tmp_path / "out", progress=False)
    assert _leftovers(tmp_path) == ["a.zip", "b.zip.part", "out"]
    assert _leftovers(tmp_path / "out") == ["top"]
