"""Significance tests and confidence intervals used by the leaderboards.

Seeds are paired across strategies (seed k fixes split, subset, head init and data order for
every strategy), so strategies are compared with a paired t-test across seeds; the
deterministic zero-shot task is compared with a paired bootstrap over the test set instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

from vlpbench.tasks._intervals import bootstrap_ci

__all__ = ["bootstrap_ci", "holm", "holm_adjust", "paired_bootstrap_p", "paired_ttest", "paired_ttests"]


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
    """`paired_ttest` along the last axis of two arrays of equal shape (≥ 2-D: one test per
    leading index) in one `scipy.stats.ttest_rel` call; fewer than two pairs give NaN."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim < 2:
        raise ValueError(f"paired_ttests needs two arrays of equal shape with ≥ 2 axes, got {x.shape} and {y.shape}")
    if x.size == 0 or x.shape[-1] < 2:
        return np.full(x.shape[:-1], np.nan)
    with warnings.catch_warnings():  # constant non-zero differences: t = ±inf, p = 0 (scipy warns)
        warnings.simplefilter("ignore", RuntimeWarning)
        p = np.asarray(stats.ttest_rel(x, y, axis=-1).pvalue, dtype=float)
    return np.where(np.all(x == y, axis=-1), 1.0, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """`holm_adjust` of one list of p-values, in the input order."""
    return holm_adjust(np.asarray(pvalues, dtype=float)).tolist()


def holm_adjust(pvalues: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values along the last axis, in the input order: with the
    m finite p-values sorted ascending, p̃_(i) = max_{j≤i} min(1, (m − j + 1)·p_(j)) (the formula of
    statsmodels' `multipletests(method="holm")`, vectorised over the leading axes for the
    simulations; tests check the two agree). NaN entries (tests that could not be run) stay NaN
    and do not count towards m."""
    p = np.asarray(pvalues, dtype=float)
    finite = np.isfinite(p)
    m = finite.sum(axis=-1, keepdims=True)
    ranked_input = np.where(finite, p, np.inf)
    order = np.argsort(ranked_input, axis=-1, kind="stable")
    ranked = np.take_along_axis(ranked_input, order, axis=-1)
    factor = m - np.arange(p.shape[-1])
    with np.errstate(invalid="ignore"):
        adjusted = np.minimum(1.0, np.maximum.accumulate(np.where(np.isfinite(ranked), ranked * factor, np.nan), axis=-1))
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return np.where(finite, out, np.nan)


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
