"""Significance tests and confidence intervals used by the leaderboards.

Seeds are paired across strategies (seed k fixes split, subset, head init and data order for
every strategy), so strategies are compared with a paired t-test across seeds; the
deterministic zero-shot task is compared with a paired bootstrap over the test set instead.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from vlpbench.tasks._intervals import bootstrap_ci

__all__ = ["bootstrap_ci", "holm", "paired_bootstrap_p", "paired_ttest", "paired_ttests"]


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the paired t-test of `a` against `b` (pairs matched by the caller).

    Identical samples (every difference zero) give p = 1.0 instead of scipy's NaN; fewer than
    two pairs give NaN (no test possible).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired_ttest needs two 1-D samples of equal length, got {x.shape} and {y.shape}")
    return float(paired_ttests(x[None], y[None])[0])


def paired_ttests(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise `paired_ttest` of two (k, n) arrays in one `scipy.stats.ttest_rel` call."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"paired_ttests needs two 2-D arrays of equal shape, got {x.shape} and {y.shape}")
    if x.shape[0] == 0 or x.shape[1] < 2:
        return np.full(x.shape[0], np.nan)
    with warnings.catch_warnings():  # constant non-zero differences: t = ±inf, p = 0 (scipy warns)
        warnings.simplefilter("ignore", RuntimeWarning)
        p = np.asarray(stats.ttest_rel(x, y, axis=1).pvalue, dtype=float)
    return np.where(np.all(x == y, axis=1), 1.0, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni step-down adjusted p-values, in the input order (`statsmodels`
    `multipletests(method="holm")`): with the m finite p-values sorted ascending,
    p̃_(i) = max_{j≤i} min(1, (m − j + 1)·p_(j)). NaN entries (tests that could not be run) stay
    NaN and do not count towards m.

    statsmodels runs `gc.collect()` inside every Holm call, a full scan of the heap (torch and
    transformers are loaded through the task plugins: 0.4 s a call, 39 s of a leaderboard build);
    the heap is frozen around the call so that scan covers only the call's own objects."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        gc.freeze()
        try:
            out[finite] = multipletests(p[finite], method="holm")[1]
        finally:
            gc.unfreeze()
    return out.tolist()


def paired_bootstrap_p(replicates_a: Sequence[float], replicates_b: Sequence[float]) -> float:
    """Two-sided p-value from paired bootstrap replicates (same resample indices for a and b).

    With d_r = a_r − b_r: p = min(1, 2·min(mean(d ≤ 0), mean(d ≥ 0))). Replicate pairs where
    either value is not finite are dropped; none left gives NaN.
    """
    a, b = np.asarray(replicates_a, dtype=float), np.asarray(replicates_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_bootstrap_p needs paired 1-D replicates, got {a.shape} and {b.shape}")
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    if len(d) == 0:
        return float("nan")
    return float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))))
