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

from vlpbench.report.variance_components import ALPHA, POWER, VarianceComponents


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


def downstream_cell_variance(main: pd.DataFrame, replicates: pd.DataFrame, metric: str) -> float:
    """σ²_down of one (dataset, run) cell, pooled over cells: the variance of the extra downstream
    draws on one pretraining run (with that run's own record), or, for a deterministic task, the
    mean bootstrap variance over the test set; NaN when neither was measured."""
    if not replicates.empty:
        both = pd.concat([main, replicates])
        ok = both[(both["status"] == "ok") & (both["fraction"] == 1.0)]
        ok = ok[ok["pretrain_seed"].notna()]
        ok = ok[ok["pretrain_seed"] == ok.groupby("strategy")["pretrain_seed"].transform("min")]
        values = ok.assign(value=[average_metric(m, metric) for m in ok["metrics"]])
        per_cell = values.groupby(["strategy", "dataset"])["value"].var(ddof=1).dropna()
        if len(per_cell):
            return float(per_cell.mean())
    ok = main[(main["status"] == "ok") & (main["fraction"] == 1.0)]
    variances = [np.var(np.asarray(b[metric], dtype=float), ddof=1) for b in ok["bootstrap"] if metric in b and len(b[metric]) > 1]
    return float(np.mean(variances)) if variances else np.nan


def component_row(task: str, metric: str, components: VarianceComponents, pairs: int) -> dict:
    """One row of `variance-components.csv`: a table's fitted components (SDs) and its MDDs."""
    c = components
    return {"task": task, "metric": metric, "strategies": c.strategies, "datasets": c.datasets, "runs": c.runs,
            "sd_pretraining_shared": np.sqrt(c.run), "sd_private": np.sqrt(c.cell), "sd_downstream": np.sqrt(c.downstream),
            "sd_pretraining": np.sqrt(c.pretraining), "shared_fraction": c.shared, "sd_interaction": np.sqrt(c.interaction),
            "correlation": c.correlation, "sd_difference": c.sd_difference, "pairs": pairs, "mdd": c.mdd(),
            "mdd_holm": c.mdd(alpha=ALPHA / max(pairs, 1))}


def component_lines(components: VarianceComponents | None, metric_label: str, pairs: int, delta: float = 1.0) -> list[str]:
    """Footer: the fitted variance components of the table and the minimum detectable difference
    they imply (unit: the pretraining run)."""
    if components is None:
        return []
    c = components
    total = c.run + c.cell + c.interaction
    share = (lambda v: f"{100 * v / total:.0f} %") if total > 0 else (lambda v: "–")
    rows = [("pretraining, shared by the datasets of a run", c.run)]
    if np.isfinite(c.downstream):
        rows += [("pretraining, private to a dataset", max(0.0, c.cell - c.downstream)), ("downstream draw", min(c.cell, c.downstream))]
    else:
        rows += [("pretraining + downstream, private to a dataset (downstream not measured)", c.cell)]
    rows += [("strategy × dataset", c.interaction)]
    lines = ["", f"Variance components of {metric_label} (fitted from this table's records: {c.strategies} strategies × "
                 f"{c.datasets} dataset(s) × {c.runs} run(s); method of moments, `report/variance_components.py`):", "",
             "| component | SD (points) | share |", "|---|---|---|"]
    lines += [f"| {name} | {np.sqrt(v):.2f} | {share(v)} |" for name, v in rows]
    mdd, holm_mdd = c.mdd(), c.mdd(alpha=ALPHA / max(pairs, 1))
    lines += ["", f"- correlation across datasets of a run's deviations: {c.correlation:.2f}; SD of a run-level paired "
                  f"difference: {c.sd_difference:.2f}"]
    if not c.sd_difference > 0:
        lines.append("- minimum detectable difference: n/a (the runs of every strategy move together: no spread to test against)")
    elif np.isfinite(mdd):
        lines.append(f"- **minimum detectable difference: {mdd:.2f} points** of the dataset-averaged {metric_label} for one "
                     f"comparison planned in advance (paired t-test over {c.runs} runs, α = {ALPHA}, power {POWER:.0%}); "
                     f"at most {holm_mdd:.2f} points for a pair under Holm over this table's {pairs} pair(s); "
                     f"{c.runs_needed(delta)} runs per strategy would detect {delta:g} point(s). Smaller differences: can't tell.")
    return lines


def variance_lines(main: pd.DataFrame, replicates: pd.DataFrame, metric: str, order: list[str] | None = None) -> list[str]:
    """Footer: the variance split per strategy (rows in `order`), descriptive."""
    split = variance_split(main, replicates, metric)
    if order and not split.empty:
        found = set(split["strategy"])
        split = split.set_index("strategy").reindex([s for s in order if s in found]).reset_index()
    if split.empty:
        return []
    lines = ["", f"Variance of the dataset-averaged {metric.upper() if metric != 'map' else 'mAP'} per strategy (fraction 1; "
                 "descriptive):", "",
             "| strategy | runs | SD total | SD downstream | pretraining share | downstream part from |",
             "|---|---|---|---|---|---|"]
    for r in split.itertuples(index=False):
        share = "–" if pd.isna(r.pretraining_share) else f"{100 * r.pretraining_share:.0f} %"
        down = "–" if pd.isna(r.sd_downstream) else f"{r.sd_downstream:.2f}"
        lines.append(f"| {r.strategy} | {r.seeds} | {r.sd_total:.2f} | {down} | {share} | {r.downstream_source} |")
    return lines
