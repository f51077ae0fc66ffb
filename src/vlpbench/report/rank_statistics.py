"""Statistics a reviewer accepts, per leaderboard table, computed from the result records alone.

The unit of the rank-based statistics is a *block*: one (dataset, seed) pair at label fraction 1,
valued by the table's primary metric (the first of auc, map, dsc, iou the task reports; the same
metric as the variance footer). Only strategies that report the metric take part (n/a rows do
not) and only blocks in which every one of them has a value (incomplete blocks are dropped and
counted). Rank 1 is the best strategy of a block; tied values share the mean of their ranks.

- omnibus: Friedman test across strategies over the blocks (`scipy.stats.friedmanchisquare`,
  tie-corrected χ², df = k − 1);
- pairwise: two-sided Wilcoxon signed-rank test over the same blocks for every pair
  (`scipy.stats.wilcoxon`, zero differences split between the signs as in Demšar 2006), Holm
  adjusted over all pairs of the table (`report.statistics.holm`, statsmodels `multipletests`);
- rankings: mean rank per strategy with a percentile bootstrap 95 % CI over blocks (a seeded
  `numpy.random.Generator`: the same records give the same interval);
- effect size: mean paired difference to a baseline strategy of the dataset-averaged metric,
  paired by seed, with a 95 % t-interval (`statsmodels` `DescrStatsW.tconfint_mean`);
- equivalence: TOST against the baseline with a margin in metric points
  (`statsmodels.stats.weightstats.ttost_paired`), summarised as a verdict (see `equivalence`);
- win rates: the share of blocks in which A beats B (ties count half) with a Wilson 95 %
  interval (`statsmodels.stats.proportion.proportion_confint(method="wilson")`).

Every function is deterministic; statistics that cannot be computed return NaN (or a reason).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

from vlpbench.core.data_seeding import data_rng
from vlpbench.report.statistics import holm, paired_ttest

ALPHA = 0.05
CONFIDENCE = 0.95
N_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
FRACTION = 1.0
EQUIVALENT, BETTER, WORSE, INCONCLUSIVE, NOT_AVAILABLE = "equivalent", "better", "worse", "inconclusive", "n/a"


# ---------------------------------------------------------------- data


def metric_values(records: pd.DataFrame, metric: str, fraction: float = FRACTION) -> pd.DataFrame:
    """Long frame (strategy, dataset, seed, value): the `ok` records at `fraction` that carry a
    finite `metric`, one row per record."""
    ok = records[(records["status"] == "ok") & (records["fraction"] == fraction)]
    columns = (ok[c].tolist() for c in ("strategy", "dataset", "seed", "metrics"))
    rows = [(strategy, dataset, int(seed), float(metrics[metric]))
            for strategy, dataset, seed, metrics in zip(*columns) if metric in metrics and np.isfinite(metrics[metric])]
    return pd.DataFrame(rows, columns=["strategy", "dataset", "seed", "value"])


def block_matrix(values: pd.DataFrame, order: list[str]) -> tuple[pd.DataFrame, int]:
    """(dataset, seed) blocks × strategies (columns in `order`, only those with values), complete
    blocks only, sorted by dataset then seed; and the number of incomplete blocks dropped."""
    names = _present(order, values["strategy"])
    if not names:
        return pd.DataFrame(), 0
    wide = values.pivot_table(index=["dataset", "seed"], columns="strategy", values="value", aggfunc="mean")
    wide = wide.reindex(columns=names).sort_index()
    complete = wide.dropna()
    complete.columns.name = None
    return complete, len(wide) - len(complete)


def _present(order: list[str], strategies: pd.Series) -> list[str]:
    """The strategies of `order` that occur in `strategies`, in `order`'s order."""
    found = set(strategies)
    return [s for s in order if s in found]


