"""Lesion localisation by class activation maps (ViLReF Fig 3 and §IV-C 4, as numbers): where does
the encoder look for a lesion, and is it the lesion?

For every test image of a segmentation set and every lesion type present in it, a class
activation map (`_gradcam.py`, HiResCAM by default, Grad-CAM with `task.loc.cam=gradcam`, as the
paper profile draws them: text-guided for strategies with a text tower — the prompt is the
lesion's knowledge-base term in the text encoder's language; a linear probe's logit otherwise,
the probe fitted on the train split's lesion presence) is scored against the lesion's mask
(`_loc_metrics.py`): pointing-game hit, share of the map's energy inside the mask, and the map's
pixel AUC. Metrics are means over the (image, lesion) pairs in %; the record also carries them
per lesion type and the chance levels (a random map's expected pointing and energy: the mean
mask area share). Maps are resized to the masks' side when the two differ. Deterministic for
a checkpoint: one record per pretraining run.

Map resolution: the maps are drawn at `task.loc.image_size` (0: `eval.image_size`), a ViT
resampled to that side, and a ResNet reads its deepest stage with at least `task.loc.min_grid`
cells a side. The record's `extra.grid` is the map's cell grid (a ViT's patch grid: 8 × 8 at
32 px with patch 4, 16 × 16 at 64 px); a grid coarser than `min_grid` is warned about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from vlpbench.core.checks import at_least, image_side, multiple_of, one_of
from vlpbench.core.config import RunConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_task
from vlpbench.datasets.base import SegmentationDataset, SegmentationSplit
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.strategies.base import Strategy
from vlpbench.tasks._features import extract_features
from vlpbench.tasks._gradcam import CAM_METHODS, MIN_GRID, ProbeHead, at_input_size, map_grid, probe_maps, text_guided_maps
from vlpbench.tasks._loc_metrics import energy_inside, pixel_auc, pointing_hit
from vlpbench.tasks.base import Task, TaskContext, TaskResult
from vlpbench.tasks.prompt_texts import surface_forms
from vlpbench.tasks.prompts import class_embeddings

DEFAULT_DATASETS = ("syn-idrid", "syn-retinal-lesions", "syn-fgadr")
METRICS = ("pointing", "energy", "auc")


@dataclass
class LocOptions:
    """The side maps are drawn at (0 = `eval.image_size`), the ResNet target layer's least cells a
    side, and the map method (`_gradcam.CAM_METHODS`: HiResCAM, or Grad-CAM as ViLReF drew them)."""

    # 16 × 16 map cells (issue 24): the quick ViT (patch 4) resampled to 64 px, a ResNet's layer1
    image_size: int = field(default=64, metadata=image_side(multiple_of(1, zero=True)))
    min_grid: int = field(default=16, metadata=at_least(1))
    cam: str = field(default="hirescam", metadata=one_of(*CAM_METHODS))


@register_task(
    "loc", description="Lesion localisation by class activation maps (HiResCAM; Grad-CAM): pointing game, energy in the mask, pixel AUC",
    info=PluginInfo(title="Lesion localisation by class activation maps", order=45, reference="ViLReF §IV-C 4 / Fig 3",
                    default_datasets=DEFAULT_DATASETS, cost=0.3, profiles={"smoke": {"image_size": 0, "min_grid": MIN_GRID},
                              "paper": {"image_size": 0, "min_grid": MIN_GRID, "cam": "gradcam"}}),
)
class Localisation(Task):
    """Text-guided Grad-CAM (or the probe logit's, without a text tower) scored against lesion masks."""

    accepts = ("segmentation",)
    deterministic = True
    needs_network = True
    Options = LocOptions

    @classmethod
    def image_size(cls, config: RunConfig) -> int:
        """Localisation sets load at `task.loc.image_size` (0: `eval.image_size`)."""
        return config.task[cls.registered_name].image_size or config.eval.image_size

    def evaluate(self, model: Strategy, dataset: SegmentationDataset, seed: int, fraction: float,
                 context: TaskContext) -> TaskResult:
        self.check_dataset(dataset)
        size, min_grid = self.image_size(self.config), self.options.min_grid
        model = at_input_size(model.to(context.device).eval(), size)
        grid = map_grid(model, size, min_grid)
        test = dataset.split("test")
        masks = np.stack([np.asarray(test.masks[i], dtype=bool) for i in range(len(test.images))])  # (n, L, H, W)
        maps_for = maps_by_lesion(model, dataset, size, self.config.eval.batch_size, min_grid, self.options.cam)
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
                for heatmap, mask in zip(resized(heatmaps, masks.shape[-2:]), masks[chunk, lesion]):
                    found["pointing"].append(100.0 * pointing_hit(heatmap, mask))
                    found["energy"].append(100.0 * energy_inside(heatmap, mask))
                    found["auc"].append(100.0 * pixel_auc(heatmap, mask))
            for metric, values in found.items():
                per_lesion[f"{metric}/{name}"] = float(np.nanmean(values))
                scores[metric] += values
        metrics = {metric: float(np.nanmean(values)) for metric, values in scores.items() if values}
        flat = masks.reshape(*masks.shape[:2], -1)  # (n, L, pixels)
        area = float(100.0 * flat.mean(axis=2)[flat.any(axis=2)].mean())  # mean area share of the lesions present
        extra = {"target": "text" if model.has_text_tower else "probe", "cam": self.options.cam, "pairs": len(scores["auc"]),
                 "chance": {"pointing": area, "energy": area, "auc": 50.0}, "image_size": size, "grid": list(grid),
                 "per_lesion": {k: round(v, 4) for k, v in per_lesion.items()}}
        warnings = ([f"map grid {grid[0]} × {grid[1]} at {size} px is coarser than task.loc.min_grid = {min_grid}"]
                    if min(grid) < min_grid else [])
        return TaskResult(metrics={k: round(v, 4) for k, v in metrics.items()}, warnings=warnings, extra=extra)


def resized(heatmaps: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(n, H, W) maps resized (bilinear) to the masks' (H', W') when they differ."""
    if heatmaps.shape[-2:] == tuple(shape):
        return heatmaps
    maps = torch.from_numpy(np.ascontiguousarray(heatmaps, dtype=np.float32))[:, None]
    return torch.nn.functional.interpolate(maps, size=tuple(shape), mode="bilinear", align_corners=False)[:, 0].numpy()


def maps_by_lesion(model: Strategy, dataset: SegmentationDataset, size: int, batch: int,
                   min_grid: int = MIN_GRID, cam: str = "hirescam") -> dict[int, Callable | None]:
    """Lesion index → a function of an image batch giving its Grad-CAM maps (None: the lesion has
    no probe, its train split holding one class only): text-guided with a text tower, else a probe's."""
    if (reason := Localisation.not_applicable(model)) is not None:
        raise VlpbenchError(f"Grad-CAM maps of '{model.registered_name}': it {reason}")
    if model.has_text_tower:
        return _text_maps(model, dataset, min_grid, cam)
    return _probe_maps(model, dataset, size, batch, min_grid, cam)


def lesion_prompts(model: Strategy, lesion_names: list[str]) -> torch.Tensor:
    """(L, D) prompt embeddings: each lesion's knowledge-base term in the text encoder's language."""
    language = model.config.encoders.text.language or "zh"
    kb = load_knowledge_base(language)
    terms = [kb.term(name) if name in kb.keys else name for name in lesion_names]
    with torch.no_grad():
        return class_embeddings(model, [surface_forms(term, language, "term") for term in terms])


def _text_maps(model: Strategy, dataset: SegmentationDataset, min_grid: int, cam: str) -> dict[int, Callable | None]:
    """Prompted with each lesion's knowledge-base term in the text encoder's language."""
    prompts = lesion_prompts(model, list(dataset.lesion_names))
    return {lesion: (lambda images, p=prompts[lesion]: text_guided_maps(model, images, p, min_grid, cam))
            for lesion in range(len(prompts))}


def _probe_maps(model: Strategy, dataset: SegmentationDataset, size: int, batch: int, min_grid: int,
                cam: str) -> dict[int, Callable | None]:
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
        out[lesion] = lambda images, h=head: probe_maps(h, model, images, 0, min_grid, cam)
    return out
