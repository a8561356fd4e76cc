"""NSynth: four-second notes labelled by instrument family (11 classes), official splits.

Full data: the three official json/wav tarballs (train alone is 23.8 GB), verified against the
MD5s the HEAR benchmark pins and extracted to ``raw_dir/nsynth/nsynth-<split>/``
(``examples.json`` + ``audio/*.wav``). The label is ``instrument_family_str`` from
``examples.json``.

A capped subset (``max_per_split``) streams each tarball and stops once it holds enough notes,
so a user need not download 24 GB to try the pipeline; it lands in
``raw_dir/nsynth-subset-<cap>/`` and is labelled from the file names
(``<family>_<source>_<instrument>-<pitch>-<velocity>.wav``). A stream cut short has no whole
file to hash, so **a capped subset cannot be checksum-verified**; it carries a ``SUBSET.json``
saying so.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from clar.data.download import check_options, fetch_and_extract, open_url
from clar.data.item import Item
from clar.errors import ClarError
from clar.progress import progress_bar
from clar.vocabulary import SPLITS

_BASE = "http://download.magenta.tensorflow.org/datasets/nsynth"
SOURCE: dict[str, object] = {
    "name": "NSynth",
    "version": "v2.2.3",
    "urls": {split: f"{_BASE}/nsynth-{split}.jsonwav.tar.gz" for split in SPLITS},
    # Google publishes none for the json/wav tarballs; these MD5s are the ones the HEAR
    # benchmark verifies (hearbenchmark/hear-preprocess, hearpreprocess/nsynth_pitch.py).
    "checksums": {
        "train": "md5:fde6665a93865503ba598b9fac388660",
        "valid": "md5:87e94a00a19b6dbc99cf6d4c0c0cae87",
        "test": "md5:5e6f8719bf7e16ad0a00d518b78af77d",
    },
    "license": "CC BY 4.0",
    "homepage": "https://magenta.tensorflow.org/datasets/nsynth",
    "citation": "J. Engel et al., Neural Audio Synthesis of Musical Notes with WaveNet "
    "Autoencoders, ICML 2017",
}

FAMILIES = (
    "bass",
    "brass",
    "flute",
    "guitar",
    "keyboard",
    "mallet",
    "organ",
    "reed",
    "string",
    "synth_lead",
    "vocal",
)
NOTE_NAME = re.compile(
    r"^(?P<family>[a-z_]+?)_(?P<source>acoustic|electronic|synthetic)_\d{3}-\d{3}-\d{3}$"
)
FULL_FOLDER = "nsynth"
SUBSET_MARKER = "SUBSET.json"
LIST_OPTIONS = ("max_per_split",)
# While streaming, each family may take only its share of the cap; once this many times the cap
# has gone by, notes held in reserve fill the rest, so a stream grouped by family ends early.
RELAX_AFTER = 10
STREAM_RETRIES = 2


def family_of(stem: str) -> str | None:
    """Instrument family encoded in a note name (file name without ``.wav``), or None."""
    match = NOTE_NAME.match(stem)
    if match is None or match.group("family") not in FAMILIES:
        return None
    return match.group("family")


def subset_folder(max_per_split: int) -> str:
    return f"nsynth-subset-{max_per_split}"


def obtain(
    raw_dir: Path,
    *,
    progress: bool = True,
    max_per_split: int | None = None,
    keep_archive: bool = False,
    timeout: float = 30.0,
    **options: object,
) -> Path:
    """Return an NSynth root (holding ``nsynth-{train,valid,test}/``) under ``raw_dir``.

    Without ``max_per_split``: fetch, verify and extract each official tarball not yet extracted
    (a tarball placed at ``raw_dir/nsynth-<split>.jsonwav.tar.gz`` is used instead). With it: the
    full data if already there (:func:`list_items` applies the cap), else a streamed subset of at
    most ``max_per_split`` notes per split, balanced across families as far as the tarball's
    order allows; a capped subset cannot be checksum-verified.
    """
    check_options(options, LIST_OPTIONS, "nsynth")
    raw_dir = Path(raw_dir)
    full = raw_dir / FULL_FOLDER
    if max_per_split is None:
        for split in SPLITS:
            _obtain_split(raw_dir, full, split, progress=progress, keep_archive=keep_archive)
        return full
    if all(_split_ready(full / f"nsynth-{split}") for split in SPLITS):
        return full
    root = raw_dir / subset_folder(max_per_split)
    if not root.exists():
        _stream_subset(raw_dir, root, max_per_split, progress=progress, timeout=timeout)
    if not (root / SUBSET_MARKER).is_file():
        raise ClarError(f"{root} is not a complete NSynth subset; delete it and run again")
    return root


def _split_ready(split_dir: Path) -> bool:
    return (split_dir / "examples.json").is_file() and (split_dir / "audio").is_dir()


def _check_split(split_dir: Path) -> None:
    """Every note in ``examples.json`` has its WAV (run once, on a freshly extracted split)."""
    if not _split_ready(split_dir):
        raise ClarError(f"{split_dir} lacks examples.json or audio/; it is not an NSynth split")
    notes = _read_examples(split_dir / "examples.json")
    on_disk = {entry.name for entry in os.scandir(split_dir / "audio")}
    missing = sorted(f"{note}.wav" for note in notes if f"{note}.wav" not in on_disk)
    if missing:
        raise ClarError(
            f"{split_dir / 'audio'} lacks {len(missing)} note(s) listed in examples.json, "
            f"e.g. {missing[0]}; the archive is incomplete"
        )


def _obtain_split(
    raw_dir: Path, full: Path, split: str, *, progress: bool, keep_archive: bool
) -> None:
    split_dir = full / f"nsynth-{split}"
    if split_dir.exists():
        if not _split_ready(split_dir):
            raise ClarError(f"{split_dir} lacks examples.json or audio/; delete it, run again")
        return
    full.mkdir(parents=True, exist_ok=True)
    # The tarball's own top folder is nsynth-<split>/: extract next to it, then move it in.
    staged = full / f".nsynth-{split}.staged"
    shutil.rmtree(staged, ignore_errors=True)
    fetch_and_extract(
        SOURCE["urls"][split],  # type: ignore[index]
        SOURCE["checksums"][split],  # type: ignore[index]
        raw_dir / f"nsynth-{split}.jsonwav.tar.gz",
        staged,
        progress=progress,
        validate=lambda s: _check_split(s / f"nsynth-{split}"),
        keep_archive=keep_archive,
        manual_hint=str(split_dir),
    )
    os.rename(staged / f"nsynth-{split}", split_dir)
    shutil.rmtree(staged)


def _stream_subset(raw_dir: Path, root: Path, cap: int, *, progress: bool, timeout: float) -> None:
    raw_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.streaming-", dir=raw_dir))
    try:
        counts = {}
        for split in SPLITS:
            counts[split] = _stream_split(
                raw_dir, staging / f"nsynth-{split}" / "audio", split, cap, progress, timeout
            )
        marker = {
            "max_per_split": cap,
            "sources": SOURCE["urls"],
            "checksum_verified": False,
            "note": "streamed prefix of the official tarballs, labelled from file names",
            "counts": counts,
        }
        (staging / SUBSET_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        os.rename(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stream_split(
    raw_dir: Path, audio: Path, split: str, cap: int, progress: bool, timeout: float
) -> dict[str, int]:
    """Copy up to ``cap`` notes of one split's tarball into ``audio``; restart if cut."""
    url = SOURCE["urls"][split]  # type: ignore[index]
    archive = raw_dir / f"nsynth-{split}.jsonwav.tar.gz"
    for attempt in range(STREAM_RETRIES + 1):
        shutil.rmtree(audio.parent, ignore_errors=True)  # a cut attempt's notes and reserve
        audio.mkdir(parents=True)
        # A tarball the user placed by hand streams from disk; otherwise from the network.
        local = archive.is_file()
        if local:
            stream: BinaryIO = open(archive, "rb")  # noqa: SIM115 - closed by the with below
            length: int | None = archive.stat().st_size
        else:
            response = open_url(
                url, dest=archive, timeout=timeout, manual_hint=str(raw_dir / FULL_FOLDER)
            )
            declared = response.headers.get("Content-Length", "")
            length = int(declared) if declared.isdigit() else None
            stream = response  # type: ignore[assignment]
        try:
            with stream:
                exact = _Exact(stream, length)
                return _take_notes(exact, audio, cap, f"nsynth-{split}", progress)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            if attempt == STREAM_RETRIES:
                reason = " ".join(str(e).split())
                if local:
                    raise ClarError(
                        f"cannot read {archive} ({reason}); it is corrupt: delete it, run again"
                    ) from e
                raise ClarError(
                    f"streaming {url} failed {attempt + 1} times ({reason}); run again"
                ) from e
    raise AssertionError("unreachable")


