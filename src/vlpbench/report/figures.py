"""Figures drawn from computed values: the t-SNE scatter of ViLReF Fig 5 (one colour per class)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlpbench.datasets.base import ClassificationSplit
from vlpbench.report.fonts import cjk_rc

NO_CLASS = "none"


def class_names_of(split: ClassificationSplit, class_names: list[str], multilabel: bool) -> list[str]:
    """Each image's class; for multi-label sets the first positive class, or `none`."""
    labels = np.asarray(split.labels)
    if not multilabel:
        return [class_names[int(label)] for label in labels]
    return [class_names[int(np.flatnonzero(row)[0])] if row.any() else NO_CLASS for row in labels]


def scatter_figure(points: np.ndarray, names: list[str], order: list[str], title: str, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    with matplotlib.rc_context(cjk_rc()):  # class names may be Chinese
        present = [name for name in order if name in set(names)]
        colours = plt.get_cmap("tab20" if len(present) > 10 else "tab10")
        figure, axis = plt.subplots(figsize=(7, 5))
        labels = np.array(names)
        for i, name in enumerate(present):
            chosen = labels == name
            axis.scatter(points[chosen, 0], points[chosen, 1], s=12, color=colours(i), label=f"{name} ({chosen.sum()})")
        axis.set_title(f"t-SNE · {title}", fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.legend(fontsize=7, markerscale=1.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=150)
    plt.close(figure)
