"""Latent-space geometry of a checkpoint on the corpus validation pairs (M-FLAG Fig 1/2 and §3.4's
dimensional-collapse claim, as numbers; metrics in `_geometry_metrics.py`).

Image features are the backbone's pooled features (what the probe reads); with a text tower also
the projected image and text embeddings of the same pairs. Recorded per checkpoint (deterministic:
one record per pretraining run): effective rank of each, alignment of the pairs and uniformity of
each side, plus the normalised singular value spectrum and the first three principal components
of the image features with each pair's first category (for the PCA figure) in the record's `extra`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA

from vlpbench.core.checks import at_least
from vlpbench.core.registry import PluginInfo, register_task
from vlpbench.datasets.base import PretrainCorpus
from vlpbench.strategies.base import Strategy
from vlpbench.tasks._features import extract_features
from vlpbench.tasks._geometry_metrics import alignment, effective_rank, singular_spectrum, uniformity
from vlpbench.tasks.base import Task, TaskContext, TaskResult
from vlpbench.tasks.prompts import embed_texts

#: leading singular values and PCA coordinates kept in the record
SPECTRUM_KEPT, PCA_COMPONENTS = 64, 3


@dataclass
class GeometryOptions:
    """How many validation pairs enter (0 = all of them)."""

    max_pairs: int = field(default=0, metadata=at_least(0))


@register_task(
    "geometry", description="latent geometry on the corpus validation pairs: effective rank, alignment, uniformity",
    info=PluginInfo(title="Latent-space geometry (corpus validation pairs)", order=50,
                    reference="M-FLAG §3.4; Roy & Vetterli 2007; Wang & Isola 2020",
                    default_datasets=("corpus",), tags=("descriptive",), cost=0.05,
                    metric_notes={
                        "erank": "effective rank of the image backbone features (1 = collapsed onto one direction, at most their width)",
                        "erank_image_embedding / erank_text_embedding": "the same for the projected image / text embeddings",
                        "alignment": "mean squared distance of paired normalised image and text embeddings (0 = identical, at most 4; lower is better)",
                        "uniformity_image / uniformity_text": "log mean Gaussian potential of all pairs (0 = one point; lower is more uniform)",
                    }),
)
class Geometry(Task):
    """Effective rank (higher: less collapsed), alignment (lower: pairs closer), uniformity (lower: spread wider)."""

    accepts = ("corpus",)
    deterministic = True
    needs_network = True
    Options = GeometryOptions

    def evaluate(self, model: Strategy, dataset: PretrainCorpus, seed: int, fraction: float, context: TaskContext) -> TaskResult:
        self.check_dataset(dataset)
        model.to(context.device).eval()
        pairs = np.asarray(dataset.val_indices)
        if self.options.max_pairs:
            pairs = pairs[: self.options.max_pairs]
        size, batch = self.image_size(self.config), self.config.eval.batch_size
        features = extract_features(model, dataset.images, pairs, size, batch, context.device, None)
        spectrum = singular_spectrum(features)
        metrics = {"erank": effective_rank(features)}
        if model.has_text_tower:
            image = extract_features(model, dataset.images, pairs, size, batch, context.device, None, embed=model.image_embedding)
            text = embed_texts(model, [dataset.reports[i] for i in pairs]).float().cpu().numpy()
            metrics |= {"erank_image_embedding": effective_rank(image), "erank_text_embedding": effective_rank(text),
                        "alignment": alignment(image, text), "uniformity_image": uniformity(image),
                        "uniformity_text": uniformity(text)}
        components = PCA(n_components=min(PCA_COMPONENTS, *features.shape), svd_solver="full").fit_transform(features)
        extra = {"pairs": len(pairs), "feature_dim": int(features.shape[1]),
                 "spectrum": np.round(spectrum[:SPECTRUM_KEPT] / max(spectrum.sum(), 1e-12), 6).tolist(),
                 "pca": np.round(components, 4).tolist(), "first_category": _first_category(np.asarray(dataset.labels)[pairs]).tolist()}
        return TaskResult(metrics={k: round(float(v), 4) for k, v in metrics.items()}, extra=extra)


def _first_category(labels: np.ndarray) -> np.ndarray:
    """Index of each pair's first positive category (−1: none), to colour the PCA figure."""
    return np.where(labels.any(axis=1), labels.argmax(axis=1), -1)
