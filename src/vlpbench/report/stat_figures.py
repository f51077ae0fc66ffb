"""Figures of the leaderboard statistics: critical-difference diagram, win-rate heat map and the
overview's cost-against-rank (Pareto) scatter.

Each figure is written as PNG and SVG. Both are byte-identical for the same inputs: the Agg
backend, a fixed `svg.hashsalt`, glyphs as paths, no date in the SVG metadata, and the
crossbars of the CD diagram drawn in rank order (scikit-posthocs iterates a set there, whose
order changes with Python's hash seed). Strategy names in Chinese render with the CJK fallback
font of `fonts.cjk_rc` (ASCII-only figures are unchanged by it).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vlpbench.report.fonts import cjk_rc

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SUFFIXES = (".png", ".svg")
STYLE = {"svg.hashsalt": "vlpbench", "svg.fonttype": "path", "font.size": 9}
DPI = 150


def pyplot() -> tuple[ModuleType, ModuleType]:
    """matplotlib (Agg backend) and pyplot, imported only when a figure is drawn."""
    import matplotlib  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    return matplotlib, plt


def tight_layout(figure: Figure) -> None:
    """Fit the margins once (`figure.tight_layout()`) and drop the layout engine: the placeholder
    it leaves makes every `savefig` draw the whole figure once more before drawing it."""
    figure.tight_layout()
    figure.set_layout_engine(None)


def save_figure(figure: Figure, stem: Path) -> list[Path]:
    """Write `<stem>.png` and `<stem>.svg` deterministically; returns both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in SUFFIXES:
        path = stem.with_name(stem.name + suffix)
        metadata = {"Date": None} if suffix == ".svg" else {}
        figure.savefig(path, dpi=DPI, metadata=metadata)
        paths.append(path)
    return paths


def cd_diagram(ranks: pd.Series, p_holm: pd.DataFrame, title: str, stem: Path, alpha: float = 0.05) -> list[Path]:
    """Critical-difference diagram (scikit-posthocs `critical_difference_diagram`): strategies at
    their mean rank, a bar joins strategies whose Holm-adjusted pairwise p-values are ≥ `alpha`."""
    matplotlib, plt = pyplot()
    import scikit_posthocs  # noqa: PLC0415 — imports matplotlib.pyplot at import time; only needed when a figure is drawn

    ranks = ranks.sort_values(kind="stable")
    with matplotlib.rc_context({**STYLE, **cjk_rc()}):
        figure, axis = plt.subplots(figsize=(7.0, 1.2 + 0.28 * len(ranks)))
        artists = scikit_posthocs.critical_difference_diagram(
            ranks, p_holm.loc[ranks.index, ranks.index], alpha=alpha, ax=axis,
            label_fmt_left="{label} ({rank:.2f})", label_fmt_right="({rank:.2f}) {label}",
            label_props={"fontsize": 8})
        for lines in artists["crossbars"]:  # points of a crossbar in rank order, not set order
            for line in lines:
                x, y = np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)
                line.set_data(np.sort(x), y)
        axis.set_title(title, fontsize=9, pad=22)
        tight_layout(figure)
        paths = save_figure(figure, stem)
    plt.close(figure)
    return paths


def winrate_heatmap(matrix: pd.DataFrame, title: str, stem: Path) -> list[Path]:
    """Heat map of a pairwise win-rate matrix: cell (row A, column B) = share of blocks A beats B."""
    matplotlib, plt = pyplot()
    names = list(matrix.index)
    k = len(names)
    with matplotlib.rc_context({**STYLE, **cjk_rc()}):
        size = 2.2 + 0.5 * k
        figure, axis = plt.subplots(figsize=(size + 1.0, size))
        image = axis.imshow(matrix.to_numpy(dtype=float), cmap="RdBu", vmin=0.0, vmax=1.0)
        for i in range(k):
            for j in range(k):
                value = matrix.iat[i, j]
                if np.isfinite(value):  # inside its cell, so left out of the margins tight_layout fits
                    axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                              color="white" if abs(value - 0.5) > 0.3 else "black", in_layout=False)
        axis.set_xticks(range(k), names, rotation=45, ha="right")
        axis.set_yticks(range(k), names)
        axis.set_xlabel("B")
        axis.set_ylabel("A")
        axis.set_title(title, fontsize=9)
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="win rate of A over B")
        tight_layout(figure)
        paths = save_figure(figure, stem)
    plt.close(figure)
    return paths


def pareto_scatter(frame: pd.DataFrame, title: str, stem: Path) -> list[Path]:
    """Cost against rank: one point per strategy (x: pretraining wall time, y: mean rank over the
    tasks, 1 = best at the top), the Pareto front (no other strategy both cheaper and better) joined."""
    matplotlib, plt = pyplot()
    data = frame.sort_values(["cost_s", "mean_rank", "strategy"], kind="stable")
    front, best = [], np.inf
    for row in data.itertuples(index=False):
        if row.mean_rank < best:
            front.append(row)
            best = row.mean_rank
    with matplotlib.rc_context({**STYLE, **cjk_rc()}):
        figure, axis = plt.subplots(figsize=(6.5, 4.2))
        axis.scatter(data["cost_s"], data["mean_rank"], s=18, color="#4c72b0", zorder=3)
        axis.step([r.cost_s for r in front], [r.mean_rank for r in front], where="post", color="#dd8452", lw=1.2,
                  label="Pareto front", zorder=2)
        for row in data.itertuples(index=False):
            axis.annotate(row.strategy, (row.cost_s, row.mean_rank), xytext=(4, 3), textcoords="offset points", fontsize=7)
        axis.invert_yaxis()
        axis.set_xlabel("pretraining wall time, summed over runs (s)")
        axis.set_ylabel("mean rank over tasks (1 = best)")
        axis.set_title(title, fontsize=9)
        axis.legend(fontsize=7, loc="lower right")
        tight_layout(figure)
        paths = save_figure(figure, stem)
    plt.close(figure)
    return paths
