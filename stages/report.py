"""report: collect every run into reports/results.csv, then render reports/ from it."""

import json
from pathlib import Path

from clar.cli import run
from clar.config import load_params
from clar.report import render
from clar.results import collect, git_revision, run_info, select, summary

REPORTS = Path("reports")


def main(argv: list[str]) -> None:
    params = load_params()
    rev = git_revision()
    results = select(collect(Path("runs"), params.profile, rev), params)
    info = run_info(
        list(params.data),
        Path("data/prepared"),
        Path("data/features"),
        Path("runs"),
        params.profile,
        rev,
        list(params.grid.seeds),
    )
    REPORTS.mkdir(exist_ok=True)
    results.to_csv(REPORTS / "results.csv", index=False)
    (REPORTS / "run_info.json").write_text(json.dumps(info, indent=2) + "\n")
    (REPORTS / "summary.json").write_text(json.dumps(summary(results), indent=2) + "\n")
    written = render(results, info, REPORTS)
    print(f"reports/: {len(results)} result rows, {len(written)} files; open reports/index.md")


if __name__ == "__main__":
    run(main)
