"""``python -m clar data``: the data sets and their status.
``python -m clar params [group=option ...]``: compose conf/ into params.yaml.
``python -m clar export RUN_DIR OUT_FILE``: one file with a run's encoder, for :mod:`clar.hear`.
``python -m clar plan [group=option ... key=value ...] [--mfu-from gpucheck.json]``: what that
composition costs, per stage (:mod:`clar.plan`), without writing params.yaml.
``python -m clar add-data NAME PATH``: a folder of your audio as ``conf/data/NAME.yaml``.
``python -m clar compare [EXPERIMENT ...]``: headline accuracies and claims per experiment.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from clar import layout
from clar.atomic import write_text
from clar.cli import Parser, run
from clar.compose import compose
from clar.config import load_params, parse_params
from clar.data.catalog import DATASETS
from clar.data.registry import resolve_options
from clar.errors import ClarError


def _status(name: str) -> str:
    path = layout.prepared(name) / layout.INFO_FILE
    if not path.exists():
        return "not prepared"
    info = json.loads(path.read_text())
    status = "prepared " + "/".join(str(info["clips"][s]) for s in ("train", "valid", "test"))
    # A folder data set's files as they are now against what prepare read (dvc repro's
    # sources stage notices the same and prepares the set again).
    recorded = info.get("source_sha256")
    if recorded and _folder_digest(info) != recorded:
        status += ", but its folder changed since: dvc repro prepares it again"
    return status


def _folder_digest(info: dict) -> str | None:
    """The folder data set's files as they are now (:func:`clar.data.store.source_digest`), or
    None when they cannot be listed."""
    from clar.data.registry import list_items
    from clar.data.store import source_digest
    from clar.errors import ClarError

    root = Path(info["root"])
    try:
        return source_digest(
            [i.path for i in list_items(info["kind"], root, info["options"])], root
        )
    except (ClarError, OSError):
        return None


def list_datasets() -> None:
    params = load_params()
    rows = [("name", "kind", "task", "clip", "status", "source")]
    for name, dataset in params.datasets.items():
        resolve_options(name, dataset.kind, dataset.options)
        spec = DATASETS.get(name)
        task = spec.task if spec else f"your audio ({dataset.kind})"
        source = spec.source if spec else str(dataset.options.get("root", ""))
        if spec and spec.stands_in_for:
            task += f", stand-in for {spec.stands_in_for}"
        selected = "*" if name in params.data.names else " "
        rows.append(
            (
                selected + name,
                dataset.kind,
                task,
                f"{dataset.clip_seconds:g} s",
                _status(name),
                source,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print("\n* = in data.names (runs in `dvc repro`); status sizes are train/valid/test clips")


def write_params(overrides: list[str]) -> None:
    composed = compose("conf", overrides)
    # Refused before params.yaml changes: an override may add a key no stage reads (+train.foo=1).
    parse_params(composed, Path("conf"))
    text = yaml.safe_dump(composed, sort_keys=False, default_flow_style=None, width=100)
    write_text(layout.PARAMS, text)
    print(f"{layout.PARAMS} composed from conf/ {' '.join(overrides)}".rstrip())


def main(argv: list[str]) -> None:
    parser = Parser(
        prog="python -m clar",
        description="The CLAR pipeline's helpers; `dvc repro` runs the pipeline itself.",
        epilog="also:\n  python -m clar.bench  time a training step on this machine\n"
        "  make gpu-check        check a GPU machine before a long run\n"
        "the guide: README.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="list the data sets and their status")
    p = sub.add_parser("params", help="compose conf/ into params.yaml")
    p.add_argument("overrides", nargs="*", help="e.g. loss=hybrid data=esc10 profile=paper")
    e = sub.add_parser("export", help="write a run's encoder into one file for clar.hear")
    e.add_argument("run_dir", type=Path, help="a finished run folder under runs/")
    e.add_argument("out_file", type=Path, help="the file to write, e.g. encoder.pt")
    c = sub.add_parser("plan", help="clip-views, FLOPs and GPU-hours per stage, before a run")
    c.add_argument("overrides", nargs="*", help="as for params, e.g. profile=paper data=paper")
    c.add_argument("--device", default="h100", help="GPU to time it on: h100, h200, a100, ...")
    c.add_argument("--gpus", type=int, default=1, help="GPUs for the wall time (default 1)")
    c.add_argument("--hours", type=float, help="a deadline: what finishing within it asks")
    c.add_argument(
        "--mfu-from",
        type=Path,
        help="the measured MFU: a bench JSON or make gpu-check's gpucheck.json "
        "(default: the last make bench, .cache/clar/bench.json)",
    )
    a = sub.add_parser("add-data", help="a folder of your audio as conf/data/NAME.yaml")
    a.add_argument("name", help="the data set's name, e.g. birds (then: dvc exp run -S data=NAME)")
    a.add_argument("path", type=Path, help="the folder: one sub-folder of audio files per class")
    a.add_argument("--label-regex", help="labels from file names: a regex with (?P<label>...)")
    a.add_argument(
        "--test-regex", help="paths (relative to the folder) it is found in are the test split"
    )
    a.add_argument(
        "--clip-seconds", type=float, help="clip length (default: the median file's length)"
    )
    a.add_argument("--force", action="store_true", help="overwrite conf/data/NAME.yaml")
    m = sub.add_parser("compare", help="headline accuracies and claims, one column per experiment")
    m.add_argument(
        "experiments",
        nargs="*",
        help="experiment names or git revisions (default: the workspace and every experiment)",
    )
    args = parser.parse_args(argv)
    if args.command == "add-data":
        from clar.adddata import add_data  # loads torch (through the loaders)

        add_data(
            args.name,
            args.path,
            args.label_regex,
            args.test_regex,
            args.clip_seconds,
            force=args.force,
        )
    elif args.command == "compare":
        from clar.compare import compare

        print(compare(args.experiments))
    elif args.command == "data":
        list_datasets()
    elif args.command == "export":
        # Imported here: it loads torch, which `data` and `params` do not need.
        from clar import hear

        meta = hear.export(args.run_dir, args.out_file)
        print(f"{args.out_file}: the {meta['input']} encoder of {args.run_dir}")
    elif args.command == "plan":
        from clar import plan  # loads torch, as export does

        params = parse_params(compose("conf", args.overrides), Path("conf"))
        measured = args.mfu_from or plan.BENCH_FILE
        if args.mfu_from and not measured.exists():
            raise ClarError(
                f"--mfu-from {measured}: no such file; give make gpu-check's gpucheck.json"
            )
        print(plan.plan(params, args.device, args.gpus, measured, args.hours))
    else:
        write_params(args.overrides)


if __name__ == "__main__":
    run(main)
