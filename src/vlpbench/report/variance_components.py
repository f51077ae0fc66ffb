"""A variance-components model of one table, fitted from its records, and what it implies for the
smallest difference the table's tests can detect.

Model of the primary metric of strategy s on dataset d in pretraining run (seed) k:

    y[s, d, k] = μ_s + δ_d + γ_sd + u_sk + w_skd + e_skd (+ z_dk)

- δ_d: dataset offsets (fixed); γ_sd: strategy × dataset interaction, variance σ²_γ;
- u_sk: the pretraining run's effect shared by every dataset of the run, variance ρ·σ²_pre;
- w_skd: the rest of the pretraining run's effect, private to a dataset, variance (1 − ρ)·σ²_pre;
- e_skd: the downstream draw (split, head, data order), variance σ²_down;
- z_dk: the part of seed k's downstream draw every strategy shares (the same split); it cancels
  in every paired test and is removed before fitting.

Fitted by the method of moments (two-way ANOVA without replication per strategy, pooled):
the run mean square gives D·σ²_run + σ²_cell, the residual σ²_cell, where σ²_run = ρσ²_pre and
σ²_cell = (1 − ρ)σ²_pre + σ²_down; the double-centred cell means give σ²_γ + σ²_cell / K. The
downstream part comes from extra downstream draws on one pretraining run (or the bootstrap over
the test set of a deterministic task); without it only σ²_run and σ²_cell are known.

The run-level paired difference of two strategies has variance 2·(σ²_run + σ²_cell / D), the
quantity every printed test works against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.power import TTestPower

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class VarianceComponents:
    """Variances in metric points²; `downstream` NaN when not measured."""

    run: float  # σ²_run = ρ·σ²_pre, shared by the datasets of a run
    cell: float  # σ²_cell = (1 − ρ)·σ²_pre + σ²_down, private to a (run, dataset) cell
    interaction: float  # σ²_γ, strategy × dataset
    downstream: float  # σ²_down
    datasets: int
    runs: int
    strategies: int

    @classmethod
    def from_shares(cls, total: float, pretraining_share: float, shared: float, interaction: float = 0.0,
                    datasets: int = 5, runs: int = 5, strategies: int = 10) -> VarianceComponents:
        """Components from a cell's total variance, the pretraining share π of it and the shared
        fraction ρ of the pretraining part (the parameters the simulation sweeps)."""
        pretraining = pretraining_share * total
        return cls(run=shared * pretraining, cell=(1 - shared) * pretraining + (1 - pretraining_share) * total,
                   interaction=interaction, downstream=(1 - pretraining_share) * total, datasets=datasets, runs=runs,
                   strategies=strategies)

    @property
    def pretraining(self) -> float:
        """σ²_pre = σ²_run + σ²_cell − σ²_down (NaN without the downstream part)."""
        return max(0.0, self.run + self.cell - self.downstream) if np.isfinite(self.downstream) else np.nan

    @property
    def shared(self) -> float:
        """ρ: the fraction of the pretraining variance a run's datasets share."""
        pre = self.pretraining
        return self.run / pre if np.isfinite(pre) and pre > 0 else np.nan

    @property
    def correlation(self) -> float:
        """Correlation across datasets of a run's deviations: σ²_run / (σ²_run + σ²_cell)."""
        total = self.run + self.cell
        return self.run / total if total > 0 else np.nan

    @property
    def sd_difference(self) -> float:
        """SD of a run-level (dataset-averaged) paired difference between two strategies."""
        return math.sqrt(2 * (self.run + self.cell / max(self.datasets, 1)))

    def mdd(self, runs: int | None = None, alpha: float = ALPHA, power: float = POWER) -> float:
        """Smallest true difference of the dataset-averaged metric that the two-sided paired t-test
        over `runs` runs (default: the grid's) detects with `power` (statsmodels' power solver)."""
        n = self.runs if runs is None else runs
        if n < 2 or not self.sd_difference > 0:
            return np.nan
        effect = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power, alternative="two-sided")
        return float(effect * self.sd_difference)

    def runs_needed(self, delta: float, alpha: float = ALPHA, power: float = POWER, most: int = 10_000) -> int:
        """Fewest pretraining runs per strategy (≥ 2, ≤ `most`) for the paired t-test to detect `delta`
        with `power` (statsmodels' power function; a doubling then bisection search over n)."""
        effect = min(abs(delta) / self.sd_difference, 1e6) if self.sd_difference > 0 else 1e6

        def enough(n: int) -> bool:
            return float(TTestPower().power(effect_size=effect, nobs=n, alpha=alpha)) >= power

        low, high = 1, 2
        while not enough(high) and high < most:
            low, high = high, min(2 * high, most)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if enough(middle) else (middle, high)
        return max(2, high)


def value_cube(values: pd.DataFrame, order: list[str]) -> tuple[np.ndarray, list[str], list[str], list[int]]:
    """(strategies × datasets × runs) array of a long (strategy, dataset, seed, value) frame:
    the strategies of `order` present, the runs every one of them has on every dataset."""
    wide = values.pivot_table(index=["strategy", "dataset"], columns="seed", values="value", aggfunc="mean")
    names = [s for s in order if s in set(values["strategy"])]
    datasets = sorted(values["dataset"].unique())
    wide = wide.reindex(pd.MultiIndex.from_product([names, datasets], names=["strategy", "dataset"]))
    wide = wide.dropna(axis=1)
    cube = wide.to_numpy(dtype=float).reshape(len(names), len(datasets), wide.shape[1])
    return cube, names, datasets, [int(k) for k in wide.columns]


def fit_components(cube: np.ndarray, downstream: float = np.nan) -> VarianceComponents | None:
    """Method-of-moments fit of a complete (strategies × datasets × runs) cube (see the module
    docstring); None with fewer than 2 strategies or 2 runs."""
    y = np.asarray(cube, dtype=float)
    s, d, k = y.shape
    if s < 2 or k < 2:
        return None
    shrink = s / (s - 1)  # removing the seed × dataset mean over strategies scales the rest by (S − 1)/S
    centred = y - y.mean(axis=0, keepdims=True)
    run_means = centred.mean(axis=1)  # (s, k)
    ms_run = d * run_means.var(axis=1, ddof=1)
    if d >= 2:
        residual = centred - centred.mean(axis=2, keepdims=True) - run_means[:, None, :] + centred.mean(axis=(1, 2))[:, None, None]
        ms_res = (residual**2).sum(axis=(1, 2)) / ((d - 1) * (k - 1))
        cell, run = shrink * ms_res.mean(), shrink * max(0.0, float(((ms_run - ms_res) / d).mean()))
    else:
        cell, run = shrink * ms_run.mean(), 0.0
    interaction = 0.0
    if d >= 2:
        m = y.mean(axis=2)
        m = m - m.mean(axis=0, keepdims=True) - m.mean(axis=1, keepdims=True) + m.mean()
        interaction = max(0.0, float((m**2).sum() / ((s - 1) * (d - 1)) - cell / k))
    return VarianceComponents(run=float(run), cell=float(cell), interaction=interaction, downstream=float(downstream),
                              datasets=d, runs=k, strategies=s)
