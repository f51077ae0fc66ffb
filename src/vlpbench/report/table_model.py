"""The table model of a leaderboard: the columns of a task's table (datasets × fractions × metrics,
then Avg), the statistics of every (strategy, column) cell over seeds (mean, SD, best row, the
significance marks: a paired t-test over pretraining runs, Holm over every pair of rows of a column),
the plugins' display order and labels, and each strategy's pretraining cost."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vlpbench.core.records import KEY as RECORD_KEY
from vlpbench.core.registry import STRATEGIES, TASKS, PluginInfo, Registry
from vlpbench.report.rank_statistics import pair_row
from vlpbench.report.statistics import bootstrap_ci, holm, paired_bootstrap_p, paired_ttests

KEY = list(RECORD_KEY)
ALPHA = 0.05
MARK = "†"
AVG = "Avg"
CORRECTIONS = ("none", "holm")
METRIC_ORDER = ("auc", "map", "dsc", "iou")
METRIC_NAMES = {"auc": "AUC", "map": "mAP", "dsc": "DSC", "iou": "IoU"}
FLOOR_TAG, REFERENCE_TAG = "floor", "reference"  # random-init is the floor; reference rows are not flagged
FLOOR_MARK = "▽"
ZERO_SHOT_TAG = "zero-shot"  # a zero-shot table states its rows' text-only diagnostic beside it
DESCRIPTIVE_TAG = "descriptive"  # tasks whose table describes (mean, std) without ranking the rows
ABLATION_TAG = "ablation"  # rows of an ablation table: tags "ablation:<family>", components "ablation:<family>:<X>"


@dataclass(frozen=True)
class Column:
    """One table column: a dataset (or `AVG`), a label fraction and a metric."""

    dataset: str
    fraction: float
    metric: str


# ---------------------------------------------------------------- ordering and labels


def plugin_info(registry: Registry, name: str) -> PluginInfo:
    """A plugin's metadata; a name no installed plugin registers (an old record) gets defaults."""
    return registry.infos().get(name) or PluginInfo(order=10**6)


def strategy_key(name: str) -> tuple[int, str]:
    return (plugin_info(STRATEGIES, name).order, name)


def task_title(task: str) -> str:
    return plugin_info(TASKS, task).title or task


def ablation_families() -> list[str]:
    """Strategies whose metadata defines an ablation table, in display order."""
    return [name for name in STRATEGIES.display_order() if STRATEGIES.info(name).ablation_title]


def ablation_components(family: str, strategies: list[str]) -> dict[str, list[str]]:
    """Rows of `family`'s ablation among `strategies` → the components each has ("SA", "BE"), from their tags."""
    rows = [s for s in STRATEGIES.tagged(f"{ABLATION_TAG}:{family}") if s in strategies]
    prefix = f"{ABLATION_TAG}:{family}:"
    return {s: [tag[len(prefix):] for tag in plugin_info(STRATEGIES, s).tags if tag.startswith(prefix)] for s in rows}


def primary_metric(records: pd.DataFrame) -> str | None:
    """The first of `METRIC_ORDER` that a task's records report (None: no metric to rank by)."""
    return next((m for m in METRIC_ORDER if any(m in r for r in records["metrics"])), None)


def metric_key(metric: str) -> tuple:
    """auc, map, dsc, iou first; per-lesion metrics (`dsc/hemorrhage`) grouped by lesion, mean last."""
    base, _, sub = metric.partition("/")
    rank = METRIC_ORDER.index(base) if base in METRIC_ORDER else len(METRIC_ORDER)
    return (sub == "", sub, rank, base)


def metric_label(metric: str) -> str:
    base, _, sub = metric.partition("/")
    return " ".join([METRIC_NAMES.get(base, base)] + ([sub] if sub else []))


def column_label(col: Column, show_fraction: bool) -> str:
    parts = [col.dataset] + ([f"{col.fraction * 100:g}%"] if show_fraction else [])
    return " ".join(parts + [metric_label(col.metric)])


def metric_names(t: pd.DataFrame) -> list[str]:
    """The metrics of a task's records, in table order."""
    return sorted({m for ms in t["metrics"] for m in ms}, key=metric_key)


def num(x: float, fmt: str) -> str:
    return "–" if pd.isna(x) else format(x, fmt)


# ---------------------------------------------------------------- cells