def seed_averages(values: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """seed × strategy: the metric averaged over every dataset of the table (the `Avg` column of
    one seed); NaN where that seed lacks a dataset."""
    names = _present(order, values["strategy"])
    if not names:
        return pd.DataFrame()
    datasets = values["dataset"].nunique()
    grouped = values.groupby(["seed", "strategy"])["value"]
    avg = grouped.mean().where(grouped.count() == datasets)
    return avg.unstack("strategy").reindex(columns=names).sort_index()


# ---------------------------------------------------------------- omnibus and ranks


@dataclass(frozen=True)
class Omnibus:
    """A Friedman test: χ² statistic (tie-corrected), degrees of freedom, p; `reason` says why not run."""

    statistic: float
    df: int
    p: float
    strategies: int
    blocks: int
    reason: str = ""


def friedman_test(blocks: np.ndarray) -> Omnibus:
    """Friedman test of a (blocks × strategies) array with `scipy.stats.friedmanchisquare`
    (χ² with the correction for ties, df = k − 1). Needs ≥ 3 strategies and ≥ 2 blocks."""
    x = np.asarray(blocks, dtype=float)
    n, k = x.shape if x.ndim == 2 else (0, 0)
    if k < 3:
        return Omnibus(np.nan, max(k - 1, 0), np.nan, k, n, "needs ≥ 3 strategies")
    if n < 2:
        return Omnibus(np.nan, k - 1, np.nan, k, n, "needs ≥ 2 complete blocks")
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.friedmanchisquare(*x.T)
    if not np.isfinite(result.statistic):
        return Omnibus(np.nan, k - 1, np.nan, k, n, "every block is a tie")
    return Omnibus(float(result.statistic), k - 1, float(result.pvalue), k, n)


def block_ranks(blocks: np.ndarray) -> np.ndarray:
    """Ranks within each block (row), 1 = highest value = best, ties get their mean rank
    (`scipy.stats.rankdata`, method "average")."""
    return stats.rankdata(-np.asarray(blocks, dtype=float), method="average", axis=1)


def mean_ranks(blocks: np.ndarray) -> np.ndarray:
    """Mean over blocks of each strategy's within-block rank (1 = best)."""
    x = np.asarray(blocks, dtype=float)
    return block_ranks(x).mean(axis=0) if x.shape[0] else np.full(x.shape[1], np.nan)


def bootstrap_rank_ci(blocks: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                      confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of every strategy's mean rank: blocks drawn with replacement
    (`core.data_seeding.data_rng(seed)`, same draws for all strategies), within-block ranks kept.
    Needs ≥ 2 blocks (else NaN)."""
    ranks = block_ranks(blocks)
    n, k = ranks.shape
    if n < 2:
        return np.full(k, np.nan), np.full(k, np.nan)
    draws = data_rng(seed).integers(0, n, size=(n_resamples, n))
    means = ranks[draws].mean(axis=1)  # (resamples, strategies)
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail], axis=0)
    return lo, hi


# ---------------------------------------------------------------- pairwise


def wilcoxon_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples (`scipy.stats.wilcoxon`, zero
    differences split between the signs): (statistic, p). Needs ≥ 2 pairs (else NaN)."""
    statistic, p = wilcoxon_tests(np.asarray(a, dtype=float)[:, None], np.asarray(b, dtype=float)[:, None])
    return float(statistic[0]), float(p[0])


def wilcoxon_tests(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`wilcoxon_test` of each column of two (blocks × pairs) arrays: (statistics, p-values).

    One `scipy.stats.wilcoxon(axis=0)` call per group of columns, with and without zero or tied
    |x − y|: its method "auto" picks the exact or an approximate p-value from the whole array, so
    the groups keep each column's choice (and its p) as in a call of its own. Columns with a NaN
    difference give NaN, identical columns (NaN, 1)."""
    statistic, p = np.full(x.shape[1], np.nan), np.full(x.shape[1], np.nan)
    if x.shape[0] < 2:
        return statistic, p
    d = np.sort(np.abs(x - y), axis=0)
    equal = np.all(x == y, axis=0)
    p[equal] = 1.0
    tested = ~equal & ~np.isnan(d).any(axis=0)
    ties = (d[0] == 0) | (np.diff(d, axis=0) == 0).any(axis=0)
    for group in (tested & ties, tested & ~ties):
        if group.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "exact p-value not possible with zeros/ties": normal approximation
                result = stats.wilcoxon(x[:, group], y[:, group], zero_method="zsplit", axis=0)
            statistic[group], p[group] = result.statistic, result.pvalue
    return statistic, p


@dataclass(frozen=True)
class WinRate:
    """Share of blocks won (ties count half), its Wilson interval and the number of blocks."""

    rate: float
    lo: float
    hi: float
    n: int


def win_rate(a: np.ndarray, b: np.ndarray, confidence: float = CONFIDENCE) -> WinRate:
    """Share of paired blocks where `a` beats `b` (higher value; a tie counts half), with the
    Wilson score interval (`statsmodels` `proportion_confint(method="wilson")`)."""
    rate, lo, hi = win_rates(np.asarray(a, dtype=float)[:, None], np.asarray(b, dtype=float)[:, None], confidence)
    return WinRate(float(rate[0]), float(lo[0]), float(hi[0]), len(a))


def win_rates(x: np.ndarray, y: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`win_rate` of each column of two (blocks × pairs) arrays (`y` may be one column): rates,
    Wilson lower and upper bounds, from one `proportion_confint` call."""
    n = x.shape[0]
    if n == 0:
        return tuple(np.full(x.shape[1], np.nan) for _ in range(3))
    wins = _wins(x, y)
    lo, hi = proportion_confint(wins, n, alpha=1 - confidence, method="wilson")
    return wins / n, lo, hi


def _wins(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Blocks (axis 0) in which `x` beats `y`, a tie counting half."""
    return np.sum(x > y, axis=0) + 0.5 * np.sum(x == y, axis=0)


def win_rate_matrix(blocks: pd.DataFrame) -> pd.DataFrame:
    """Strategies × strategies: the win rate of the row strategy over the column strategy across
    the blocks (diagonal NaN)."""
    names = list(blocks.columns)
    x = blocks.to_numpy(dtype=float)
    rates = _wins(x[:, :, None], x[:, None, :]) / len(x) if len(x) else np.full((len(names), len(names)), np.nan)
    np.fill_diagonal(rates, np.nan)
    return pd.DataFrame(rates, index=names, columns=names)


def pairwise_tests(blocks: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Every pair (a, b) of the block matrix's strategies, in column order: the mean difference
    a − b over the blocks, Wilcoxon statistic and p, Holm-adjusted p over all pairs, whether
    significant at `alpha`, and the win rate of a over b with its Wilson interval."""
    names = list(blocks.columns)
    x = blocks.to_numpy(dtype=float)
    first, second = np.triu_indices(len(names), k=1)  # the pairs in `itertools.combinations` order
    statistic, p = wilcoxon_tests(x[:, first], x[:, second])
    rate, lo, hi = win_rates(x[:, first], x[:, second])
    rows = [{"a": names[i], "b": names[j], "blocks": len(x), "mean_diff": float(np.mean(x[:, i] - x[:, j])) if len(x) else np.nan,
             "wilcoxon_statistic": float(statistic[k]), "p": float(p[k]), "win_rate": float(rate[k]), "win_lo": float(lo[k]),
             "win_hi": float(hi[k])} for k, (i, j) in enumerate(zip(first, second))]
    frame = pd.DataFrame(rows, columns=["a", "b", "blocks", "mean_diff", "wilcoxon_statistic", "p", "win_rate", "win_lo", "win_hi"])
    frame.insert(6, "p_holm", holm(frame["p"].tolist()) if len(frame) else [])
    frame.insert(7, "significant", frame["p_holm"] < alpha)
    return frame


def p_matrix(pairwise: pd.DataFrame, names: list[str], column: str = "p_holm") -> pd.DataFrame:
    """Symmetric strategies × strategies matrix of a pairwise p-value column (diagonal 1; a pair
    that could not be tested gets 1)."""
    out = pd.DataFrame(1.0, index=names, columns=names)
    for r in pairwise.itertuples(index=False):
        p = getattr(r, column)
        out.at[r.a, r.b] = out.at[r.b, r.a] = p if np.isfinite(p) else 1.0
    return out


# ---------------------------------------------------------------- against a baseline


@dataclass(frozen=True)
class Difference:
    """Mean paired difference (strategy − baseline), its t-interval and the number of pairs."""

    mean: float
    lo: float
    hi: float
    n: int


def paired_difference(x: np.ndarray, baseline: np.ndarray, confidence: float = CONFIDENCE) -> Difference:
    """Mean of the paired differences x − baseline over the pairs where both are finite, with a
    t-interval (`statsmodels` `DescrStatsW(d).tconfint_mean`; a constant difference gives a
    zero-width interval). Needs ≥ 2 pairs for the interval."""
    d = _differences(x, baseline)
    if len(d) == 0:
        return Difference(np.nan, np.nan, np.nan, 0)
    if len(d) < 2:
        return Difference(float(d.mean()), np.nan, np.nan, 1)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = DescrStatsW(d).tconfint_mean(alpha=1 - confidence)
    return Difference(float(d.mean()), float(lo), float(hi), len(d))


@dataclass(frozen=True)
class Equivalence:
    """A TOST verdict against the baseline: the verdict, the TOST p, the paired t-test p, pairs."""

    verdict: str
    p_tost: float
    p_difference: float
    n: int


def equivalence(x: np.ndarray, baseline: np.ndarray, margin: float, alpha: float = ALPHA) -> Equivalence:
    """Verdict of a strategy against the baseline on seed-paired values, d = x − baseline:

    - "equivalent": the TOST (two one-sided paired t-tests, `statsmodels`
      `ttost_paired(x, baseline, -margin, margin)`) rejects |mean d| ≥ margin at `alpha`, i.e.
      the (1 − 2α) t-interval of mean d lies inside (−margin, +margin). Takes precedence: a
      difference smaller than the margin counts as no difference that matters, even if the
      t-test finds it;
    - "better" / "worse": not equivalent, the two-sided paired t-test (`scipy.stats.ttest_rel`
      via `statistics.paired_ttest`) gives p < `alpha`, and mean d > 0 / mean d < 0;
    - "inconclusive": neither (too few seeds or too much spread to tell);
    - "n/a": fewer than 2 seeds the two share.
    """
    if not margin > 0:
        raise ValueError(f"equivalence margin must be > 0, got {margin}")
    a, b = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    a, b = a[both], b[both]
    n = len(a)
    if n < 2:
        return Equivalence(NOT_AVAILABLE, np.nan, np.nan, n)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # constant difference: t = ±inf, p = 0 or 1
        p_tost = float(ttost_paired(a, b, -margin, margin)[0])
    p_diff = paired_ttest(a, b)
    delta = float(np.mean(a - b))
    if p_tost < alpha:
        verdict = EQUIVALENT
    elif p_diff < alpha and delta != 0:
        verdict = BETTER if delta > 0 else WORSE
    else:
        verdict = INCONCLUSIVE
    return Equivalence(verdict, p_tost, p_diff, n)


def _differences(x: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    a, b = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    return a[both] - b[both]


# ---------------------------------------------------------------- one table


@dataclass
class TaskStatistics:
    """Everything the footer, the CSVs and the figures of one table need."""

    metric: str
    blocks: pd.DataFrame  # complete (dataset, seed) blocks × ranked strategies
    dropped: int  # incomplete blocks left out
    not_ranked: list[str]  # table rows without the metric at fraction 1 (n/a, missing)
    omnibus: Omnibus
    per_strategy: pd.DataFrame
    pairwise: pd.DataFrame
    baseline: str
    baseline_missing: bool
    margin: float


def task_statistics(records: pd.DataFrame, metric: str, order: list[str], baseline: str, margin: float,
                    alpha: float = ALPHA) -> TaskStatistics:
    """All statistics of one table: `records` are its (non-replicate) records, `order` its rows."""
    values = metric_values(records, metric)
    blocks, dropped = block_matrix(values, order)
    names = list(blocks.columns) if not blocks.empty else _present(order, values["strategy"])
    x = blocks.to_numpy(dtype=float) if not blocks.empty else np.empty((0, len(names)))
    omnibus = friedman_test(x)
    ranks = mean_ranks(x) if len(names) else np.empty(0)
    lo, hi = bootstrap_rank_ci(x) if len(names) else (np.empty(0), np.empty(0))
    pairwise = pairwise_tests(blocks if not blocks.empty else pd.DataFrame(columns=names), alpha)
    averages = seed_averages(values, order)
    baseline_missing = baseline not in names
    versus = win_rates(x, x[:, [names.index(baseline)]]) if not baseline_missing else None  # every strategy vs the baseline
    rows = []
    for i, s in enumerate(names):
        row = {"strategy": s, "metric": metric, "blocks": len(x), "mean_rank": ranks[i], "rank_lo": lo[i], "rank_hi": hi[i],
               "baseline": baseline, "seeds": 0, "delta": np.nan, "delta_lo": np.nan, "delta_hi": np.nan,
               "p_ttest": np.nan, "p_tost": np.nan, "margin": margin, "verdict": NOT_AVAILABLE,
               "win_rate": np.nan, "win_lo": np.nan, "win_hi": np.nan}
        if not baseline_missing and s != baseline:
            d = paired_difference(averages[s].to_numpy(), averages[baseline].to_numpy())
            e = equivalence(averages[s].to_numpy(), averages[baseline].to_numpy(), margin, alpha)
            win, win_lo, win_hi = (float(v[i]) for v in versus)
            row.update(seeds=d.n, delta=d.mean, delta_lo=d.lo, delta_hi=d.hi, p_ttest=e.p_difference, p_tost=e.p_tost,
                       verdict=e.verdict, win_rate=win, win_lo=win_lo, win_hi=win_hi)
        rows.append(row)
    per_strategy = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["strategy"])
    return TaskStatistics(metric, blocks, dropped, [s for s in order if s not in names], omnibus, per_strategy,
                          pairwise, baseline, baseline_missing, margin)


# ---------------------------------------------------------------- markdown


def _p(p: float) -> str:
    """`p = 0.012`, `p < 0.001` or `p –`."""
    return "p –" if not np.isfinite(p) else ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")


def _interval(value: float, lo: float, hi: float, fmt: str, why: str, missing: str) -> str:
    """`value [lo, hi]`; `value (CI n/a: why)` without an interval; `n/a (missing)` without a value."""
    if not np.isfinite(value):
        return f"n/a ({missing})"
    ci = f" [{format(lo, fmt)}, {format(hi, fmt)}]" if np.isfinite(lo) else f" (CI n/a: {why})"
    return format(value, fmt) + ci


METRIC_NAMES = {"auc": "AUC", "map": "mAP", "dsc": "DSC", "iou": "IoU"}


def metric_name(metric: str) -> str:
    """Display name of a metric key (`map` → mAP)."""
    return METRIC_NAMES.get(metric, metric)


def statistics_lines(ts: TaskStatistics, task: str, figures: list[str] | None = None, alpha: float = ALPHA) -> list[str]:
    """The footer section "Statistics" of one table (markdown lines, starting with a blank line)."""
    name = metric_name(ts.metric)
    lines = ["", f"Statistics on {name} at fraction 1 (blocks = (dataset, seed) pairs; rank 1 = best):", ""]
    if ts.per_strategy.empty:
        return lines + [f"- n/a (needs ≥ 2 strategies with {name} at fraction 1)"]
    k, n = len(ts.per_strategy), len(ts.blocks)
    datasets = ts.blocks.index.get_level_values("dataset").nunique() if n else 0
    seeds = ts.blocks.index.get_level_values("seed").nunique() if n else 0
    left_out = f"; not ranked (no {name} at fraction 1): {', '.join(ts.not_ranked)}" if ts.not_ranked else ""
    dropped = f"; {ts.dropped} incomplete block(s) left out" if ts.dropped else ""
    lines.append(f"- blocks: {n} complete ({datasets} dataset(s) × {seeds} seed(s)), {k} strateg{'y' if k == 1 else 'ies'}{dropped}{left_out}")
    o = ts.omnibus
    if o.reason:
        lines.append(f"- omnibus (Friedman): n/a ({o.reason})")
    else:
        lines.append(f"- omnibus (Friedman, tie-corrected): χ² = {o.statistic:.2f}, df = {o.df}, {_p(o.p)}")
    tested = ts.pairwise[np.isfinite(ts.pairwise["p"])] if not ts.pairwise.empty else ts.pairwise
    if tested.empty:
        lines.append("- pairwise (Wilcoxon signed-rank, Holm): n/a (needs ≥ 2 strategies and ≥ 2 complete blocks)")
    else:
        sig = tested[tested["significant"]]
        listed = "; ".join(f"{r.a if r.mean_diff >= 0 else r.b} > {r.b if r.mean_diff >= 0 else r.a} ({_p(r.p_holm)})"
                           for r in sig.itertuples(index=False))
        lines.append(f"- pairwise (two-sided Wilcoxon signed-rank over the blocks, Holm-adjusted over {len(tested)} pair(s)): "
                     f"{len(sig)} pair(s) with p < {alpha}" + (f": {listed}" if listed else "")
                     + f" — every pair in `{task}-pairwise.csv`")
    if figures:
        lines.append(f"- figures: {', '.join(f'`{f}`' for f in figures)}")
    if ts.baseline_missing:
        lines.append(f"- baseline `{ts.baseline}` has no {name} in this table: Δ, TOST and win rate against it skipped")
    base = ts.baseline
    lines += ["", f"| strategy | mean rank [95 % CI] | Δ vs {base} [95 % CI] | TOST vs {base} (±{ts.margin:.2f}) | "
                  f"win rate vs {base} [95 % CI] |", "|---|---|---|---|---|"]
    for r in ts.per_strategy.itertuples(index=False):
        rank = _interval(r.mean_rank, r.rank_lo, r.rank_hi, ".2f", "needs ≥ 2 blocks", "needs ≥ 1 complete block")
        if r.strategy == base:
            delta = verdict = win = "baseline"
        elif ts.baseline_missing:
            delta = verdict = win = "–"
        else:
            delta = _interval(r.delta, r.delta_lo, r.delta_hi, "+.2f", "needs ≥ 2 seeds", "needs ≥ 1 seed with every dataset")
            verdict = r.verdict if r.verdict != NOT_AVAILABLE else "n/a (needs ≥ 2 seeds)"
            win = _interval(r.win_rate, r.win_lo, r.win_hi, ".2f", "", "needs ≥ 1 complete block")
        lines.append(f"| {r.strategy} | {rank} | {delta} | {verdict} | {win} |")
    lines += ["", (f"Mean rank: within-block ranks averaged over the blocks (ties share their mean rank), 95 % percentile "
                   f"bootstrap CI over blocks ({N_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}). Δ: mean over seeds of the "
                   f"per-seed difference to `{base}` of the dataset-averaged {name} (paired by seed), 95 % t-interval. "
                   f"TOST (margin ±{ts.margin:.2f} points, α = {alpha}): *equivalent* if both one-sided paired t-tests reject "
                   f"|Δ| ≥ margin; otherwise *better*/*worse* if the two-sided paired t-test gives p < {alpha} with Δ > 0/Δ < 0; "
                   f"otherwise *inconclusive*. Win rate: share of blocks in which the strategy beats `{base}` (ties count half), "
                   "Wilson 95 % interval. Per-strategy numbers in "
                   f"`{task}-statistics.csv`.")]
    return lines


def statistics_frames(ts: TaskStatistics, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-strategy and the per-pair CSV frames of one table, each led by a `task` column."""
    per = ts.per_strategy.copy()
    per.insert(0, "task", task)
    pairs = ts.pairwise.copy()
    pairs.insert(0, "task", task)
    pairs.insert(1, "metric", ts.metric)
    return per, pairs
