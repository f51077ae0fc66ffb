"""The terminal summary `bench run` prints, one table per task.

One row per dataset (per strategy and dataset where several strategies ran), each metric as
mean ± SD over seeds (seed k = pretraining run k with downstream draw k; the replicate draws of
the variance split are left out), then an Avg row: the mean over datasets per seed, then mean ±
SD over the seeds that have every dataset (the leaderboard's Avg). What is the same on every
row (the strategy, the label fraction, the seeds) is said once in the title instead of taking
a column. Per-seed columns come with `per_seed`, or when the whole table fits the width.
Per-lesion metrics (`dsc/hemorrhage`) are left to the leaderboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Group

from vlpbench.core.tables import TextTable, fit
from vlpbench.report.rank_statistics import METRIC_NAMES, metric_name

AVG = "Avg"
NOT_APPLICABLE = "n/a"
MISSING = "–"


def summary_tables(records: list[dict[str, Any]], width: int, per_seed: bool = False) -> list[Group]:
    """Rich tables of at most `width` characters summarising `records` (see the module doc)."""
    frame = _long(records)
    tables: list[Group] = []
    for task, part in frame.groupby("task", sort=True):
        compact = task_table(str(task), part, per_seed=False)
        wide = task_table(str(task), part, per_seed=True)
        tables += fit(wide if per_seed or wide.width() <= width else compact, width)
    return tables


def _long(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (record, metric) of the non-replicate records; a record without metrics (n/a,
    failed) is one row with metric None."""
    rows = [
        {"task": r["task"], "dataset": r["dataset"], "strategy": r["strategy"], "fraction": float(r["fraction"]),
         "seed": int(r["seed"]), "metric": metric, "value": value}
        for r in records if not r.get("replicate")
        for metric, value in ((r.get("metrics") or {}).items() if r["status"] == "ok" else [(None, np.nan)])
        if metric is None or "/" not in metric
    ]
    return pd.DataFrame(rows, columns=["task", "dataset", "strategy", "fraction", "seed", "metric", "value"])


def metric_key(metric: str) -> tuple[int, str]:
    """AUC, mAP, DSC, IoU first (the table order of the leaderboards), then by name."""
    order = list(METRIC_NAMES)
    return (order.index(metric) if metric in order else len(order), metric)


def _seed_range(seeds: Sequence[int]) -> str:
    if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


def _mean_sd(values: Sequence[float], expected: int) -> str:
    """`mean ± SD` (sample SD) of the finite values; `(k/K)` when fewer than `expected` seeds have one."""
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return MISSING
    text = f"{np.mean(finite):.2f}" + (f" ± {np.std(finite, ddof=1):.2f}" if len(finite) > 1 else "")
    return text + (f" ({len(finite)}/{expected})" if len(finite) < expected else "")


def task_table(task: str, part: pd.DataFrame, per_seed: bool) -> TextTable:
    """The summary of one task's long rows as a `TextTable`."""
    strategies = sorted(part["strategy"].unique())
    seeds = sorted(int(s) for s in part["seed"].unique())
    scored = part[part["metric"].notna()]
    fractions = sorted(scored["fraction"].unique()) or sorted(part["fraction"].unique())
    metrics = sorted(scored["metric"].unique(), key=metric_key)
    columns = [(f, m) for f in fractions for m in metrics]

    def label(fraction: float, metric: str) -> str:
        return metric_name(metric) + (f" {fraction * 100:g}%" if len(fractions) > 1 else "")

    values = [name for f, m in columns for name in ([f"{label(f, m)} s{s}" for s in seeds] if per_seed else []) + [label(f, m)]]
    groups = [label(f, m) for f, m in columns for _ in range((len(seeds) if per_seed else 0) + 1)]
    if not columns:  # every record is n/a (e.g. a strategy without a text tower on ood-zsc)
        values, groups = ["result"], ["result"]
    constants = ([f"strategy {strategies[0]}"] if len(strategies) == 1 else []) + \
        ([f"fraction {fractions[0]:g}"] if len(fractions) == 1 else []) + \
        [f"seed{'s' if len(seeds) > 1 else ''} {_seed_range(seeds)}"] + \
        (["metrics in %"] if all(m in METRIC_NAMES for m in metrics) else [])
    legend = "Cells: mean ± SD over seeds" + ("; sK: seed K" if per_seed else "") + \
        ". Avg: mean over datasets per seed, then mean ± SD over seeds."
    table = TextTable(title=" · ".join([task, *constants]),
                      keys=(["strategy"] if len(strategies) > 1 else []) + ["dataset"], values=values, caption=legend,
                      groups=groups)
    for strategy in strategies:
        rows = part[part["strategy"] == strategy]
        datasets = sorted(rows["dataset"].unique())
        by_cell = {key: dict(zip(group["seed"], group["value"]))
                   for key, group in rows[rows["metric"].notna()].groupby(["dataset", "fraction", "metric"])}
        key_cells = [strategy] if len(strategies) > 1 else []
        for number, dataset in enumerate(datasets):
            scored_here = any(key[0] == dataset for key in by_cell)
            cells = [cell for f, m in columns for cell in _cells(by_cell.get((dataset, f, m)), seeds, per_seed, scored_here)]
            cells = cells if columns else [NOT_APPLICABLE]
            table.add_row([*key_cells, dataset, *cells], rule=number == len(datasets) - 1)
        averages = [_seed_average(by_cell, f, m, seeds) for f, m in columns]
        if len(datasets) > 1 and any(a for a in averages):
            table.add_row([*key_cells, AVG, *(cell for a in averages for cell in _cells(a, seeds, per_seed, True))], rule=True)
    return table


def _cells(by_seed: dict[int, float] | None, seeds: list[int], per_seed: bool, scored: bool) -> list[str]:
    """The per-seed cells (if `per_seed`) and the mean ± SD cell of one column; n/a for a dataset
    the strategy does not apply to (no metrics at all), – for a metric it lacks."""
    if not scored:
        return [NOT_APPLICABLE] * ((len(seeds) if per_seed else 0) + 1)
    by_seed = by_seed or {}
    per = [f"{by_seed[s]:.2f}" if s in by_seed and np.isfinite(by_seed[s]) else MISSING for s in seeds] if per_seed else []
    return [*per, _mean_sd([by_seed[s] for s in seeds if s in by_seed], len(seeds))]


def _seed_average(by_cell: dict[tuple, dict[int, float]], fraction: float, metric: str, seeds: list[int]) -> dict[int, float]:
    """Per seed, the mean over every dataset that has this column; a seed missing any of them has none."""
    columns = [values for (_, f, m), values in by_cell.items() if (f, m) == (fraction, metric)]
    if len(columns) < 2:
        return {}
    return {s: float(np.mean([c[s] for c in columns])) for s in seeds if all(s in c for c in columns)}
