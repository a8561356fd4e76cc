"""Every file the report stage writes into reports/, declared once.

dvc.yaml must declare the same files as the report stage's outputs (tests/test_report_files.py
holds the two together); every other module of the report takes its file names from here.
"""

from __future__ import annotations

# The data the rendered files are derived from, written by :func:`clar.report.build`.
RESULTS = "results.csv"  # the long results table: one row per run, metric and epoch
PER_CLIP = "per_clip.csv"  # which test clips each evaluation got right: what intervals resample
RUN_INFO = "run_info.json"  # what ran, on what, and which evaluations it lacks
SUMMARY = "summary.json"  # headline accuracies, for ``dvc exp show``
# How long each stage group took: a clock reading, so in none of the cached outputs above.
TIMINGS = "timings.json"

E1_TABLE = "e1_augmentations.md"
E2_TABLE = "e2_raw_vs_spectrogram.md"
E3_TABLE = "e3_label_fractions.md"
E4_TABLE = "e4_convergence.md"
TABLES = (E1_TABLE, E2_TABLE, E3_TABLE, E4_TABLE)
# Each head of evaluate.extra_heads against evaluate.head (clar.report.heads): always written,
# a one-line note without extra heads, and listed in index.md only with them.
HEADS_TABLE = "heads.md"

# A figure is named by its stem and written once per format: a PNG to look at, an SVG to zoom.
E1_FIGURE = "e1_heatmaps"
E2_FIGURE = "e2_raw_vs_spectrogram"
E3_FIGURE = "e3_label_fractions"
E4_FIGURE = "e4_convergence"
CONFUSIONS_FIGURE = "confusions"
# Every comparison of every claim with its interval, the front page's one picture.
FOREST_FIGURE = "forest"
FIGURE_STEMS = (FOREST_FIGURE, E1_FIGURE, E2_FIGURE, E3_FIGURE, E4_FIGURE, CONFUSIONS_FIGURE)
PNG = "png"
SVG = "svg"
FIGURE_FORMATS = (PNG, SVG)


def figure_file(stem: str, ext: str) -> str:
    """``("e1_heatmaps", "png")`` -> ``"e1_heatmaps.png"``."""
    return f"{stem}.{ext}"


FIGURE_FILES = tuple(figure_file(stem, ext) for stem in FIGURE_STEMS for ext in FIGURE_FORMATS)
# A folder: the training curves as TSV files, what dvc.yaml's top-level plots draw
# (clar.report.curves).
CURVES = "curves"
INDEX = "index.md"

# What :func:`clar.report.render` writes, every time, whatever the profile ran: dvc.yaml
# declares fixed outputs.
RENDERED = (*TABLES, HEADS_TABLE, *FIGURE_FILES, CURVES, INDEX)
DATA = (RESULTS, PER_CLIP, RUN_INFO, SUMMARY, TIMINGS)
ALL = (*DATA, *RENDERED)

# How dvc.yaml declares them: the headline numbers as metrics (``dvc metrics``, ``dvc exp
# show``), the PNGs as plots (``dvc plots`` shows images), everything else as plain outputs.
METRICS = (SUMMARY, TIMINGS)
PLOTS = tuple(figure_file(stem, PNG) for stem in FIGURE_STEMS)
OUTS = tuple(name for name in ALL if name not in (*METRICS, *PLOTS))
# Committed to git rather than cached (``cache: false``), so that on a fresh clone ``dvc metrics
# diff`` compares an experiment against main and a clone shows the figures: the headline metrics
# and the PNGs. index.md and the curves folder stay cached: DVC's run-cache (3.67) did not
# restore the report stage with either uncached.
COMMITTED = (*METRICS, *PLOTS)
