"""Error rates of the leaderboards' tests on simulated grids (report/simulation.py): per component
set, the false-positive rate of the paired t-test over runs, the Friedman test over runs, Holm's
family-wise rate (all pairs, and the † marks of a dataset column), the old block Wilcoxon for
comparison, and the printed MDD against the simulated 80 %-power difference. Prints markdown.

    python scripts/error_rates.py [--grids 2000] [--leaderboards leaderboards]

The published components are read from `<leaderboards>/variance-components.csv` when it exists,
else derived from the cell moments of `<task>.csv` (as tests/test_error_rates.py does)."""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from test_error_rates import STRATEGIES, published_components  # noqa: E402
from vlpbench.report.run_tests import pair_indices  # noqa: E402
from vlpbench.report.simulation import error_rates, simulate_grids, simulated_mdd  # noqa: E402
from vlpbench.report.statistics import holm_adjust  # noqa: E402
from vlpbench.report.variance_components import VarianceComponents  # noqa: E402


def block_wilcoxon(grids: np.ndarray) -> float:
    """The old test: Wilcoxon over (dataset, seed) blocks as if independent."""
    first, second = pair_indices(grids.shape[1])
    a = np.moveaxis(grids[:, first], 1, -1).reshape(len(grids), -1, len(first))
    b = np.moveaxis(grids[:, second], 1, -1).reshape(len(grids), -1, len(first))
    return float((stats.wilcoxon(a, b, axis=1, zero_method="zsplit").pvalue < 0.05).mean())


def best_versus_rest(grids: np.ndarray) -> float:
    """The old † marks: the best row of a dataset column (picked from the same data) against each
    other row, Holm over those comparisons only; the family-wise rate, largest over the columns."""
    rates = []
    for d in range(grids.shape[2]):
        x = grids[:, :, d, :]  # (grids, strategies, runs)
        best = x.mean(axis=-1).argmax(axis=1)
        p = stats.ttest_rel(x[np.arange(len(x)), best][:, None, :], x, axis=-1).pvalue
        p[np.arange(len(x)), best] = np.nan
        rates.append(float((holm_adjust(p) < 0.05).any(axis=1).mean()))
    return max(rates)


def row(name: str, c: VarianceComponents, grids: int) -> str:
    effects = np.zeros(STRATEGIES)
    sample = simulate_grids(c, effects, grids=grids, seed=11)
    rates = error_rates(sample, effects)
    flat = VarianceComponents(c.run, c.cell, 0.0, c.downstream, c.datasets, c.runs, STRATEGIES)
    flat_grids = simulate_grids(flat, effects, grids=grids, seed=12)
    columns = error_rates(flat_grids, effects).column_family
    old_marks = best_versus_rest(flat_grids)
    mdd, simulated = c.mdd(), simulated_mdd(c, grids=grids)
    return (f"| {name} | {c.correlation:.2f} | {rates.pairwise.mean():.3f} | {rates.friedman:.3f} | {rates.family:.3f} | "
            f"{columns:.3f} | {old_marks:.3f} | {block_wilcoxon(sample):.3f} | {mdd:.2f} | {simulated:.2f} ({100 * (mdd / simulated - 1):+.0f} %) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=2000)
    args = parser.parse_args()
    print("# Error rates of the leaderboards' tests (simulated)\n")
    print("Regenerate: `python scripts/error_rates.py > leaderboards/error-rates.md`. Each row: synthetic grids drawn "
          "from a variance-components model (report/simulation.py) with no true difference, tested by the functions "
          "the leaderboards print (report/run_tests.py). The published rows take their components from the cell "
          "moments of the published tables. Unit of every test: the pretraining run; the old block Wilcoxon counts "
          "(dataset, seed) blocks as units, and the old † marks compared only the best row of a column (picked from "
          "the same data) with the others; both are shown for comparison only.\n")
    print(f"Simulated grids: {args.grids} per row; {STRATEGIES} strategies × datasets × 5 runs; α = 0.05.\n")
    print("| components | cross-dataset correlation | paired t over runs | Friedman over runs | Holm FWER (all pairs) | "
          "Holm FWER († of a column) | old † (best vs rest, Holm) | old block Wilcoxon | printed MDD | simulated 80 %-power Δ |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rho, share in itertools.product((0.0, 0.25, 0.5, 1.0), (0.0, 0.5, 1.0)):
        print(row(f"ρ {rho}, pretraining {share:.0%}", VarianceComponents.from_shares(1.5**2, share, rho, interaction=1.0),
                  args.grids))
    for task, metric in (("linear-probe", "auc"), ("finetune", "auc"), ("ood-zsc", "auc"), ("seg", "dsc")):
        print(row(f"published {task}", published_components(task, metric), args.grids))


if __name__ == "__main__":
    main()
