"""Figures: their panels, colours and line styles, and how they are written."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from clar.atomic import write_atomic
from clar.report.files import FIGURE_FORMATS, PNG, SVG, figure_file
from clar.report.statistics import Stat
from clar.vocabulary import CONTRASTIVE, HYBRID, RAW, SPECTROGRAM, SUPERVISED

OBJECTIVE_COLOURS = {SUPERVISED: "tab:blue", CONTRASTIVE: "tab:orange", HYBRID: "tab:green"}
INPUT_STYLES = {SPECTROGRAM: "-", RAW: "--"}
OTHER_INPUT_STYLE = ":"
# A configuration run at one fraction only is a lone marker: its shape must tell the input too.
INPUT_MARKERS = {SPECTROGRAM: "o", RAW: "s"}
OTHER_INPUT_MARKER = "^"
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


def placeholder(message: str) -> Figure:
    """A figure that says what is missing: dvc.yaml declares fixed figure files."""
    fig = Figure(figsize=(6, 1.5))
    fig.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig


def mean_with_band(
    ax: Axes,
    x: np.ndarray,
    stats: Sequence[Stat],
    objective: str,
    input_: str,
    label: str,
    **style: object,
) -> None:
    """The seed means in % against ``x``, in the objective's colour and the input's line style,
    with a band of ± one std where some point has several seeds."""
    colour = OBJECTIVE_COLOURS.get(objective)
    mean = np.array([100 * s.mean for s in stats])
    ax.plot(
        x, mean, INPUT_STYLES.get(input_, OTHER_INPUT_STYLE), color=colour, label=label, **style
    )
    if any(s.n > 1 for s in stats):
        # A single seed has no spread (its std is NaN): no band there.
        std = np.nan_to_num(np.array([100 * s.std if s.n > 1 else 0.0 for s in stats]))
        ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.15, lw=0)


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
