"""Resumable, verified downloads and atomic archive extraction, on the standard library's urllib,
zipfile and tarfile (no third-party HTTP client).

A download streams into ``<dest>.part`` and is renamed to ``dest`` only once it is complete and its
checksum matches, so a file at ``dest`` is always a whole, verified archive. Extraction unpacks into
a hidden sibling folder and renames it into place, so an extracted folder is never half-written.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from clar.atomic import temporary
from clar.data.store import file_digest
from clar.errors import ClarError
from clar.progress import progress_bar

CHUNK = 1 << 20
USER_AGENT = "clar-bench/0.1 (dataset fetcher; Python urllib)"
_ALGORITHMS = ("sha256", "md5")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split ``"sha256:<hex>"`` / ``"md5:<hex>"`` into (algorithm, lower-case hex)."""
    algo, sep, digest = checksum.partition(":")
    algo = algo.strip().lower()
    digest = digest.strip().lower()
    if not sep or algo not in _ALGORITHMS or not re.fullmatch(r"[0-9a-f]+", digest):
        raise ClarError(
            f"checksum {checksum!r} is not 'sha256:<hex>' or 'md5:<hex>'; fix the data set source"
        )
    return algo, digest


def _manual_advice(dest: Path, manual_hint: str | None) -> str:
    advice = f"download it by hand to {dest}"
    if manual_hint:
        advice += f" (or put an already extracted copy at {manual_hint})"
    return advice + " and run again"


