"""Percentile bootstrap intervals (numpy only: the report layer uses them without the task stack)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(replicates: Sequence[float], alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval: the α/2 and 1 − α/2 quantiles of the finite replicates."""
    r = np.asarray(replicates, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(r, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)
