"""Segmentation metrics over a whole test split: pixel counts are summed over every image
first, then DSC = 2TP / (2TP + FP + FN) and IoU = TP / (TP + FP + FN), in percent."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean


@dataclass
class PixelCounts:
    """True-positive, false-positive and false-negative pixel totals for one lesion type."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted, target) -> None:
        """Add one image: boolean arrays or tensors of the same shape (prediction, ground truth)."""
        if tuple(predicted.shape) != tuple(target.shape):
            raise ValueError(f"prediction shape {tuple(predicted.shape)} != mask shape {tuple(target.shape)}")
        self.tp += int((predicted & target).sum())
        self.fp += int((predicted & ~target).sum())
        self.fn += int((~predicted & target).sum())

    @property
    def empty(self) -> bool:
        """Neither present in the ground truth nor predicted: DSC and IoU are undefined."""
        return self.tp + self.fp + self.fn == 0

    def dsc(self) -> float:
        return 100.0 * 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    def iou(self) -> float:
        return 100.0 * self.tp / (self.tp + self.fp + self.fn)


def lesion_metrics(counts: dict[str, PixelCounts], dataset: str = "") -> tuple[dict[str, float], list[str]]:
    """`dsc/<lesion>`, `iou/<lesion>` and their means `dsc`, `iou` (percent), plus warnings for
    lesions skipped because they are absent from the test masks and never predicted."""
    metrics: dict[str, float] = {}
    warnings: list[str] = []
    for lesion, count in counts.items():
        if count.empty:
            warnings.append(f"{dataset or 'seg'}: lesion '{lesion}' is absent from the test masks and never "
                            "predicted; DSC/IoU undefined, left out of the means")
            continue
        metrics[f"dsc/{lesion}"] = count.dsc()
        metrics[f"iou/{lesion}"] = count.iou()
    scored = [lesion for lesion, count in counts.items() if not count.empty]
    if scored:
        metrics["dsc"] = fmean(metrics[f"dsc/{lesion}"] for lesion in scored)
        metrics["iou"] = fmean(metrics[f"iou/{lesion}"] for lesion in scored)
    return metrics, warnings
