"""How well an activation map localises a lesion mask (one map, one binary mask of the same size).

- Pointing game (Zhang et al. 2018): a hit when the map's maximum (first in row-major order on
  ties) falls inside the mask.
- Energy inside the mask (the energy-based pointing game of Score-CAM, Wang et al. 2020):
  Σ map·mask / Σ map.
- AUC of the map as a pixel classifier of the mask (ROC AUC over the pixels).

A map with no signal (all equal) is scored as uninformative: its energy is the mask's area share,
its AUC 0.5, and its pointing hit is decided by the first pixel, like any tie. A random map scores
the mask's area share on pointing and energy and 0.5 on AUC in expectation: the chance levels.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def pointing_hit(heatmap: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the map's (first) maximum lies in the mask."""
    return bool(np.asarray(mask, dtype=bool).ravel()[int(np.argmax(heatmap))])


def energy_inside(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Share of the (non-negative) map's total inside the mask; the area share for a constant map."""
    values, inside = np.asarray(heatmap, dtype=np.float64), np.asarray(mask, dtype=bool)
    if values.max() == values.min():
        return float(inside.mean())
    values = values - values.min() if values.min() < 0 else values
    return float(values[inside].sum() / values.sum())


def pixel_auc(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """ROC AUC of the map's values as scores for the mask's pixels (NaN if the mask is empty or full)."""
    truth = np.asarray(mask, dtype=bool).ravel()
    if truth.all() or not truth.any():
        return float("nan")
    return float(roc_auc_score(truth, np.asarray(heatmap, dtype=np.float64).ravel()))
