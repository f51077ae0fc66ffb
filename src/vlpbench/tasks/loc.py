"""Lesion localisation by Grad-CAM (ViLReF Fig 3 and §IV-C 4, as numbers): where does the encoder
look for a lesion, and is it the lesion?

For every test image of a segmentation set and every lesion type present in it, a class
activation map (`_gradcam.py`: text-guided for strategies with a text tower — the prompt is the
lesion's knowledge-base term in the text encoder's language; a linear probe's logit otherwise,
the probe fitted on the train split's lesion presence) is scored against the lesion's mask
(`_loc_metrics.py`): pointing-game hit, share of the map's energy inside the mask, and the map's
pixel AUC. Metrics are means over the (image, lesion) pairs in %; the record also carries them
per lesion type and the chance levels (a random map's expected pointing and energy: the mean
mask area share). Deterministic for a checkpoint: one record per pretraining run.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from vlpbench.core.registry import PluginInfo, register_task
from vlpbench.datasets.base import SegmentationDataset, SegmentationSplit
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.strategies.base import Strategy
from vlpbench.tasks._features import extract_features
from vlpbench.tasks._gradcam import ProbeHead, probe_maps, text_guided_maps
from vlpbench.tasks._loc_metrics import energy_inside, pixel_auc, pointing_hit
from vlpbench.tasks.base import Task, TaskContext, TaskResult
from vlpbench.tasks.prompt_texts import surface_forms
from vlpbench.tasks.prompts import class_embeddings

DEFAULT_DATASETS = ("syn-idrid", "syn-retinal-lesions", "syn-fgadr")
METRICS = ("pointing", "energy", "auc")


@register_task(
    "loc", description="Grad-CAM lesion localisation: pointing game, energy in the mask, pixel AUC",
    info=PluginInfo(title="Lesion localisation by Grad-CAM", order=45, reference="ViLReF §IV-C 4 / Fig 3",
                    default_datasets=DEFAULT_DATASETS, cost=0.3),
)
class Localisation(Task):
    """Text-guided Grad-CAM (or the probe logit's, without a text tower) scored against lesion masks."""

    accepts = ("segmentation",)
    deterministic = True

    def evaluate(self, model: Strategy, dataset: SegmentationDataset, seed: int, fraction: float,
                 context: TaskContext) -> TaskResult:
        self.check_dataset(dataset)
        model.to(context.device).eval()
        size = self.image_size(self.config)
        test = dataset.split("test")
        masks = np.stack([np.asarray(test.masks[i], dtype=bool) for i in range(len(test.images))])  # (n, L, H, W)
        maps_for = maps_by_lesion(model, dataset, size, self.config.eval.batch_size)
        scores: dict[str, list[float]] = {metric: [] for metric in METRICS}
        per_lesion: dict[str, float] = {}
        for lesion, name in enumerate(dataset.lesion_names):
            present = np.flatnonzero(masks[:, lesion].reshape(len(masks), -1).any(axis=1))
            if maps_for.get(lesion) is None or not len(present):
                continue
            found = {metric: [] for metric in METRICS}
            for start in range(0, len(present), self.config.eval.batch_size):
                chunk = present[start : start + self.config.eval.batch_size]
                heatmaps = maps_for[lesion](load_batch(test.images, chunk, size).to(context.device))
                for heatmap, mask in zip(heatmaps, masks[chunk, lesion]):
                    found["pointing"].append(100.0 * pointing_hit(heatmap, mask))
                    found["energy"].append(100.0 * energy_inside(heatmap, mask))
                    found["auc"].append(100.0 * pixel_auc(heatmap, mask))
            for metric, values in found.items():
                per_lesion[f"{metric}/{name}"] = float(np.nanmean(values))
                scores[metric] += values
        metrics = {metric: float(np.nanmean(values)) for metric, values in scores.items() if values}
        flat = masks.reshape(*masks.shape[:2], -1)  # (n, L, pixels)
        area = float(100.0 * flat.mean(axis=2)[flat.any(axis=2)].mean())  # mean area share of the lesions present
        extra = {"target": "text" if model.has_text_tower else "probe", "pairs": len(scores["auc"]),
                 "chance": {"pointing": area, "energy": area, "auc": 50.0},
                 "per_lesion": {k: round(v, 4) for k, v in per_lesion.items()}}
        return TaskResult(metrics={k: round(v, 4) for k, v in metrics.items()}, extra=extra)


def maps_by_lesion(model: Strategy, dataset: SegmentationDataset, size: int, batch: int) -> dict[int, Callable | None]:
    """Lesion index → a function of an image batch giving its Grad-CAM maps (None: the lesion has
    no probe, its train split holding one class only): text-guided with a text tower, else a probe's."""
    return _text_maps(model, dataset) if model.has_text_tower else _probe_maps(model, dataset, size, batch)


def _text_maps(model: Strategy, dataset: SegmentationDataset) -> dict[int, Callable | None]:
    """Prompted with each lesion's knowledge-base term in the text encoder's language."""
    language = model.config.encoders.text.language or "zh"
    kb = load_knowledge_base(language)
    terms = [kb.term(name) if name in kb.keys else name for name in dataset.lesion_names]
    with torch.no_grad():
        prompts = class_embeddings(model, [surface_forms(term, language, "term") for term in terms])
    return {lesion: (lambda images, p=prompts[lesion]: text_guided_maps(model, images, p)) for lesion in range(len(terms))}


def _probe_maps(model: Strategy, dataset: SegmentationDataset, size: int, batch: int) -> dict[int, Callable | None]:
    """A logistic probe of each lesion's presence, fitted on the train split's pooled features."""
    train: SegmentationSplit = dataset.split("train")
    features = extract_features(model, train.images, np.arange(len(train.images)), size, batch,
                                next(model.parameters()).device, None)
    present = np.stack([np.asarray(train.masks[i]).reshape(len(dataset.lesion_names), -1).any(axis=1)
                        for i in range(len(train.images))])
    out: dict[int, Callable | None] = {}
    for lesion in range(len(dataset.lesion_names)):
        if len(set(present[:, lesion])) < 2:
            out[lesion] = None
            continue
        probe = LogisticRegression(max_iter=2000).fit(features, present[:, lesion])
        head = ProbeHead(model, probe.coef_, probe.intercept_)
        out[lesion] = lambda images, h=head: probe_maps(h, model, images, 0)
    return out
