"""Figures: their panels, colours and line styles, and how they are written."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from clar.atomic import write_atomic
from clar.encoders import ENCODERS
from clar.objectives import OBJECTIVES
from clar.report.files import FIGURE_FORMATS, PNG, SVG, figure_file
from clar.report.intervals import CONFIDENCE
from clar.report.verdicts import CONTRADICTED, INCONCLUSIVE, SUPPORTED

# An objective's colour is tab10's at its registry index (the paper's three: blue, orange,
# green), the same in every figure.
TAB10 = tuple(mcolors.TABLEAU_COLORS)
# A verdict's colour, the same in every figure.
STATE_COLOURS = {SUPPORTED: "tab:green", CONTRADICTED: "tab:red", INCONCLUSIVE: "tab:grey"}
# An encoder's line style and marker, by registry index (the paper's main input first): a
# configuration run at one fraction only is a lone marker, so its shape must tell the input too.
INPUT_STYLES = ("-", "--", ":", "-.")
INPUT_MARKERS = ("o", "s", "^", "D", "v", "P")


def objective_colour(objective: str) -> str | None:
    """tab10's colour at the objective's registry index (None, matplotlib's next colour, for
    an unknown name)."""
    names = OBJECTIVES.names()
    return TAB10[names.index(objective) % len(TAB10)] if objective in names else None


def _encoder_index(encoder: str) -> int:
    names = ENCODERS.names()
    return names.index(encoder) if encoder in names else len(names)


def input_style(encoder: str) -> str:
    return INPUT_STYLES[_encoder_index(encoder) % len(INPUT_STYLES)]


def input_marker(encoder: str) -> str:
    return INPUT_MARKERS[_encoder_index(encoder) % len(INPUT_MARKERS)]


# Fixed metadata and hash salt keep the files byte-identical for identical results, so DVC
# does not see a change where there is none.
_METADATA = {PNG: {"Software": None}, SVG: {"Date": None}}
_HASH_SALT = "clar-report"


def panels(n: int, width: float = 4.8, height: float = 3.8) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` panels, at most three per row; unused slots are hidden."""
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def title(fig: Figure, lines: Sequence[str]) -> None:
    """The figure's title, each of ``lines`` wrapped to the figure's width: a title wider than
    a one-panel figure would widen the saved image and shrink the panel."""
    # About twelve characters of the medium font per inch of figure.
    width = max(40, int(12 * fig.get_figwidth()))
    text = "\n".join(textwrap.fill(line, width) for line in lines)
    fig.suptitle(text, fontsize="medium")


def placeholder(message: str) -> Figure:
    """A figure that says what is missing: dvc.yaml declares fixed figure files."""
    fig = Figure(figsize=(6, 1.5))
    fig.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig


def mean_half_width(std: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Half the 95 % t interval of a seed mean: the interval the report's verdicts use, not
    one standard deviation (0 where there is one seed: no spread to show)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, np.maximum(n - 1, 1)) * std / np.sqrt(n)
    return np.where(n > 1, np.nan_to_num(half), 0.0)


def write_figure(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """``out_dir/<stem>.png`` and ``.svg``, each written whole or not at all."""
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": _HASH_SALT}):
        for ext in FIGURE_FORMATS:
            paths.append(
                write_atomic(
                    out_dir / figure_file(stem, ext),
                    lambda tmp, ext=ext: fig.savefig(
                        tmp, format=ext, dpi=120, metadata=_METADATA[ext], bbox_inches="tight"
                    ),
                )
            )
    return paths
