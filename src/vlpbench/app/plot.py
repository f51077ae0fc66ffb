"""`bench plot tsne`: ViLReF Fig 5 — t-SNE of a pretrained strategy's image features
(`model.image_features`: pooled backbone features before the projection) on a classification
set's test split. `bench plot gradcam`: ViLReF Fig 3 — Grad-CAM maps of several strategies for one
lesion type on chosen test images of a segmentation set (the maps the `loc` task scores)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.manifold import TSNE

from vlpbench.core.config import RunConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.engine.run_cache import Workspace
from vlpbench.report.figures import NO_CLASS, class_names_of, gradcam_grid, scatter_figure
from vlpbench.tasks._features import extract_features
from vlpbench.tasks._gradcam import CAM_METHODS, at_input_size
from vlpbench.tasks.loc import Localisation, maps_by_lesion


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


def gradcam_figure(config: RunConfig, strategies: list[str], dataset: str, lesion: str, images: list[int] | None = None,
                   out: Path | None = None) -> Path:
    """Write the class activation map grid (default `leaderboards/figures/gradcam-<dataset>-<lesion>.png`)
    for the `images` test indices (default: the first four that show the lesion): the maps the loc
    task scores, at its side, grid and method (`task.loc`)."""
    for strategy in strategies:
        STRATEGIES.entry(strategy)
    workspace = Workspace(config)
    size, options = Localisation.image_size(config), config.task["loc"]
    data = workspace.dataset(dataset, size)
    if data.kind != "segmentation":
        raise VlpbenchError(f"bench plot gradcam: dataset '{dataset}' is a {data.kind} set; expected a segmentation set")
    if lesion not in data.lesion_names:
        raise VlpbenchError(f"bench plot gradcam: --lesion '{lesion}' is not a lesion of {dataset} (has: {', '.join(data.lesion_names)})")
    test, index = data.split("test"), data.lesion_names.index(lesion)
    masks = np.stack([np.asarray(test.masks[i], dtype=bool)[index] for i in range(len(test.images))])
    chosen = np.asarray(images if images is not None else np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))[:4])
    if not len(chosen) or chosen.min() < 0 or chosen.max() >= len(test.images):
        raise VlpbenchError(f"bench plot gradcam: --images must name test images 0–{len(test.images) - 1} of {dataset}"
                            + ("" if len(chosen) else f" (none shows {lesion})"))
    maps = {}
    for strategy in strategies:
        model = at_input_size(workspace.checkpoint(strategy).model.eval(), size)
        make = maps_by_lesion(model, data, size, config.eval.batch_size, options.min_grid, options.cam)[index]
        if make is None:
            raise VlpbenchError(f"bench plot gradcam: {strategy} has no text tower and {dataset}'s train split never or always shows {lesion}")
        maps[strategy] = make(load_batch(test.images, chosen, size).to(workspace.device))
    path = out or Path("leaderboards") / "figures" / f"gradcam-{dataset}-{lesion}.png"
    pixels = np.stack([np.asarray(test.images[int(i)]) for i in chosen])
    method = CAM_METHODS[options.cam]
    gradcam_grid(pixels, masks[chosen], maps, f"{method} · {dataset} test · {lesion} (outline: lesion mask)", path)
    return path