def long_values(t: pd.DataFrame) -> pd.DataFrame:
    """One row per (strategy, dataset, fraction, seed, metric) of the `ok` records."""
    ok = t[t["status"] == "ok"]
    rows = [
        (r.strategy, r.dataset, r.fraction, r.seed, m, v)
        for r in ok.itertuples(index=False)
        for m, v in r.metrics.items()
    ]
    return pd.DataFrame(rows, columns=["strategy", "dataset", "fraction", "seed", "metric", "value"])


def table_columns(long: pd.DataFrame) -> list[Column]:
    """Datasets × fractions × metrics (sorted), then Avg per fraction × metric found in ≥ 2 datasets."""
    keys = long[["dataset", "fraction", "metric"]].drop_duplicates()
    cols = sorted((Column(*k) for k in keys.itertuples(index=False)),
                  key=lambda c: (c.dataset, c.fraction, metric_key(c.metric)))
    n_ds = keys.groupby(["fraction", "metric"])["dataset"].nunique()
    avg = sorted((Column(AVG, f, m) for (f, m), n in n_ds.items() if n >= 2),
                 key=lambda c: (c.fraction, metric_key(c.metric)))
    return cols + avg


def averaged(cols: list[Column], avg: Column) -> list[str]:
    """The datasets an Avg column averages: every dataset with the same fraction and metric."""
    return [c.dataset for c in cols if c.dataset != AVG and (c.fraction, c.metric) == (avg.fraction, avg.metric)]


def seed_values(long: pd.DataFrame, cols: list[Column]) -> dict[tuple[str, Column], np.ndarray]:
    """Per (strategy, column): values on the task's common seed axis (NaN = no record for that seed).

    Avg = per-seed mean over every dataset of the column's fraction and metric; a seed missing
    any dataset has no Avg.
    """
    if long.empty:
        return {}
    wide = long.set_index(["strategy", "dataset", "fraction", "metric", "seed"])["value"].unstack("seed")
    out = {(s, Column(d, f, m)): row for (s, d, f, m), row in zip(wide.index, wide.to_numpy())}
    strategies = sorted(long["strategy"].unique())
    for col in (c for c in cols if c.dataset == AVG):
        datasets = averaged(cols, col)
        for s in strategies:
            rows = [out.get((s, Column(d, col.fraction, col.metric))) for d in datasets]
            if all(r is not None for r in rows) and not np.isnan(avg := np.mean(rows, axis=0)).all():
                out[(s, col)] = avg
    return out


def replicates_of(t: pd.DataFrame, cols: list[Column]) -> tuple[dict, dict]:
    """Per (strategy, column): bootstrap replicates and the 95 % CI (Avg: dataset-averaged replicates)."""
    reps, cis = {}, {}
    for r in t[t["status"] == "ok"].itertuples(index=False):
        for m in r.metrics:
            key = (r.strategy, Column(r.dataset, r.fraction, m))
            if m in r.bootstrap:
                reps[key] = np.asarray(r.bootstrap[m], dtype=float)
            cis[key] = tuple(r.ci[m]) if m in r.ci else bootstrap_ci(reps.get(key, []))
    for col in (c for c in cols if c.dataset == AVG):
        datasets = averaged(cols, col)
        for s in sorted({k[0] for k in reps}):
            arrays = [reps.get((s, Column(d, col.fraction, col.metric))) for d in datasets]
            if all(a is not None for a in arrays) and len({a.shape for a in arrays}) == 1:
                reps[(s, col)] = np.mean(arrays, axis=0)
                cis[(s, col)] = bootstrap_ci(reps[(s, col)])
    return reps, cis