class _Exact:
    """A read-only stream that raises when it ends short of its declared length.

    http.client answers a connection closed early with b"" rather than an error, and a tar
    stream cut at a block boundary reads as a clean end of archive: without this check a cut
    download would pass for a short tarball.
    """

    def __init__(self, raw: BinaryIO, length: int | None) -> None:
        self.raw = raw
        self.length = length
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.done += len(data)
        if not data and size and self.length is not None and self.done < self.length:
            raise ConnectionError(f"stream ended after {self.done} of {self.length} bytes")
        return data


def _take_notes(stream: _Exact, audio: Path, cap: int, desc: str, progress: bool) -> dict[str, int]:
    """Copy up to ``cap`` notes, each family at most its share while the stream lasts.

    Notes over their family's share wait in a reserve (at most ``cap`` of them) that fills any
    shortfall at the end, the least represented families first, so a stream holding fewer
    families than NSynth's 11, or grouped by family, still yields ``cap`` notes.
    """
    quota = math.ceil(cap / len(FAMILIES))
    counts: Counter[str] = Counter()
    reserve_dir = audio.parent / ".reserve"
    reserve_dir.mkdir()
    reserve: list[tuple[str, str]] = []  # (file name, family) in stream order
    seen = 0
    with (
        tarfile.open(fileobj=stream, mode="r|gz") as tar,  # type: ignore[call-overload]
        progress_bar(total=cap, unit="note", desc=desc, disable=not progress, leave=False) as bar,
    ):
        for member in tar:
            name = PurePosixPath(member.name)
            if not member.isfile() or name.suffix != ".wav" or name.parent.name != "audio":
                continue
            family = family_of(name.stem)
            if family is None:
                continue
            seen += 1
            if counts[family] < quota:
                target = audio
            elif len(reserve) < cap:
                target = reserve_dir
            else:
                target = None
            source = tar.extractfile(member) if target is not None else None
            if source is not None and target is not None:
                # name.name matched NOTE_NAME, so it cannot point outside the folder.
                with source, open(target / name.name, "wb") as out:
                    shutil.copyfileobj(source, out)
                if target is audio:
                    counts[family] += 1
                    bar.update(1)
                else:
                    reserve.append((name.name, family))
            if counts.total() >= cap:
                break
            # Families that have not shown up by now are unlikely to; stop if cap is in hand.
            if seen >= RELAX_AFTER * cap and counts.total() + len(reserve) >= cap:
                break
        while counts.total() < cap and reserve:
            pick = min(range(len(reserve)), key=lambda i: (counts[reserve[i][1]], i))
            file_name, family = reserve.pop(pick)
            os.replace(reserve_dir / file_name, audio / file_name)
            counts[family] += 1
            bar.update(1)
    shutil.rmtree(reserve_dir)
    return dict(sorted(counts.items()))


