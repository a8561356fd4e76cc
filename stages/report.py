"""report: collect every run into reports/results.csv, then render reports/ from it."""

from clar import grid, layout, report
from clar.cli import run
from clar.config import load_params
from clar.report import files


def main(argv: list[str]) -> None:
    params = load_params()
    grid.load_methods(params)
    written = report.build(
        params, layout.RUNS, layout.PREPARED, layout.FEATURES_DIR, layout.REPORTS
    )
    print(f"{layout.REPORTS}/: {len(written)} files; open {layout.REPORTS / files.INDEX}")


if __name__ == "__main__":
    run(main)