def ttest_pvalues(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """Paired t-tests on the seeds both rows have; one scipy call per pattern of common seeds."""
    out = np.full(len(pairs), np.nan)
    groups: dict[bytes, tuple[np.ndarray, list[int]]] = {}
    for i, (a, b) in enumerate(pairs):
        mask = ~np.isnan(a) & ~np.isnan(b)
        groups.setdefault(mask.tobytes(), (mask, []))[1].append(i)
    for mask, idx in groups.values():
        out[idx] = paired_ttests(np.stack([pairs[i][0][mask] for i in idx]), np.stack([pairs[i][1][mask] for i in idx]))
    return out.tolist()


def cell_stats(t: pd.DataFrame, strategies: list[str], correction: str, ranked: bool = True,
           pairwise: tuple[Column, pd.DataFrame] | None = None) -> tuple[list[Column], pd.DataFrame, bool]:
    """Statistics of every (strategy, column) cell, the best row per column and the significance
    tests (`ranked`; without it only mean and std: a descriptive table). `pairwise`: the primary
    Avg column and the table's pairwise tests over runs, whose Holm family that column's marks use
    (so a mark and the pairwise list never disagree)."""
    long = long_values(t)
    cols = table_columns(long)
    values = seed_values(long, cols)
    single_run = bool(t.groupby(["strategy", "dataset", "fraction"])["seed"].nunique().max() == 1) \
        and any(bool(b) for b in t["bootstrap"])
    reps, cis = replicates_of(t, cols) if single_run else ({}, {})
    na = t[t["status"] == "n/a"]
    na_keys = set(zip(na["strategy"], na["dataset"], na["fraction"]))
    cells, tests, bests = {}, [], {}  # tests: (column, a, b) for every pair of a column's rows
    floors = [s for s in strategies if s in STRATEGIES.tagged(FLOOR_TAG)]
    flaggable = [s for s in strategies if REFERENCE_TAG not in plugin_info(STRATEGIES, s).tags]
    for col in cols:
        na_strats = {s for s, d, f in na_keys if f == col.fraction and col.dataset in (AVG, d)}
        for s in strategies:
            v = values.get((s, col), np.empty(0))
            v = v[~np.isnan(v)]
            lo, hi = cis.get((s, col), (np.nan, np.nan))
            status = "ok" if len(v) else ("n/a" if s in na_strats else "missing")
            cells[(s, col)] = dict(
                strategy=s, dataset=col.dataset, fraction=col.fraction, metric=col.metric, status=status,
                n=len(v), mean=v.mean() if len(v) else np.nan, std=v.std(ddof=1) if len(v) >= 2 else np.nan,
                lo=lo, hi=hi, best=False, p=np.nan, p_adj=np.nan, significant=False, below_floor=False)
        present = [s for s in strategies if cells[(s, col)]["n"]] if ranked else []
        if present:
            best = max(present, key=lambda s: cells[(s, col)]["mean"])  # ties: first in row order
            shown = format(cells[(best, col)]["mean"], ".2f")
            for s in present:
                cells[(s, col)]["best"] = format(cells[(s, col)]["mean"], ".2f") == shown
            bests[col] = best
            tests += [(col, a, b) for a, b in itertools.combinations(present, 2)]
            for floor in (f for f in floors if f in present):
                for s in (s for s in flaggable if s in present):
                    cells[(s, col)]["below_floor"] |= bool(cells[(s, col)]["mean"] < cells[(floor, col)]["mean"])
    if single_run:
        pvalues = [paired_bootstrap_p(reps[(b, c)], reps[(s, c)])
                   if (b, c) in reps and (s, c) in reps and reps[(b, c)].shape == reps[(s, c)].shape else np.nan
                   for c, b, s in tests]
    else:
        pvalues = ttest_pvalues([(values[(b, c)], values[(s, c)]) for c, b, s in tests])
    by_column: dict[Column, list[tuple[str, str, float]]] = {}
    for (c, a, b), p in zip(tests, pvalues):
        by_column.setdefault(c, []).append((a, b, p))
    for c, rows in by_column.items():
        raw = [p for _, _, p in rows]
        best = bests[c]
        for (a, b, p), p_adj in zip(rows, holm(raw) if correction == "holm" else raw):
            if best not in (a, b):
                continue
            s = b if a == best else a
            if pairwise is not None and c == pairwise[0] and (pair := pair_row(pairwise[1], best, s)) is not None:
                p, p_adj = pair["p"], pair["p_holm"] if correction == "holm" else pair["p"]
            cell = cells[(s, c)]
            cell.update(p=p, p_adj=p_adj, significant=bool(p_adj < ALPHA and cell["mean"] < cells[(best, c)]["mean"]))
    return cols, pd.DataFrame([cells[(s, c)] for c in cols for s in strategies]), single_run


def checkpoints(t: pd.DataFrame) -> pd.DataFrame:
    """One row per pretrained checkpoint (by `checkpoint_hash`, else strategy + config hash)."""
    ckpt = t["checkpoint_hash"].where(t["checkpoint_hash"] != "", t["strategy"] + ":" + t["config_hash"])
    return t.assign(ckpt=ckpt).drop_duplicates("ckpt")


def costs(t: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: pretraining wall time (sum over its distinct checkpoints) and peak memory (max)."""
    g = checkpoints(t).groupby("strategy")
    return pd.DataFrame({"pretrain_wall_time_s": g["pretrain_wall_time_s"].sum(min_count=1),
                         "pretrain_peak_memory_mb": g["pretrain_peak_memory_mb"].max()})
