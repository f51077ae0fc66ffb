"""`bench plot tsne`: ViLReF Fig 5 — t-SNE of a pretrained strategy's image features
(`model.image_features`: pooled backbone features before the projection) on a classification
set's test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.manifold import TSNE

from vlpbench.core.config import RunConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES
from vlpbench.engine.run_cache import Workspace
from vlpbench.report.figures import NO_CLASS, class_names_of, scatter_figure
from vlpbench.tasks._features import extract_features


def tsne_figure(config: RunConfig, strategy: str, dataset: str, out: Path | None = None) -> Path:
    """Write the t-SNE scatter (default `leaderboards/figures/tsne-<strategy>-<dataset>.png`)."""
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
    scatter_figure(points, names, [*data.class_names, NO_CLASS], f"{strategy} image features · {dataset} test (n={len(points)})", path)
    return path
