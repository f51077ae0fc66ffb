"""The terminal summary `bench leaderboard` prints: per task one row per strategy with its
dataset-averaged metrics (mean ± SD over seeds), read back from the `<task>.csv` just written, so
the terminal shows the numbers of the published table and nothing computed a second way.

Columns are the Avg columns of the task's table (a task with one dataset: that dataset's);
per-lesion metrics, per-dataset cells, Δ and the statistics stay in `<task>.md`. What every row
shares (the fraction, the number of seeds) is said once in the title.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Group

from vlpbench.core.tables import TextTable, fit
from vlpbench.report.rank_statistics import METRIC_NAMES, metric_name
from vlpbench.report.summary import metric_key

AVG = "Avg"
#: the columns of a task table's CSV this summary reads
COLUMNS = ("task", "strategy", "label", "dataset", "fraction", "metric", "status", "n", "mean", "std", "lo", "hi")


def leaderboard_tables(csv_paths: list[Path], width: int) -> list[Group]:
    """Rich tables of at most `width` characters, one per task table CSV in `csv_paths` (files
    without the task table's columns, such as `ablation.csv`, are skipped)."""
    out: list[Group] = []
    for path in csv_paths:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])  # "n/a" is a status, not a missing value
        if set(COLUMNS) <= set(frame.columns) and frame["task"].nunique() == 1 and not frame.empty:
            out += fit(board_table(frame, path), width)
    return out


def board_table(frame: pd.DataFrame, path: Path) -> TextTable:
    """One task's CSV as a `TextTable`: a row per strategy, a column per (fraction, metric)."""
    frame = frame[~frame["metric"].astype(str).str.contains("/")]
    columns = _columns(frame)
    fractions = sorted({f for _, f, _ in columns})
    ok = frame[frame["status"] == "ok"]
    seeds = sorted(int(n) for n in ok["n"].unique())
    averaged = sorted(frame.loc[frame["dataset"] != AVG, "dataset"].unique()) if any(d == AVG for d, _, _ in columns) else []

    def header(dataset: str, fraction: float, metric: str) -> str:
        parts = [] if dataset == AVG or len({d for d, _, _ in columns}) == 1 else [dataset]
        return " ".join([*parts, metric_name(metric), *([f"{fraction * 100:g}%"] if len(fractions) > 1 else [])])

    task = str(frame["task"].iloc[0])
    described = ([f"Avg over {len(averaged)} datasets"] if averaged else [f"dataset {columns[0][0]}"] if columns else []) + \
        ([f"fraction {fractions[0]:g}"] if len(fractions) == 1 else []) + \
        ([f"{seeds[0]} seed{'s' if seeds[0] > 1 else ''}"] if len(seeds) == 1 else []) + \
        (["metrics in %"] if all(m in METRIC_NAMES for _, _, m in columns) else [])
    table = TextTable(title=" · ".join([task, *described]), keys=["strategy"], values=[header(*c) for c in columns],
                      caption=f"Cells: mean ± SD over seeds. The whole table: {path.with_suffix('.md')}")
    cells = frame.set_index(["label", "dataset", "fraction", "metric"])
    most = max(seeds, default=0)
    for label in frame["label"].drop_duplicates():
        table.add_row([str(label), *(_cell(cells, (label, *c), most) for c in columns)])
    return table


def _columns(frame: pd.DataFrame) -> list[tuple[str, float, str]]:
    """(dataset, fraction, metric): the Avg column of each (fraction, metric) that has one, else
    each dataset's, in the CSV's order."""
    keys = frame[["dataset", "fraction", "metric"]].drop_duplicates()
    with_avg = set(map(tuple, keys.loc[keys["dataset"] == AVG, ["fraction", "metric"]].itertuples(index=False)))
    return sorted(((str(d), float(f), str(m)) for d, f, m in keys.itertuples(index=False) if d == AVG or (f, m) not in with_avg),
                  key=lambda c: (c[1], c[0] != AVG, c[0], metric_key(c[2])))


def _cell(cells: pd.DataFrame, key: tuple, most: int) -> str:
    """`mean ± SD` (one seed: `mean [lo, hi]`, the bootstrap CI when there is one), `(k/K seeds)`
    for fewer seeds than the table's most; n/a; – for no record."""
    if key not in cells.index:
        return "–"
    row = cells.loc[key]
    if row["status"] != "ok" or not np.isfinite(row["mean"]):
        return "n/a" if row["status"] == "n/a" else "–"
    n = int(row["n"])
    if n > 1:
        text = f"{row['mean']:.2f} ± {row['std']:.2f}"
    elif np.isfinite(row["lo"]) and np.isfinite(row["hi"]):
        text = f"{row['mean']:.2f} [{row['lo']:.2f}, {row['hi']:.2f}]"
    else:
        text = f"{row['mean']:.2f}"
    return text + (f" ({n}/{most})" if n < most else "")
