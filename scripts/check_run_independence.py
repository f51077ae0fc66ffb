"""Are the pretraining runs independent replicates? A lag test of the run effects over run seeds.

Every paired test of the leaderboards takes the pretraining run as its unit and assumes the runs are
independent. One way they could fail to be: pretraining reshuffles its data with torch's
`DistributedSampler(seed=k)`, which seeds epoch e with k + e, so run k's epoch e + 1 has the order
of run k + 1's epoch e (consecutive runs see the same batches, one epoch apart). If that made
neighbouring runs alike, the run effects (a strategy's dataset-averaged metric in run k, less its
mean over runs) would correlate at lag 1 more than at random.

For each task: the lag-1, 2 and 3 correlation of the run effects, pooled over the strategies that
pretrain (reference rows without training left out), and a one-sided permutation p-value of the
lag-1 correlation (run labels shuffled within each strategy, 4,000 times; the null mean is below 0
because each strategy's effects sum to zero). Five tasks are tested: read each p against 0.05 / 5
(Bonferroni) before calling neighbouring runs alike.

    python scripts/check_run_independence.py [--records leaderboards/records] [--runs N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vlpbench.report.records_frame import load_records

TASKS = {"linear-probe": "auc", "finetune": "auc", "ood-zsc": "auc", "seg": "dsc", "loc": "auc"}
PERMUTATIONS = 4000


def lag_correlation(effects: np.ndarray, lag: int) -> float:
    """Correlation of (strategy, run k) with (strategy, run k + lag) effects, pooled over strategies."""
    a, b = effects[:, :-lag].ravel(), effects[:, lag:].ravel()
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def run_effects(records, task: str, metric: str, runs: int) -> np.ndarray:
    """(strategies, runs) dataset-averaged metric per run, each strategy's mean over runs removed."""
    rows = records[(records["task"] == task) & (records["fraction"] == 1.0) & (records["pretrain_seed"] < runs)
                   & (records["pretrain_wall_time_s"].fillna(0) > 0)]  # strategies that pretrain
    values = rows.assign(value=rows["metrics"].map(lambda m: m.get(metric)))
    table = values.groupby(["strategy", "pretrain_seed"])["value"].mean().unstack().dropna()
    values = table.to_numpy()
    return values - values.mean(axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=Path("leaderboards/records"))
    parser.add_argument("--runs", type=int, default=0, help="use runs 0 … N−1 (0: every run the grid has)")
    args = parser.parse_args()
    everything = load_records(args.records)
    records = everything[~everything["replicate"] & (everything["status"] == "ok")]
    runs = args.runs or int(records["pretrain_seed"].max()) + 1
    rng = np.random.default_rng(0)
    print("| task | strategies × runs | lag 1 | permutation null (mean) | one-sided p | lag 2 | lag 3 |")
    print("|---|---|---|---|---|---|---|")
    for task, metric in TASKS.items():
        effects = run_effects(records, task, metric, runs)
        if effects.shape[1] < 4:
            continue
        observed = lag_correlation(effects, 1)
        null = np.array([lag_correlation(np.array([rng.permutation(row) for row in effects]), 1) for _ in range(PERMUTATIONS)])
        p = (np.sum(null >= observed) + 1) / (PERMUTATIONS + 1)
        print(f"| {task} | {effects.shape[0]} × {effects.shape[1]} | {observed:+.3f} | {null.mean():+.3f} | {p:.3f} | "
              f"{lag_correlation(effects, 2):+.3f} | {lag_correlation(effects, 3):+.3f} |")


if __name__ == "__main__":
    main()
