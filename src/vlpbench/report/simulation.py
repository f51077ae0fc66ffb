"""Synthetic grids drawn from a variance-components model, and the error rates of the printed
tests on them: the false-positive rate under the null and the power at planted differences.

A grid is an array (grids, strategies, datasets, runs) drawn from `VarianceComponents` (see
`variance_components.py`); `effects` plants a true difference per strategy (added on every
dataset). The strategy × dataset interaction is drawn per grid and centred per strategy, so a
strategy's dataset-averaged mean is exactly its planted effect: the null the tables test is
"equal means over this fixed set of datasets".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlpbench.core.data_seeding import data_rng
from vlpbench.report.run_tests import ALPHA, friedman_runs, pair_indices, paired_t_pvalues
from vlpbench.report.statistics import holm_adjust
from vlpbench.report.variance_components import VarianceComponents

SIMULATED_GRIDS = 2000


def simulate_grids(components: VarianceComponents, effects: np.ndarray, grids: int = SIMULATED_GRIDS,
                   runs: int | None = None, seed: int = 0) -> np.ndarray:
    """Draw `grids` synthetic grids (grids × strategies × datasets × runs) with the planted
    `effects` (one per strategy), the components' datasets and `runs` (default: the grid's)."""
    rng = data_rng(seed)
    s, d, k = len(effects), components.datasets, components.runs if runs is None else runs
    interaction = rng.normal(0.0, np.sqrt(components.interaction), size=(grids, s, d, 1))
    interaction -= interaction.mean(axis=2, keepdims=True)
    run = rng.normal(0.0, np.sqrt(components.run), size=(grids, s, 1, k))
    cell = rng.normal(0.0, np.sqrt(components.cell), size=(grids, s, d, k))
    return np.asarray(effects, dtype=float)[None, :, None, None] + interaction + run + cell


def run_level(grids: np.ndarray) -> np.ndarray:
    """(grids, runs, strategies): the dataset-averaged metric of each run, what the tests see."""
    return np.swapaxes(grids.mean(axis=2), 1, 2)


@dataclass(frozen=True)
class ErrorRates:
    """Rejection rates at `alpha` of the printed tests on simulated grids."""

    pairwise: np.ndarray  # per pair: share of grids whose raw paired t-test rejects
    holm: np.ndarray  # per pair: share of grids whose Holm-adjusted test rejects
    family: float  # share of grids with ≥ 1 Holm rejection among the null pairs
    column_family: float  # the same for the per-dataset columns' † marks (largest over datasets)
    friedman: float  # share of grids whose Friedman test (runs as blocks) rejects
    null_pairs: np.ndarray  # the pairs whose planted effects are equal


def error_rates(grids: np.ndarray, effects: np.ndarray, alpha: float = ALPHA) -> ErrorRates:
    """Rejection rates of every printed test on `grids` (from `simulate_grids` with `effects`)."""
    runs = run_level(grids)
    p = paired_t_pvalues(runs)
    adjusted = holm_adjust(p)
    first, second = pair_indices(len(effects))
    null = np.isclose(np.asarray(effects)[first], np.asarray(effects)[second])
    _, _, friedman_p = friedman_runs(runs)
    columns = holm_adjust(paired_t_pvalues(grids.transpose(0, 2, 3, 1)))  # (grids, datasets, pairs): one Holm family a column
    return ErrorRates(pairwise=(p < alpha).mean(axis=0), holm=(adjusted < alpha).mean(axis=0),
                      family=_any_rate(adjusted, null, alpha), column_family=max(_any_rate(columns[:, d], null, alpha)
                                                                                  for d in range(grids.shape[2])),
                      friedman=float((friedman_p < alpha).mean()), null_pairs=null)


def _any_rate(adjusted: np.ndarray, null: np.ndarray, alpha: float) -> float:
    """Share of grids (axis 0) with at least one rejection among the `null` pairs."""
    return float((adjusted[:, null] < alpha).any(axis=1).mean()) if null.any() else 0.0


def simulated_power(components: VarianceComponents, delta: float, strategies: int | None = None, runs: int | None = None,
                    grids: int = SIMULATED_GRIDS, seed: int = 0, alpha: float = ALPHA) -> tuple[float, float]:
    """Power to find one strategy `delta` points better than the others: (raw paired t-test of
    that pair, the same pair under Holm over all pairs of a table of `strategies`)."""
    s = strategies or components.strategies
    effects = np.zeros(s)
    effects[0] = delta
    rates = error_rates(simulate_grids(components, effects, grids, runs, seed), effects, alpha)
    return float(rates.pairwise[0]), float(rates.holm[0])


def simulated_mdd(components: VarianceComponents, runs: int | None = None, power: float = 0.8, grids: int = SIMULATED_GRIDS,
                  seed: int = 0) -> float:
    """The planted difference at which the raw paired t-test reaches `power` in simulation
    (linear interpolation on a grid of differences around the analytic MDD)."""
    guess = components.mdd(runs)
    deltas = guess * np.linspace(0.5, 1.5, 11)
    powers = np.array([simulated_power(components, float(x), strategies=2, runs=runs, grids=grids, seed=seed)[0]
                       for x in deltas])
    return float(np.interp(power, np.maximum.accumulate(powers), deltas))
