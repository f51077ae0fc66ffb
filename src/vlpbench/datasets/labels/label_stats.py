"""Statistics of multi-hot report labels: mean label entropy (ViLReF eq 14).

The label similarity of eq 2 lives with the losses that use it:
`vlpbench.strategies.losses.label_similarity`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import entr


def _without_others(labels: np.ndarray, others_index: int) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (n, c), got shape {labels.shape}")
    return np.delete(labels, others_index, axis=1)


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
