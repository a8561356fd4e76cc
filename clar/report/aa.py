"""The A/A benchmark: two reports of the same grid with disjoint seeds, compared.

    python -m clar.report.aa FIRST SECOND [--out aa.md]

``FIRST`` and ``SECOND`` are two ``reports/`` folders (their ``per_clip.csv``, ``results.csv``
and ``run_info.json``) of the same parameters but for ``grid.seeds``, e.g. the baseline with
seeds 0-2 copied aside, then ``dvc exp run -S 'grid.seeds=[3,4,5]'`` (docs/statistics.md).

1. *A/A*: every configuration both reports ran is compared with itself as if two methods, its
   per-clip outcomes paired in seed order (the first seed of one with the first of the other,
   and so on): the true difference is zero, so a calibrated 95 % interval excludes zero in
   about 5 % of the configurations. The report's interval (t over seeds) is shown beside the
   former two-level bootstrap. This is a stress test: the paired runs share no labelled
   subset, which a report's two methods do (tests/test_report_calibration.py simulates both).
2. *Verdicts*: every comparison of every claim, judged in each report, side by side: how many
   keep their state, how many move between decided and inconclusive, how many flip between
   supported and contradicted.

Exits 1 when the interval excludes zero in more than 10 % of the configurations or a
comparison flips between supported and contradicted, so that it can guard a change.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clar import runs
from clar.atomic import write_text
from clar.cli import Parser, run
from clar.errors import ClarError
from clar.report import claims, files, per_clip
from clar.report.intervals import paired, signed, two_level
from clar.report.per_clip import Config, Correctness
from clar.report.tables import md_table
from clar.report.verdicts import CONTRADICTED, SUPPORTED, UNJUDGED

TARGET = 0.05
LIMIT = 0.10  # the most false exclusions a calibrated interval may show here
DECIDED = (SUPPORTED, CONTRADICTED)


@dataclass(frozen=True)
class Report:
    """What the benchmark reads from one reports/ folder."""

    folder: Path
    results: pd.DataFrame
    clips: pd.DataFrame
    run_info: dict

    @property
    def seeds(self) -> set[int]:
        """The grid's seeds (the augmentation study keeps its own seed whatever
        ``grid.seeds`` says)."""
        grid = self.clips[self.clips["experiment"] == runs.GRID]
        return {int(s) for s in pd.to_numeric(grid["seed"]).dropna()}


def read(folder: Path) -> Report:
    """One reports/ folder; a one-line error naming the missing file."""
    folder = Path(folder)
    for name in (files.PER_CLIP, files.RESULTS):
        if not (folder / name).is_file():
            raise ClarError(
                f"{folder / name}: not found; give a reports/ folder the report stage wrote "
                "(dvc repro report)"
            )
    info_path = folder / files.RUN_INFO
    run_info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    results = pd.read_csv(folder / files.RESULTS)
    return Report(folder, results, per_clip.read(folder / files.PER_CLIP), run_info)


@dataclass(frozen=True)
class AA:
    """One configuration compared with itself across the two seed sets."""

    config: Config
    pairs: int  # seed pairs (first with first, ...)
    diff: float
    t: tuple[float, float]  # the report's interval
    bootstrap: tuple[float, float] | None  # the former two-level one (None with one pair)

    @property
    def t_excludes(self) -> bool:
        return self.t[0] > 0 or self.t[1] < 0

    @property
    def bootstrap_excludes(self) -> bool:
        return self.bootstrap is not None and (self.bootstrap[0] > 0 or self.bootstrap[1] < 0)


def aa(first: Report, second: Report) -> tuple[list[AA], list[Config]]:
    """Every configuration of both reports, the first report's seeds against the second's;
    and the configurations skipped because both ran them with a same seed (the augmentation
    study's, whose seed ``grid.seeds`` does not change): the same run twice is no A/A."""
    a, b = Correctness(first.clips), Correctness(second.clips)
    found, skipped = [], []
    for config in sorted(set(a.configs()) & set(b.configs()), key=str):
        runs_a, runs_b = a.seeds(config), b.seeds(config)
        if set(runs_a) & set(runs_b):
            skipped.append(config)
            continue
        rows = [
            runs_a[sa].correct.astype(float) - runs_b[sb].correct
            for sa, sb in zip(sorted(runs_a), sorted(runs_b), strict=False)
            if runs_a[sa].clips == runs_b[sb].clips
        ]
        if not rows or len({len(r) for r in rows}) > 1:
            continue
        d = np.stack(rows)
        interval = paired(d)
        boot = two_level(d) if len(d) > 1 else None
        scaled = (100 * boot[0], 100 * boot[1]) if boot else None
        found.append(AA(config, len(d), interval.diff, (interval.low, interval.high), scaled))
    return found, skipped


def states(report: Report) -> dict[tuple[str, str], str]:
    """(claim part, comparison) -> its state after the claim's correction."""
    found = claims.check(report.results, report.run_info, report.clips)
    return {(c.statement, j.comparison.name): j.state for c in found for j in c.judged}


def moves(first: dict, second: dict) -> dict[str, list[tuple[str, str, str]]]:
    """The comparisons judged in both reports, grouped by how their state changed."""
    out: dict[str, list[tuple[str, str, str]]] = {"same": [], "moved": [], "flipped": []}
    for key in sorted(set(first) & set(second)):
        was, now = first[key], second[key]
        if UNJUDGED in (was, now):
            continue
        kind = "same" if was == now else "flipped" if {was, now} == set(DECIDED) else "moved"
        out[kind].append((f"{key[0]}: {key[1]}", was, now))
    return out


def _rate(count: int, total: int) -> str:
    return f"{count} of {total} ({100 * count / total:.0f} %)" if total else "none"


def _name(config: Config) -> str:
    experiment, dataset, input_, objective, fraction, augs = config
    return f"{experiment} {dataset}/{input_}/{objective}/{fraction:g} % ({augs})"


def markdown(
    first: Report, second: Report, found: list[AA], skipped: list[Config], moved: dict
) -> str:
    t_hits = sum(r.t_excludes for r in found)
    several = [r for r in found if r.bootstrap is not None]
    boot_hits = sum(r.bootstrap_excludes for r in several)
    judged = sum(len(v) for v in moved.values())
    text = (
        f"# A/A: seeds {sorted(first.seeds)} ({first.folder}) against seeds "
        f"{sorted(second.seeds)} ({second.folder})\n\n"
        "Each configuration compared with itself, per-clip outcomes paired in seed order; the "
        "true difference is zero.\n\n"
        f"- the report's 95 % interval (t over seeds) excludes zero in {_rate(t_hits, len(found))}"
        f" configurations (target about {100 * TARGET:.0f} %, at most {100 * LIMIT:.0f} %)\n"
        f"- the former two-level bootstrap: {_rate(boot_hits, len(several))}\n"
        f"- comparisons of the claims judged in both: {judged}; same state: "
        f"{len(moved['same'])}; between decided and inconclusive: {len(moved['moved'])}; "
        f"between supported and contradicted: {len(moved['flipped'])}\n"
    )
    if skipped:
        text += (
            f"- not compared: {len(skipped)} configuration(s) run with a same seed in both "
            "(e.g. the augmentation study, whose seed `grid.seeds` does not change)\n"
        )
    text += "\n## Configurations\n\n"
    rows = [
        [
            _name(r.config),
            str(r.pairs),
            signed(r.diff),
            f"{signed(r.t[0])} to {signed(r.t[1])}" + (" ✗" if r.t_excludes else ""),
            (
                f"{signed(r.bootstrap[0])} to {signed(r.bootstrap[1])}"
                + (" ✗" if r.bootstrap_excludes else "")
                if r.bootstrap
                else "–"
            ),
        ]
        for r in found
    ]
    header = [
        "configuration",
        "seed pairs",
        "A − A (points)",
        "t over seeds",
        "two-level bootstrap",
    ]
    text += md_table(header, rows) + "\n✗: excludes zero.\n"
    changed = moved["flipped"] + moved["moved"]
    if changed:
        text += "\n## Comparisons whose state changed\n\n"
        text += md_table(["comparison", "first", "second"], [list(c) for c in changed])
    return text


def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m clar.report.aa", description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="a reports/ folder (e.g. seeds 0-2)")
    parser.add_argument("second", type=Path, help="the same grid's reports/ with other seeds")
    parser.add_argument("--out", type=Path, help="also write the comparison here (Markdown)")
    args = parser.parse_args(argv)
    first, second = read(args.first), read(args.second)
    if shared := first.seeds & second.seeds:
        raise ClarError(
            f"{args.second}: seeds {sorted(shared)} are also in {args.first}; an A/A needs "
            "disjoint seeds (e.g. dvc exp run -S 'grid.seeds=[3,4,5]')"
        )
    found, skipped = aa(first, second)
    if not found:
        raise ClarError(
            f"{args.first}, {args.second}: no configuration of one was run in the other on the "
            "same test clips; compare two reports of the same parameters"
        )
    moved = moves(states(first), states(second))
    text = markdown(first, second, found, skipped, moved)
    print(text)
    if args.out:
        write_text(args.out, text)
    failed = sum(r.t_excludes for r in found) > LIMIT * len(found) or moved["flipped"]
    return 1 if failed else 0


if __name__ == "__main__":
    run(lambda argv: sys.exit(main(argv)))
