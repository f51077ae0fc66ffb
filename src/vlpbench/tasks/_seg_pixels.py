"""The `seg` task for a hand-crafted reference row (`Strategy.hand_crafted`): per lesion type a
per-pixel logistic regression on the row's fixed `pixel_features` (e.g. each pixel's 3 × 3 RGB
neighbourhood), the decision threshold chosen on the validation split, scored with the task's
pooled DSC/IoU.

Training pixels: at most `TRAINING_PIXELS` per lesion type, drawn from the training images
(an equal quota per image; within it lesion pixels first, up to half, then background), so a
~1 % foreground still gives the regression positives. Features are standardised, C = 1. The
threshold maximises the pooled DSC (= F1) of the validation pixels; a validation split is the
dataset's `val` split, or else a seeded fifth of the training images (never trained on).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from vlpbench.core.seeding import seed_generator
from vlpbench.datasets.base import SegmentationDataset, SegmentationSplit
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.strategies.base import Strategy
from vlpbench.tasks._seg_metrics import PixelCounts

TRAINING_PIXELS = 50_000
HELD_OUT_SHARE = 0.2


def pixel_classifier_counts(
    model: Strategy, dataset: SegmentationDataset, subset: np.ndarray, size: int, batch_size: int, seed: int,
    device: str = "cpu",
) -> dict[str, PixelCounts]:
    """Lesion name → TP/FP/FN over the test split of per-pixel classifiers trained on the
    training images `subset` at `size` px."""
    rng, _ = seed_generator(seed, "seg-pixels")
    train = dataset.split("train")
    if "val" in dataset.splits:
        val, val_indices = dataset.split("val"), np.arange(len(dataset.split("val").images))
    else:
        shuffled = rng.permutation(subset)
        held = max(1, int(round(HELD_OUT_SHARE * len(subset)))) if len(subset) > 1 else 0
        val, val_indices, subset = train, np.sort(shuffled[:held]), np.sort(shuffled[held:])
    lesions = len(dataset.lesion_names)
    classifiers = _fit(model, train, subset, lesions, size, batch_size, rng, device)
    thresholds = [0.5] * lesions
    scores, truths = _scores(model, classifiers, val, val_indices, size, batch_size, device)
    for lesion in range(lesions):
        truth = np.concatenate([t.ravel() for t in truths[lesion]])
        if classifiers[lesion] is not None and truth.any():
            thresholds[lesion] = best_threshold(np.concatenate([s.ravel() for s in scores[lesion]]), truth)
    test = dataset.split("test")
    scores, truths = _scores(model, classifiers, test, np.arange(len(test.images)), size, batch_size, device)
    counts = {}
    for lesion, name in enumerate(dataset.lesion_names):
        counts[name] = PixelCounts()
        for score, truth in zip(scores[lesion], truths[lesion]):
            counts[name].add(score >= thresholds[lesion], truth)
    return counts


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The score threshold (predict lesion at ≥ it) with the highest pooled DSC on these pixels."""
    precision, recall, thresholds = precision_recall_curve(truth, scores)
    dsc = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return float(thresholds[int(np.argmax(dsc[:-1]))])


def _masks(split: SegmentationSplit, indices: np.ndarray, size: int) -> np.ndarray:
    """(n, L, size, size) bool masks, resized by nearest neighbour as the seg task's training masks."""
    masks = torch.from_numpy(np.stack([np.asarray(split.masks[int(i)]) > 0 for i in indices]))
    if masks.shape[-2:] != (size, size):
        masks = F.interpolate(masks.float(), size=(size, size), mode="nearest") > 0.5
    return masks.numpy()


def _features(model: Strategy, split: SegmentationSplit, indices: np.ndarray, size: int, device: str) -> np.ndarray:
    """(n, size, size, d) per-pixel features of images `indices`."""
    with torch.no_grad():
        return model.pixel_features(load_batch(split.images, indices, size).to(device)).permute(0, 2, 3, 1).cpu().numpy()


def _fit(
    model: Strategy, split: SegmentationSplit, indices: np.ndarray, lesions: int, size: int, batch_size: int,
    rng: np.random.Generator, device: str,
) -> list[Pipeline | None]:
    """One standardised logistic regression per lesion type (None: its pixels are all one class)."""
    quota = max(2, TRAINING_PIXELS // max(len(indices), 1))
    rows: list[list[np.ndarray]] = [[] for _ in range(lesions)]
    targets: list[list[np.ndarray]] = [[] for _ in range(lesions)]
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        features, masks = _features(model, split, chunk, size, device), _masks(split, chunk, size)
        for image in range(len(chunk)):
            flat = features[image].reshape(-1, features.shape[-1])
            for lesion in range(lesions):
                truth = masks[image, lesion].ravel()
                inside, outside = rng.permutation(np.flatnonzero(truth)), rng.permutation(np.flatnonzero(~truth))
                positives = inside[: quota // 2]
                chosen = np.concatenate([positives, outside[: quota - len(positives)]])
                rows[lesion].append(flat[chosen])
                targets[lesion].append(truth[chosen])
    classifiers: list[Pipeline | None] = []
    for lesion in range(lesions):
        x, y = np.concatenate(rows[lesion]), np.concatenate(targets[lesion])
        if len(np.unique(y)) < 2:
            classifiers.append(None)
            continue
        regression = LogisticRegression(C=1.0, max_iter=1000, random_state=int(rng.integers(2**31 - 1)))
        classifiers.append(make_pipeline(StandardScaler(), regression).fit(x, y))
    return classifiers


def _scores(
    model: Strategy, classifiers: list[Pipeline | None], split: SegmentationSplit, indices: np.ndarray, size: int,
    batch_size: int, device: str,
) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]]]:
    """Per lesion, per image: the lesion probability map resized (bilinear) to the image's mask
    size (0 without a classifier), and that mask."""
    scores: list[list[np.ndarray]] = [[] for _ in classifiers]
    truths: list[list[np.ndarray]] = [[] for _ in classifiers]
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        features = _features(model, split, chunk, size, device)
        for image, index in enumerate(chunk):
            mask = np.asarray(split.masks[int(index)]) > 0
            flat = features[image].reshape(-1, features.shape[-1])
            for lesion, classifier in enumerate(classifiers):
                probability = (classifier.predict_proba(flat)[:, 1] if classifier is not None
                               else np.zeros(len(flat))).reshape(size, size)
                if probability.shape != mask.shape[1:]:
                    probability = F.interpolate(torch.from_numpy(probability)[None, None], size=mask.shape[1:],
                                                mode="bilinear", align_corners=False)[0, 0].numpy()
                scores[lesion].append(probability)
                truths[lesion].append(mask[lesion])
    return scores, truths
