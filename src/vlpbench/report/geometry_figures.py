"""The M-FLAG-style PCA figure (M-FLAG Fig 1/2): the first three principal components of each
strategy's image features on the corpus validation pairs, from the `pca` coordinates a geometry
record carries (first pretraining run of each strategy), coloured by each pair's first finding
category. PNG + SVG, byte-identical for the same records (`stat_figures.save_figure`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vlpbench.report.fonts import cjk_rc
from vlpbench.report.stat_figures import STYLE, pyplot, save_figure

if TYPE_CHECKING:
    from matplotlib.colors import Colormap

COLUMNS = 4
GREY = (0.6, 0.6, 0.6, 1.0)


def has_pca(t: pd.DataFrame) -> bool:
    """Whether the records of a task carry PCA coordinates."""
    return any(isinstance(extra, dict) and "pca" in extra for extra in t["extra"])


def pca_panels(t: pd.DataFrame, strategies: list[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(strategy, PCA points, first categories) of each strategy's lowest-seed record, in `strategies` order."""
    panels = []
    for strategy in strategies:
        rows = t[(t["strategy"] == strategy) & t["extra"].map(lambda e: isinstance(e, dict) and "pca" in e)]
        if len(rows):
            extra = rows.sort_values("seed").iloc[0]["extra"]
            panels.append((strategy, np.asarray(extra["pca"], dtype=float), np.asarray(extra["first_category"])))
    return panels


def category_colours(colours: Colormap, category: np.ndarray) -> np.ndarray:
    """RGBA per point: `tab20` colour of its category (modulo 20), grey where it has none (< 0)."""
    category = np.asarray(category, dtype=int)
    return np.where((category >= 0)[:, None], colours(category % 20), GREY)


def pca_figure(panels: list[tuple[str, np.ndarray, np.ndarray]], title: str, stem: Path) -> list[Path]:
    """One 3-D scatter per panel (`pca_panels`)."""
    matplotlib, plt = pyplot()
    with matplotlib.rc_context({**STYLE, **cjk_rc()}):
        rows_n = math.ceil(len(panels) / COLUMNS)
        figure = plt.figure(figsize=(3.0 * COLUMNS, 3.0 * rows_n + 0.4))
        colours = matplotlib.colormaps["tab20"]
        for index, (strategy, points, category) in enumerate(panels):
            axis = figure.add_subplot(rows_n, COLUMNS, index + 1, projection="3d")
            padded = np.pad(points, ((0, 0), (0, 3 - points.shape[1])))
            axis.scatter(*padded.T, s=4, c=category_colours(colours, category), depthshade=False)
            axis.set_title(strategy, fontsize=9)
            for ticks in (axis.xaxis, axis.yaxis, axis.zaxis):
                ticks.set_major_formatter(matplotlib.ticker.NullFormatter())
        figure.suptitle(f"{title}\ncolour: first finding category of the pair (grey: none)", fontsize=10)
        paths = save_figure(figure, stem)
    plt.close(figure)
    return paths
