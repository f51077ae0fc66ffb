"""`bench plot tsne`: ViLReF Fig 5 — t-SNE of a pretrained strategy's image features
(`model.image_features`: pooled backbone features before the projection) on a classification
set's test split, one colour per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlpbench.benchmark.config import RunConfig
from vlpbench.benchmark.errors import VlpbenchError
from vlpbench.benchmark.registry import STRATEGIES
from vlpbench.benchmark.workspace import Workspace
from vlpbench.datasets.base import ClassificationSplit
from vlpbench.tasks.features import extract_features

NO_CLASS = "none"


def tsne_figure(config: RunConfig, strategy: str, dataset: str, out: Path | None = None) -> Path:
    """Write the t-SNE scatter (default `leaderboards/figures/tsne-<strategy>-<dataset>.png`)."""
    from sklearn.manifold import TSNE

    STRATEGIES.entry(strategy)
    workspace = Workspace(config)
    data = workspace.dataset(dataset, config.eval.image_size)
    if data.kind != "classification":
        raise VlpbenchError(f"bench plot tsne: dataset '{dataset}' is a {data.kind} set; expected a classification set")
    split = data.split("test")
    if len(split.images) < 3:
        raise VlpbenchError(f"bench plot tsne: dataset '{dataset}' test split has {len(split.images)} images; t-SNE needs ≥ 3")
    model = workspace.checkpoint(strategy).model
    evaluation = config.eval
    features = extract_features(model, split.images, np.arange(len(split.images)), evaluation.image_size,
                                evaluation.batch_size, workspace.device, cache_path=None)
    points = TSNE(n_components=2, random_state=0, init="pca", perplexity=min(30, len(features) - 1)).fit_transform(features)
    names = class_names_of(split, data.class_names, data.multilabel)
    path = out or Path("leaderboards") / "figures" / f"tsne-{strategy}-{dataset}.png"
    _scatter(points, names, [*data.class_names, NO_CLASS], f"{strategy} image features · {dataset} test (n={len(points)})", path)
    return path


def class_names_of(split: ClassificationSplit, class_names: list[str], multilabel: bool) -> list[str]:
    """Each image's class; for multi-label sets the first positive class, or `none`."""
    labels = np.asarray(split.labels)
    if not multilabel:
        return [class_names[int(label)] for label in labels]
    return [class_names[int(np.flatnonzero(row)[0])] if row.any() else NO_CLASS for row in labels]


def _scatter(points: np.ndarray, names: list[str], order: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
