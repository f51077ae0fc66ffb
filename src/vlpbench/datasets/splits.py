"""Split helpers shared by the synthetic and the manifest corpus."""

from __future__ import annotations

import numpy as np


def balanced_validation(labels: np.ndarray, per_category: int, rng: np.random.Generator) -> np.ndarray:
    """A class-balanced validation split (ViLReF §III-E): up to `per_category` samples per
    positive category, rarest categories first, no sample twice."""
    chosen: set[int] = set()
    for column in np.argsort(labels.sum(axis=0)):
        candidates = [i for i in rng.permutation(np.flatnonzero(labels[:, column])) if i not in chosen]
        chosen.update(int(i) for i in candidates[:per_category])
    return np.array(sorted(chosen), dtype=np.int64)
