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


def gradcam_grid(images: np.ndarray, masks: np.ndarray, maps: dict[str, np.ndarray], title: str, path: Path) -> None:
    """ViLReF Fig 3 layout: one row per image — the image with the lesion outlined, then each
    strategy's map over it (jet, half transparent) with the same outline. `images` (n, H, W, 3)
    uint8, `masks` (n, H, W) bool, `maps` strategy → (n, H, W) in [0, 1]."""
    import matplotlib  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    columns = ["image + lesion", *maps]
    with matplotlib.rc_context(cjk_rc()):
        figure, axes = plt.subplots(len(images), len(columns), figsize=(1.8 * len(columns), 1.8 * len(images) + 0.5), squeeze=False)
        for row, (image, mask) in enumerate(zip(images, masks)):
            for column, name in enumerate(columns):
                axis = axes[row, column]
                axis.imshow(image)
                if column:
                    axis.imshow(maps[name][row], cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
                if mask.any():
                    axis.contour(mask.astype(float), levels=[0.5], colors="lime", linewidths=0.8)
                axis.set_xticks([])
                axis.set_yticks([])
                if row == 0:
                    axis.set_title(name, fontsize=8)
        figure.suptitle(title, fontsize=9)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=150)
    plt.close(figure)
