"""Which variance a table's tests cover, how it splits into pretraining and downstream parts,
and the smallest difference the table's paired tests could detect.

Seed k of a grid evaluates pretraining run k with downstream draw k, so the spread across seeds
is the variance a rerun of the whole pipeline produces. Its downstream part is measured on extra
draws on the first pretraining run (`eval.downstream_replicates`); the pretraining part is the
rest (total − downstream, floored at 0). For a deterministic task (zero-shot) the within-run part
is the test-set sampling variance from the bootstrap replicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.power import TTestPower

ALPHA = 0.05
POWER = 0.8


def average_metric(metrics: dict[str, float], metric: str) -> float:
    return float(metrics.get(metric, np.nan))


def covered_variance(main: pd.DataFrame) -> str:
    """Header line: which randomness the seeds (and hence the paired tests) cover."""
    if main.empty or "pretrain_seed" not in main or main["pretrain_seed"].isna().any():
        return "- variance covered by the tests: unknown (records without `pretrain_seed`)"
    runs = main.groupby("strategy")["pretrain_seed"].nunique()
    seeds = main.groupby("strategy")["seed"].nunique()
    if runs.min() > 1 and (runs == seeds).all():
        count = f"{runs.min()}" if runs.min() == runs.max() else f"{runs.min()}–{runs.max()}"
        return (f"- variance covered by the tests: pretraining *and* downstream — seed k is pretraining run k with "
                f"downstream draw k ({count} pretraining runs per strategy)")
    if runs.max() == 1:
        return ("- variance covered by the tests: downstream only (one pretraining run per strategy); a rerun of "
                "pretraining can move the numbers by more than the tests allow for")
    return f"- variance covered by the tests: pretraining runs per strategy {runs.min()}–{runs.max()}, seeds {seeds.min()}–{seeds.max()}"


def dataset_average(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (strategy, seed, pretrain_seed): the metric averaged over datasets (fraction 1 only)."""
    ok = frame[(frame["status"] == "ok") & (frame["fraction"] == 1.0)]
    columns = (ok[c].tolist() for c in ("strategy", "seed", "pretrain_seed", "dataset", "metrics"))
    rows = [(*keys, average_metric(metrics, metric)) for *keys, metrics in zip(*columns)]
    long = pd.DataFrame(rows, columns=["strategy", "seed", "pretrain_seed", "dataset", "value"])
    if long.empty:
        return long
    datasets = long["dataset"].nunique()
    grouped = long.groupby(["strategy", "seed", "pretrain_seed"])["value"]
    return grouped.mean()[grouped.count() == datasets].reset_index()


def variance_split(main: pd.DataFrame, replicates: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per strategy, on the dataset-averaged metric: total SD across seeds, downstream SD (the
    draws on the first pretraining run, or the bootstrap SD of a deterministic task), and the
    pretraining share of the variance."""
    total = dataset_average(main, metric)
    if total.empty:
        return pd.DataFrame()
    first_run = total.loc[total.groupby("strategy")["pretrain_seed"].transform("min") == total["pretrain_seed"]]
    downstream_draws = pd.concat([first_run, dataset_average(replicates, metric)]) if not replicates.empty else first_run
    draws_of = {strategy: draws for strategy, draws in downstream_draws.groupby("strategy")["value"]}
    rows = []
    for strategy, part in total.groupby("strategy"):
        var_total = part["value"].var(ddof=1)
        draws = draws_of.get(strategy, pd.Series(dtype=float))
        if len(draws) >= 2:
            var_down, source = draws.var(ddof=1), f"{len(draws)} downstream draws on one pretraining run"
        else:
            var_down = _bootstrap_variance(main, strategy, metric)
            source = "bootstrap over the test set" if np.isfinite(var_down) else "not measured (no replicate draws, no bootstrap)"
        share = max(0.0, var_total - var_down) / var_total if var_total > 0 and np.isfinite(var_down) else np.nan
        rows.append({"strategy": strategy, "seeds": len(part), "sd_total": np.sqrt(var_total),
                     "sd_downstream": np.sqrt(var_down) if np.isfinite(var_down) else np.nan,
                     "pretraining_share": share, "downstream_source": source})
    return pd.DataFrame(rows)


def _bootstrap_variance(main: pd.DataFrame, strategy: str, metric: str) -> float:
    """Mean over runs of the variance of the dataset-averaged bootstrap replicates."""
    ok = main.loc[(main["strategy"] == strategy) & (main["status"] == "ok"), ["seed", "bootstrap"]]
    per_run = []
    for _, run in ok.groupby("seed")["bootstrap"]:
        arrays = [np.asarray(b[metric], dtype=float) for b in run if metric in b]
        if arrays and len(arrays) == len(run) and len({a.shape for a in arrays}) == 1:
            per_run.append(np.mean(arrays, axis=0).var(ddof=1))
    return float(np.mean(per_run)) if per_run else np.nan


def minimum_detectable_difference(sd_difference: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true mean difference a two-sided paired t-test over `n` seeds detects at `alpha`
    with `power`, given the SD of the paired differences (statsmodels' power solver)."""
    if n < 2 or not np.isfinite(sd_difference):
        return np.nan
    effect = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power, alternative="two-sided")
    return float(effect * sd_difference)


def paired_difference_sd(main: pd.DataFrame, metric: str) -> tuple[float, int]:
    """Median over strategy pairs of the SD of their per-seed differences on the dataset-averaged
    metric, and the number of common seeds; what the table's paired tests work against."""
    total = dataset_average(main, metric)
    if total.empty:
        return np.nan, 0
    wide = total.pivot_table(index="seed", columns="strategy", values="value").to_numpy()
    sds, ns = [], []
    for a, b in zip(*np.triu_indices(wide.shape[1], k=1)):
        diff = wide[:, a] - wide[:, b]
        diff = diff[~np.isnan(diff)]
        if len(diff) >= 2:
            sds.append(np.std(diff, ddof=1))
            ns.append(len(diff))
    return (float(np.median(sds)), int(np.median(ns))) if sds else (np.nan, 0)


def variance_lines(main: pd.DataFrame, replicates: pd.DataFrame, metric: str, order: list[str] | None = None) -> list[str]:
    """Footer: the variance split per strategy (rows in `order`) and the table's minimum detectable difference."""
    split = variance_split(main, replicates, metric)
    if order and not split.empty:
        found = set(split["strategy"])
        split = split.set_index("strategy").reindex([s for s in order if s in found]).reset_index()
    sd_diff, n = paired_difference_sd(main, metric)
    mdd = minimum_detectable_difference(sd_diff, n)
    if split.empty:
        return []
    lines = ["", f"Variance of the dataset-averaged {metric.upper() if metric != 'map' else 'mAP'} (fraction 1):", "",
             "| strategy | seeds | SD total | SD downstream | pretraining share | downstream part from |",
             "|---|---|---|---|---|---|"]
    for r in split.itertuples(index=False):
        share = "–" if pd.isna(r.pretraining_share) else f"{100 * r.pretraining_share:.0f} %"
        down = "–" if pd.isna(r.sd_downstream) else f"{r.sd_downstream:.2f}"
        lines.append(f"| {r.strategy} | {r.seeds} | {r.sd_total:.2f} | {down} | {share} | {r.downstream_source} |")
    if np.isfinite(mdd):
        lines += ["", f"Minimum detectable difference: {mdd:.2f} points (paired t-test over {n} seeds, α = {ALPHA}, "
                      f"power {POWER:.0%}; median SD of paired seed differences {sd_diff:.2f})."]
    return lines