def _read_examples(path: Path) -> dict[str, dict]:
    try:
        notes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ClarError(f"cannot read {path} ({' '.join(str(e).split())}); replace it") from e
    if not isinstance(notes, dict):
        raise ClarError(f"{path} is not an NSynth examples.json (expected an object of notes)")
    return notes


def _notes(split_dir: Path, from_names: bool) -> list[tuple[str, str]]:
    """(note name, family) pairs of one split, sorted by note name."""
    if not from_names:
        examples = split_dir / "examples.json"
        pairs = []
        for note, info in _read_examples(examples).items():
            family = info.get("instrument_family_str") if isinstance(info, dict) else None
            if family not in FAMILIES:
                raise ClarError(
                    f"{examples}: note {note} has instrument_family_str {family!r}, "
                    f"not one of {', '.join(FAMILIES)}"
                )
            pairs.append((note, family))
        return sorted(pairs)
    pairs = []
    for path in sorted((split_dir / "audio").glob("*.wav")):
        family = family_of(path.stem)
        if family is None:
            raise ClarError(f"{path}: name is not <family>_<source>_<id>-<pitch>-<velocity>.wav")
        pairs.append((path.stem, family))
    return pairs


def _balanced(pairs: Iterable[tuple[str, str]], cap: int) -> list[tuple[str, str]]:
    """Up to ``cap`` notes, taken from the families in turn, each family in name order."""
    by_family: dict[str, list[tuple[str, str]]] = {family: [] for family in FAMILIES}
    for pair in pairs:
        by_family[pair[1]].append(pair)
    queues = [iter(by_family[family]) for family in FAMILIES]
    chosen: list[tuple[str, str]] = []
    while queues and len(chosen) < cap:
        alive = []
        for queue in queues:
            pair = next(queue, None)
            if pair is None:
                continue
            alive.append(queue)
            chosen.append(pair)
            if len(chosen) == cap:
                break
        queues = alive
    return chosen


def list_items(root: Path, max_per_split: int | None = None) -> list[Item]:
    """Notes of ``root`` labelled by instrument family, in the official splits.

    ``max_per_split`` keeps at most that many notes per split, taken from the families in turn
    (deterministic). A streamed subset (no ``examples.json``) is labelled from file names.
    """
    root = Path(root)
    from_names = (root / SUBSET_MARKER).is_file()
    items = []
    for split in SPLITS:
        split_dir = root / f"nsynth-{split}"
        if not (split_dir / "audio").is_dir() or (
            not from_names and not (split_dir / "examples.json").is_file()
        ):
            raise ClarError(f"{split_dir} lacks audio/ or examples.json; is {root} NSynth?")
        pairs = _notes(split_dir, from_names)
        if max_per_split is not None:
            pairs = _balanced(pairs, max_per_split)
        for note, family in pairs:
            path = split_dir / "audio" / f"{note}.wav"
            if not path.is_file():
                raise ClarError(f"{path} is listed in examples.json but missing; replace {root}")
            items.append(Item(path=path, label=family, split=split))
    if not items:
        raise ClarError(f"no NSynth notes found in {root}")
    return sorted(items, key=lambda item: str(item.path))
