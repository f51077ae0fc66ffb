"""The terminal summary `bench run` prints: per-seed metrics and mean ± std, as rich tables
(seed k = pretraining run k with downstream draw k; replicate draws for the variance split are left out)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table


def summary_tables(records: list[dict[str, Any]]) -> list[Table]:
    rows = [
        {"task": r["task"], "dataset": r["dataset"], "strategy": r["strategy"], "fraction": r["fraction"],
         "seed": r["seed"], "metric": metric, "value": value, "status": r["status"]}
        for r in records if not r.get("replicate")  # variance-split draws are not table cells
        for metric, value in (r["metrics"].items() if r["status"] == "ok" else [("-", float("nan"))])
        if metric == "-" or "/" not in metric
    ]
    if not rows:
        return []
    frame = pd.DataFrame(rows)
    tables = []
    for task, part in frame.groupby("task", sort=True):
        seeds = sorted(part["seed"].unique())
        table = Table(title=f"{task} (metrics in %)", title_justify="left")
        for column in ("dataset", "strategy", "fraction", "metric", *[f"seed {s}" for s in seeds], "mean ± std"):
            table.add_column(column, justify="right" if column.startswith(("seed", "mean", "fraction")) else "left")
        for (dataset, strategy, fraction, metric), group in part.groupby(["dataset", "strategy", "fraction", "metric"], sort=True):
            if metric == "-":
                table.add_row(dataset, strategy, f"{fraction:g}", "n/a", *["n/a"] * len(seeds), "n/a")
                continue
            by_seed = dict(zip(group["seed"], group["value"]))
            values = group["value"]
            spread = f" ± {values.std(ddof=1):.2f}" if len(values) > 1 else ""
            table.add_row(dataset, strategy, f"{fraction:g}", metric,
                          *[f"{by_seed[s]:.2f}" if s in by_seed else "" for s in seeds], f"{values.mean():.2f}{spread}")
        tables.append(table)
    return tables
