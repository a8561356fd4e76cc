"""``make wheelhouse``: the wheels a GPU node without network needs, downloaded on a machine with
one, for the node's Python and platform (``python -m clar.wheelhouse [--python-version 3.12]
[--platform manylinux_2_28_x86_64] [--dest wheelhouse] [--sets check,full]``).

Two sets, each a folder of ``--dest`` with the wheels and a ``requirements.txt``:

- ``check``: what ``python -m clar.gpucheck`` needs beyond what a GPU image ships with torch
  (numpy, pandas, scipy, matplotlib, tqdm, psutil, pyyaml): pydantic (``clar.config``) and
  hydra-core (composing the paper profile), with their dependencies;
- ``full``: every pin of ``requirements.lock`` but torch, torchaudio and the CUDA libraries
  and compiler that come with them (the node keeps its own torch).

The versions are the lock's, downloaded without resolving (``--no-deps``: the lock is already
the closure), as binary wheels for the target. Pure-Python packages published only as source
(:data:`SOURCE_ONLY`) are built into wheels here, which install on any platform. On the node,
``pip install --no-index --find-links <set> -r <set>/requirements.txt`` installs what is missing
and leaves what is there (torch included) alone: the requirements are the project's ranges,
not pins.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from clar.errors import ClarError

ROOT = Path(__file__).resolve().parents[1]
CHECK = (
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
    "hydra-core",
    "omegaconf",
    "antlr4-python3-runtime",
    "packaging",
    "pyyaml",
)
# What the node's torch brings (its CUDA libraries are gigabytes).
KEPT = ("torch", "torchaudio", "triton", "nvidia-", "cuda-")
SOURCE_ONLY = ("antlr4-python3-runtime", "pretty-midi")
# What the sets' requirements.txt ask for: the project's own ranges (pyproject.toml).
CHECK_REQUIREMENTS = ("pydantic>=2.5", "hydra-core>=1.3")


def name_of(requirement: str) -> str:
    """The normalised name of ``name==version`` (PEP 503: lower case, runs of -_. as -)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~;\[ ]", requirement, maxsplit=1)[0]).lower()


def pins(lock: Path) -> dict[str, str]:
    """``{normalised name: name==version}`` of a pip lock file."""
    found = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            found[name_of(line)] = line
    return found


def chosen(which: str, lock: dict[str, str]) -> list[str]:
    """The pins of a set."""
    if which == "check":
        missing = [n for n in CHECK if n not in lock]
        if missing:
            raise ClarError(f"requirements.lock lacks {', '.join(missing)}; regenerate it")
        return [lock[n] for n in CHECK]
    return [pin for name, pin in lock.items() if not name.startswith(KEPT)]


def platforms(platform: str) -> list[str]:
    """``platform`` and the older tags a system of it also runs: pip takes only the tags it is
    given, and many packages publish manylinux_2_17 (manylinux2014) wheels alone."""
    match = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform)
    if not match:
        return [platform]
    glibc, arch = int(match.group(1)), match.group(2)
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags = []
    for minor in range(glibc, 4, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        if minor in legacy:
            tags.append(f"{legacy[minor]}_{arch}")
    return tags


def commands(
    which: str, lock: dict[str, str], python: str, platform: str, dest: Path
) -> list[list[str]]:
    """The pip commands that fill ``dest/which``: one download of the binary wheels, then one
    build of the source-only packages (absent when the set has none)."""
    folder = str(dest / which)
    pip = [sys.executable, "-m", "pip"]
    wanted = chosen(which, lock)
    binary = [p for p in wanted if name_of(p) not in SOURCE_ONLY]
    source = [p for p in wanted if name_of(p) in SOURCE_ONLY]
    abi = f"cp{python.replace('.', '')}"
    download = [
        *pip,
        "download",
        "--only-binary=:all:",
        "--no-deps",
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--abi",
        abi,
        "--abi",
        "abi3",
        "--abi",
        "none",
        *(flag for tag in platforms(platform) for flag in ("--platform", tag)),
        "--dest",
        folder,
        *binary,
    ]
    build = [*pip, "wheel", "--no-deps", "--wheel-dir", folder, *source]
    return [download, build] if source else [download]


def requirements(which: str) -> list[str]:
    """What the node installs from a set: the project's ranges, torch and torchaudio left out."""
    if which == "check":
        return list(CHECK_REQUIREMENTS)
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [r for r in listed if name_of(r) not in ("torch", "torchaudio")]


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("*.whl")) / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clar.wheelhouse")
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--platform", default="manylinux_2_28_x86_64")
    parser.add_argument("--dest", type=Path, default=Path("wheelhouse"))
    parser.add_argument("--sets", default="check,full", help="check, full or both")
    args = parser.parse_args(argv)
    lock = pins(ROOT / "requirements.lock")
    for which in args.sets.split(","):
        if which not in ("check", "full"):
            raise ClarError(f"--sets {args.sets}: each one of check, full")
        (args.dest / which).mkdir(parents=True, exist_ok=True)
        for command in commands(which, lock, args.python_version, args.platform, args.dest):
            if subprocess.run(command).returncode != 0:
                raise ClarError(f"{' '.join(command[2:4])} for the {which} set failed (above)")
        listed = "\n".join(requirements(which)) + "\n"
        (args.dest / which / "requirements.txt").write_text(listed)
        wheels = len(list((args.dest / which).glob("*.whl")))
        print(f"{args.dest / which}: {wheels} wheels, {size_mb(args.dest / which):.1f} MB")


if __name__ == "__main__":
    try:
        main()
    except ClarError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