def open_url(
    url: str,
    *,
    dest: Path,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
    manual_hint: str | None = None,
) -> http.client.HTTPResponse:
    """Open ``url`` for streaming; any failure becomes a one-line :class:`ClarError`.

    ``dest`` and ``manual_hint`` only shape the message: where a hand-downloaded copy goes.
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416:
            raise  # the caller knows what an unsatisfiable range means for its .part file
        raise ClarError(
            f"could not download {url}: HTTP {e.code} {_one_line(e.reason)}; "
            + _manual_advice(dest, manual_hint)
        ) from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        raise ClarError(
            f"could not download {url}: {_one_line(reason)}; " + _manual_advice(dest, manual_hint)
        ) from e


def fetch(
    url: str,
    dest: Path,
    checksum: str | None,
    *,
    progress: bool = True,
    timeout: float = 30.0,
    manual_hint: str | None = None,
    retries: int = 3,
) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify ``checksum``, return ``dest``.

    ``checksum`` is ``"sha256:<hex>"``, ``"md5:<hex>"`` or None (no check). An existing ``dest``
    that verifies is returned without touching the network. A connection cut mid-stream is
    resumed with an HTTP Range request up to ``retries`` times; after that the ``.part`` file
    stays, and the next call resumes it. ``manual_hint`` names where an already extracted copy
    may be put instead, for the error message.
    """
    dest = Path(dest)
    expected = parse_checksum(checksum) if checksum else None
    if dest.exists():
        return _placed(dest, expected, url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _download(
        url,
        part,
        expected,
        dest=dest,
        progress=progress,
        timeout=timeout,
        manual_hint=manual_hint,
        retries=retries,
    )
    if expected is not None:
        got = file_digest(part, expected[0])
        if got != expected[1]:
            part.unlink()
            raise ClarError(
                f"checksum mismatch for {url}: expected {expected[0]}:{expected[1]}, "
                f"got {expected[0]}:{got}; the download was deleted, run again or "
                + _manual_advice(dest, manual_hint)
            )
    os.replace(part, dest)
    return dest


def _placed(dest: Path, expected: tuple[str, str] | None, url: str) -> Path:
    """``dest``, already there: taken as it is without a checksum, else once it verifies."""
    if expected is None:
        return dest
    got = file_digest(dest, expected[0])
    if got == expected[1]:
        return dest
    # Never delete what the user may have placed by hand: say what is wrong instead.
    raise ClarError(
        f"{dest} does not match the published checksum (expected {expected[0]}:{expected[1]}, "
        f"got {expected[0]}:{got}); delete it so {url} is downloaded again, or replace it"
    )


def _download(
    url: str,
    part: Path,
    expected: tuple[str, str] | None,
    *,
    dest: Path,
    progress: bool,
    timeout: float,
    manual_hint: str | None,
    retries: int,
) -> None:
    """Stream ``url`` into ``part``, from the byte ``part`` already holds on; a connection cut
    mid-stream is resumed up to ``retries`` times."""
    failures = 0
    restarted_after_416 = False
    while True:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = open_url(
                url, dest=dest, timeout=timeout, headers=headers, manual_hint=manual_hint
            )
        except urllib.error.HTTPError as e:  # only 416 gets here
            e.close()
            # The .part is as long as (or longer than) the file: either it is complete and only
            # the rename was missed, or it is garbage. The checksum decides; else start over once.
            if (
                part.exists()
                and expected is not None
                and file_digest(part, expected[0]) == expected[1]
            ):
                return
            if restarted_after_416 or not part.exists():
                raise ClarError(
                    f"could not download {url}: the server refuses every byte range; "
                    + _manual_advice(dest, manual_hint)
                ) from e
            part.unlink()
            restarted_after_416 = True
            continue
        with response:
            append, total = _plan_write(response, offset)
            try:
                _stream(response, part, append=append, total=total, progress=progress)
            except (OSError, http.client.HTTPException) as e:
                failures += 1
                if failures > retries:
                    raise ClarError(
                        f"download of {url} was cut {failures} times ({_one_line(e)}); "
                        f"run again to resume from {part}, or " + _manual_advice(dest, manual_hint)
                    ) from e
                continue
        return


def _plan_write(response: http.client.HTTPResponse, offset: int) -> tuple[bool, int | None]:
    """Decide whether the body continues the ``.part`` (206 at our offset) or replaces it."""
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == offset:
            total = None if match.group(3) == "*" else int(match.group(3))
            return True, total
        raise ClarError(
            f"{response.url} answered a range request with an unexpected Content-Range "
            f"{response.headers.get('Content-Range')!r}; delete the .part file and run again"
        )
    # A plain 200 is the whole file from byte 0, whatever we asked for: restart cleanly.
    length = response.headers.get("Content-Length")
    return False, int(length) if length and length.isdigit() else None


def _stream(
    response: http.client.HTTPResponse,
    part: Path,
    *,
    append: bool,
    total: int | None,
    progress: bool,
) -> None:
    """Copy the body into ``part``; raise ConnectionError if it ends short of ``total``."""
    with (
        open(part, "ab" if append else "wb") as f,
        progress_bar(
            total=total,
            initial=f.tell() if append else 0,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name.removesuffix(".part"),
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        while block := response.read(CHUNK):
            f.write(block)
            bar.update(len(block))
        size = f.tell()
    # http.client returns b"" rather than raising when a server closes early, so check.
    if total is not None and size < total:
        raise ConnectionError(f"connection closed after {size} of {total} bytes")


def _safe_member(name: str, archive: Path) -> PurePosixPath:
    """Reject member names that would land outside the extraction folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise ClarError(
            f"{archive} holds a member {name!r} that escapes its folder; refusing to extract it"
        )
    return path


def extract(
    archive: Path,
    dest: Path,
    *,
    progress: bool = True,
    validate: Callable[[Path], None] | None = None,
) -> Path:
    """Unpack a zip, tar or tar.gz ``archive`` so that its members lie under ``dest``.

    Members go to a hidden sibling folder first, ``validate`` (if given) checks that folder, and
    only then is it renamed to ``dest``; a failure leaves no ``dest`` behind. Members with
    absolute paths, ``..`` or links pointing out of the folder are refused.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise ClarError(f"{dest} already exists; delete it to extract {archive} again")
    if not archive.is_file():
        raise ClarError(f"archive {archive} does not exist")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = temporary(dest, folder=True)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, staging, progress)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, staging, progress)
        else:
            raise ClarError(f"{archive} is neither a zip nor a tar archive; delete it, run again")
        if validate is not None:
            try:
                validate(staging)
            except ClarError as e:
                # The staging folder is deleted on the way out: name the archive at fault and
                # the member inside it, not the folder (nor that folder's advice).
                detail = str(e).split("; ")[0]
                detail = detail.replace(f"{staging}{os.sep}", "").replace(str(staging), ".")
                raise ClarError(
                    f"archive {archive} is incomplete or not the expected one (in it: {detail}); "
                    "delete it and run again"
                ) from None
        os.rename(staging, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise ClarError(
            f"could not extract {archive} ({_one_line(e)}); it may be truncated or corrupt: "
            "delete it and run again"
        ) from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def _extract_zip(archive: Path, out: Path, progress: bool) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            _safe_member(info.filename, archive)
        for info in progress_bar(members, desc=archive.name, unit="file", disable=not progress):
            zf.extract(info, out)


def _extract_tar(archive: Path, out: Path, progress: bool) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for member in members:
            _safe_member(member.name, archive)
        for member in progress_bar(members, desc=archive.name, unit="file", disable=not progress):
            try:
                # The "data" filter also refuses links leaving the folder and device files.
                tf.extract(member, out, filter="data")
            except tarfile.FilterError as e:
                raise ClarError(
                    f"{archive} holds a member {member.name!r} that escapes its folder "
                    f"({_one_line(e)}); refusing to extract it"
                ) from e


def fetch_and_extract(
    url: str,
    checksum: str | None,
    archive: Path,
    dest: Path,
    *,
    progress: bool = True,
    validate: Callable[[Path], None] | None = None,
    keep_archive: bool = False,
    manual_hint: str | None = None,
) -> Path:
    """:func:`fetch` ``url`` to ``archive`` (or reuse a verified copy there), :func:`extract` it
    to ``dest``, then delete the archive unless ``keep_archive`` or it was there before (a copy
    the user placed by hand is theirs to delete)."""
    placed = archive.is_file()
    fetch(
        url,
        archive,
        checksum,
        progress=progress,
        manual_hint=manual_hint if manual_hint is not None else str(dest),
    )
    extract(archive, dest, progress=progress, validate=validate)
    if not (keep_archive or placed):
        archive.unlink()
    return dest


def check_options(options: dict[str, object], allowed: tuple[str, ...], dataset: str) -> None:
    """Let ``obtain`` take the ``list_items`` options too (one params block serves both) while
    still refusing names neither knows, which are typos."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ClarError(
            f"unknown option(s) {', '.join(unknown)} for data set {dataset}; "
            f"known: {', '.join(allowed) or 'none'}"
        )
