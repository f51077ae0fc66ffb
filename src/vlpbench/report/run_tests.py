"""The tests every leaderboard prints, with the pretraining run as the unit, vectorised over any
leading axes so that the simulation (`simulation.py`) runs the very functions the tables use.

A run-level array has shape (..., runs, strategies): the table's primary metric of pretraining
run k of each strategy, averaged over the table's datasets (a fixed set measured within the run).

- pairwise: two-sided paired t-test over runs for every pair (`scipy.stats.ttest_rel`);
- multiplicity: Holm's step-down over the pairs of one table (`statistics.holm_adjust`);
- omnibus: Friedman test with runs as blocks (`scipy.stats.friedmanchisquare`, tie-corrected χ²,
  Iman–Davenport F for the p-value);
- exact sign-flip permutation test of the paired run differences, where 2 / 2^n can reach α.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from scipy import stats

from vlpbench.report.statistics import paired_ttests

ALPHA = 0.05


def pair_indices(strategies: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) indices of every pair, in `itertools.combinations` order."""
    return np.triu_indices(strategies, k=1)


def paired_t_pvalues(runs: np.ndarray) -> np.ndarray:
    """Two-sided paired t-test over runs (axis −2) of every pair of strategies (axis −1):
    p-values of shape (..., pairs) (`statistics.paired_ttests`). A pair with every difference
    zero gets p = 1; fewer than 2 runs give NaN."""
    x = np.asarray(runs, dtype=float)
    first, second = pair_indices(x.shape[-1])
    return paired_ttests(np.swapaxes(x[..., first], -1, -2), np.swapaxes(x[..., second], -1, -2))


def friedman_runs(runs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Friedman test across strategies with pretraining runs as blocks, over the leading axes:
    (χ², Iman–Davenport F, p). χ² from `scipy.stats.friedmanchisquare` (tie-corrected); p from
    F = (n − 1)χ² / (n(k − 1) − χ²) on (k − 1, (k − 1)(n − 1)) degrees of freedom (Demšar 2006,
    eq. 2), which holds α with few blocks where the χ² approximation does not (0.03 at 5 runs in
    simulation). Needs ≥ 3 strategies and ≥ 2 runs (else NaN); all-tied blocks give NaN."""
    x = np.asarray(runs, dtype=float)
    shape = x.shape[:-2]
    n, k = x.shape[-2], x.shape[-1]
    if k < 3 or n < 2:
        return tuple(np.full(shape, np.nan) for _ in range(3))
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        chi2 = np.asarray(stats.friedmanchisquare(*np.moveaxis(x, -1, 0), axis=-1).statistic, dtype=float)
        f = (n - 1) * chi2 / (n * (k - 1) - chi2)
        p = stats.f.sf(f, k - 1, (k - 1) * (n - 1))
    p = np.where(chi2 >= n * (k - 1) - 1e-9, 0.0, p)  # perfect agreement of every run: F = ∞
    return chi2, np.where(np.isfinite(chi2), f, np.nan), np.where(np.isfinite(chi2), p, np.nan)


def smallest_sign_flip_p(runs: int) -> float:
    """The smallest two-sided p an exact sign-flip test over `runs` paired differences can give."""
    return min(1.0, 2.0 / 2**runs) if runs >= 1 else 1.0


def sign_flip_pvalues(differences: np.ndarray) -> np.ndarray:
    """Exact two-sided sign-flip permutation test of the mean of paired differences over the
    last axis (all 2^n sign patterns; `scipy.stats.permutation_test` with
    `permutation_type="samples"` gives the same p): p = share of patterns whose |mean| ≥ the
    observed |mean|. Over 16 runs raises (use the t-test)."""
    d = np.asarray(differences, dtype=float)
    n = d.shape[-1]
    if n > 16:
        raise ValueError(f"exact sign-flip test over {n} runs: 2^{n} patterns is too many")
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))  # (2^n, n)
    observed = np.abs(d.mean(axis=-1))
    flipped = np.abs(d @ signs.T / n)  # (..., 2^n)
    return np.mean(flipped >= observed[..., None] - 1e-12 * np.maximum(1.0, observed[..., None]), axis=-1)
