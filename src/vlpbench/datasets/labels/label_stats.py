"""Statistics of multi-hot report labels: label similarity (ViLReF eq 2), mean label entropy (eq 14)."""

from __future__ import annotations

import numpy as np
from scipy.special import entr


def _without_others(labels: np.ndarray, others_index: int) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (n, c), got shape {labels.shape}")
    return np.delete(labels, others_index, axis=1)


def label_similarity(labels_a: np.ndarray, labels_b: np.ndarray | None = None,
                     others_index: int = -1) -> np.ndarray:
    """Eq 2: s_ij = y_i·y_j / (‖y_i‖‖y_j‖), and 0 when either norm is 0.

    The `others` column is left out, so an `others`-only sample is dissimilar to every sample
    (a true negative for all). Returns (n_a, n_b); `labels_b` defaults to `labels_a`.
    """
    a = _without_others(labels_a, others_index)
    b = a if labels_b is None else _without_others(labels_b, others_index)
    norm_a, norm_b = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    denom = np.outer(norm_a, norm_b)
    return np.divide(a @ b.T, denom, out=np.zeros_like(denom), where=denom > 0)


def mean_label_entropy(labels: np.ndarray, others_index: int = -1) -> float:
    """Eq 14: mLE = −(1/c) Σ_i [P(y_i=1) ln P(y_i=1) + P(y_i=0) ln P(y_i=0)].

    Natural logarithm; P(y_i=1) is the share of samples positive for category i, and the mean
    runs over the c = 32 categories other than `others` (left out as in eq 2).
    """
    labels = _without_others(labels, others_index)
    if len(labels) == 0:
        raise ValueError("mean label entropy of an empty label set is undefined")

    p = labels.mean(axis=0)
    return float(np.mean(entr(p) + entr(1.0 - p)))
