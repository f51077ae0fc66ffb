"""Statistics a reviewer accepts, per leaderboard table, with the pretraining run as the unit.

Seed k of a grid is one pretraining run scored on every dataset of the table, so the datasets of a
run share its luck: they are measurements within one unit, never independent replicates. Every
test, interval, rank and win rate here therefore has the run as its unit. Values are the table's
primary metric (the first of auc, map, dsc, iou the task reports) at label fraction 1; only
strategies that report it take part (n/a rows do not), and only runs in which every one of them has
every dataset (incomplete runs are dropped and counted).

- run-level value: the metric averaged over the table's datasets within a run (the `Avg` column);
- omnibus: Friedman test across strategies with runs as blocks on run-level values (Iman–Davenport
  F, `run_tests.friedman_runs`);
- pairwise: two-sided paired t-test over runs for every pair, Holm-adjusted over all pairs of the
  table (`run_tests`); the exact sign-flip permutation test beside it where 2 / 2^runs < α;
- rankings: mean over the (dataset, run) blocks of each strategy's within-block rank, with a 95 %
  t-interval over runs (each run with all its datasets one unit: `run_mean_ci`);
- effect size: mean paired difference of run-level values to a baseline strategy, 95 % t-interval
  (`statsmodels` `DescrStatsW.tconfint_mean`);
- verdict against the baseline: *better* / *worse* when the pair's Holm-adjusted p (the same number
  the pairwise list shows) is below α, else *equivalent* when the TOST over runs rejects a
  difference of ±margin (`statsmodels` `ttost_paired`), else *can't tell*: one verdict per pair;
- win rates: share of (dataset, run) blocks won (ties count half), t-interval over runs.

Each test's error rate is checked by simulation (`simulation.py`, tests/test_error_rates.py).
Every function is deterministic; statistics that cannot be computed return NaN (or a reason).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

from vlpbench.report.run_tests import friedman_runs, pair_indices, paired_t_pvalues, sign_flip_pvalues, smallest_sign_flip_p
from vlpbench.report.statistics import holm_adjust, paired_ttest
from vlpbench.report.variance_components import VarianceComponents, fit_components, value_cube

ALPHA = 0.05
CONFIDENCE = 0.95
FRACTION = 1.0
EQUIVALENT, BETTER, WORSE, CANT_TELL, NOT_AVAILABLE = "equivalent", "better", "worse", "can't tell", "n/a"
UNIT = "pretraining runs (seeds); datasets are measured within each run"


# ---------------------------------------------------------------- data


def metric_values(records: pd.DataFrame, metric: str, fraction: float = FRACTION) -> pd.DataFrame:
    """Long frame (strategy, dataset, seed, value): the `ok` records at `fraction` that carry a
    finite `metric`, one row per record."""
    ok = records[(records["status"] == "ok") & (records["fraction"] == fraction)]
    columns = (ok[c].tolist() for c in ("strategy", "dataset", "seed", "metrics"))
    rows = [(strategy, dataset, int(seed), float(metrics[metric]))
            for strategy, dataset, seed, metrics in zip(*columns) if metric in metrics and np.isfinite(metrics[metric])]
    return pd.DataFrame(rows, columns=["strategy", "dataset", "seed", "value"])


def _present(order: list[str], strategies: pd.Series) -> list[str]:
    """The strategies of `order` that occur in `strategies`, in `order`'s order."""
    found = set(strategies)
    return [s for s in order if s in found]


# ---------------------------------------------------------------- omnibus and ranks


@dataclass(frozen=True)
class Omnibus:
    """A Friedman test with runs as blocks: χ² (tie-corrected), Iman–Davenport F, degrees of
    freedom of χ², p; `reason` says why it was not run."""

    statistic: float
    f: float
    df: int
    p: float
    strategies: int
    runs: int
    reason: str = ""


def friedman_test(runs: np.ndarray) -> Omnibus:
    """Friedman test of a (runs × strategies) array of run-level values (`run_tests.friedman_runs`).
    Needs ≥ 3 strategies and ≥ 2 runs."""
    x = np.asarray(runs, dtype=float)
    n, k = x.shape if x.ndim == 2 else (0, 0)
    if k < 3:
        return Omnibus(np.nan, np.nan, max(k - 1, 0), np.nan, k, n, "needs ≥ 3 strategies")
    if n < 2:
        return Omnibus(np.nan, np.nan, k - 1, np.nan, k, n, "needs ≥ 2 complete runs")
    chi2, f, p = (float(v) for v in friedman_runs(x))
    if not np.isfinite(chi2):
        return Omnibus(np.nan, np.nan, k - 1, np.nan, k, n, "every run is a tie")
    return Omnibus(chi2, f, k - 1, p, k, n)


def block_ranks(blocks: np.ndarray) -> np.ndarray:
    """Ranks within each block (last axis = strategies), 1 = highest value = best, ties get their
    mean rank (`scipy.stats.rankdata`, method "average")."""
    return stats.rankdata(-np.asarray(blocks, dtype=float), method="average", axis=-1)


def mean_ranks(blocks: np.ndarray) -> np.ndarray:
    """Mean over blocks of each strategy's within-block rank (1 = best)."""
    x = np.asarray(blocks, dtype=float)
    return block_ranks(x).mean(axis=0) if x.shape[0] else np.full(x.shape[1], np.nan)


def run_mean_ci(per_run: np.ndarray, confidence: float = CONFIDENCE, bounds: tuple[float, float] = (-np.inf, np.inf)
                ) -> tuple[np.ndarray, np.ndarray]:
    """t-interval of the mean over runs (axis 0) of each column of `per_run`: each run, with all
    its datasets, is one unit (a cluster); clipped to `bounds`. A percentile cluster bootstrap
    over 5 runs covered 84 % at 95 % nominal in simulation, this interval 91–95 %
    (tests/test_error_rates.py). Needs ≥ 2 runs (else NaN); a constant column has zero width."""
    x = np.asarray(per_run, dtype=float)
    n = x.shape[0]
    if n < 2:
        return np.full(x.shape[1:], np.nan), np.full(x.shape[1:], np.nan)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(axis=0, ddof=1) / np.sqrt(n)
    mean = x.mean(axis=0)
    return np.clip(mean - half, *bounds), np.clip(mean + half, *bounds)


def _wins(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 where `x` beats `y`, ½ for a tie, 0 otherwise."""
    return (x > y) + 0.5 * (x == y)


def win_rate_matrix(blocks: pd.DataFrame) -> pd.DataFrame:
    """Strategies × strategies: the share of (dataset, run) blocks in which the row strategy beats
    the column strategy (ties count half; diagonal NaN)."""
    names = list(blocks.columns)
    x = blocks.to_numpy(dtype=float)
    rates = _wins(x[:, :, None], x[:, None, :]).mean(axis=0) if len(x) else np.full((len(names), len(names)), np.nan)
    np.fill_diagonal(rates, np.nan)
    return pd.DataFrame(rates, index=names, columns=names)


# ---------------------------------------------------------------- pairwise


def pairwise_tests(cube: np.ndarray, names: list[str], alpha: float = ALPHA) -> pd.DataFrame:
    """Every pair (a, b) of a (strategies × datasets × runs) cube, in `names` order: the mean
    run-level difference a − b, the paired t-test over runs (`p`), Holm over all pairs (`p_holm`),
    whether significant at `alpha`, the exact sign-flip p where it can reach `alpha` (`p_sign_flip`,
    else NaN), and the share of (dataset, run) blocks a wins with its t-interval over runs."""
    columns = ["a", "b", "runs", "blocks", "mean_diff", "p", "p_holm", "significant", "p_sign_flip", "win_rate", "win_lo", "win_hi"]
    first, second = pair_indices(len(names))
    if not len(first):
        return pd.DataFrame(columns=columns)
    k = cube.shape[2]
    runs = cube.mean(axis=1).T  # (runs, strategies)
    p = paired_t_pvalues(runs) if k else np.full(len(first), np.nan)
    adjusted = holm_adjust(p)
    differences = (runs[:, first] - runs[:, second]).T  # (pairs, runs)
    reachable = 2 <= k <= 16 and smallest_sign_flip_p(k) < alpha
    sign_flip = sign_flip_pvalues(differences) if reachable else np.full(len(first), np.nan)
    wins = _wins(cube[first], cube[second]).mean(axis=1).T if k else np.empty((0, len(first)))  # (runs, pairs)
    lo, hi = run_mean_ci(wins, bounds=(0.0, 1.0)) if k else (np.full(len(first), np.nan),) * 2
    frame = pd.DataFrame({
        "a": [names[i] for i in first], "b": [names[j] for j in second], "runs": k, "blocks": k * cube.shape[1],
        "mean_diff": differences.mean(axis=1) if k else np.nan, "p": p, "p_holm": adjusted, "significant": adjusted < alpha,
        "p_sign_flip": sign_flip, "win_rate": wins.mean(axis=0) if k else np.nan, "win_lo": lo, "win_hi": hi,
    })
    return frame[columns]


def p_matrix(pairwise: pd.DataFrame, names: list[str], column: str = "p_holm") -> pd.DataFrame:
    """Symmetric strategies × strategies matrix of a pairwise p-value column (diagonal 1; a pair
    that could not be tested gets 1)."""
    out = pd.DataFrame(1.0, index=names, columns=names)
    for r in pairwise.itertuples(index=False):
        p = getattr(r, column)
        out.at[r.a, r.b] = out.at[r.b, r.a] = p if np.isfinite(p) else 1.0
    return out


def pair_row(pairwise: pd.DataFrame, a: str, b: str) -> dict | None:
    """The pairwise row of {a, b} (in either order), or None."""
    hit = pairwise[((pairwise["a"] == a) & (pairwise["b"] == b)) | ((pairwise["a"] == b) & (pairwise["b"] == a))]
    return hit.iloc[0].to_dict() if len(hit) else None


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
    """A verdict against the baseline: the verdict, the TOST p, the p of the difference test, runs."""

    verdict: str
    p_tost: float
    p_difference: float
    n: int


def equivalence(x: np.ndarray, baseline: np.ndarray, margin: float, alpha: float = ALPHA,
                p_difference: float | None = None) -> Equivalence:
    """Verdict of a strategy against the baseline on run-paired values, d = x − baseline:

    - "better" / "worse": the difference test gives p < `alpha` with mean d > 0 / < 0. The test's
      p is `p_difference` when given (the pair's Holm-adjusted p from the table's pairwise tests,
      so the verdict and the pairwise list never disagree), else the paired t-test's;
    - "equivalent": not different, and the TOST (two one-sided paired t-tests, `statsmodels`
      `ttost_paired(x, baseline, -margin, margin)`) rejects |mean d| ≥ margin at `alpha`;
    - "can't tell": neither (too few runs or too much spread to tell);
    - "n/a": fewer than 2 runs the two share.
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
    p_diff = paired_ttest(a, b) if p_difference is None else float(p_difference)
    delta = float(np.mean(a - b))
    if p_diff < alpha and delta != 0:
        verdict = BETTER if delta > 0 else WORSE
    elif p_tost < alpha:
        verdict = EQUIVALENT
    else:
        verdict = CANT_TELL
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
    blocks: pd.DataFrame  # (dataset, run) blocks × ranked strategies, complete runs only
    runs: pd.DataFrame  # run × ranked strategies: the dataset-averaged metric
    dropped: int  # incomplete runs left out
    not_ranked: list[str]  # table rows without the metric at fraction 1 (n/a, missing)
    omnibus: Omnibus
    per_strategy: pd.DataFrame
    pairwise: pd.DataFrame
    baseline: str
    baseline_missing: bool
    margin: float
    components: VarianceComponents | None


def task_statistics(records: pd.DataFrame, metric: str, order: list[str], baseline: str, margin: float,
                    alpha: float = ALPHA, downstream: float = np.nan) -> TaskStatistics:
    """All statistics of one table: `records` are its (non-replicate) records, `order` its rows,
    `downstream` the measured downstream variance of a cell (for the variance components)."""
    values = metric_values(records, metric)
    present = _present(order, values["strategy"]) if not values.empty else []
    all_runs = values["seed"].nunique() if not values.empty else 0
    cube, names, datasets, seeds = value_cube(values, present) if present else (np.empty((0, 0, 0)), [], [], [])
    blocks = pd.DataFrame(cube.transpose(1, 2, 0).reshape(-1, len(names)), columns=names,
                          index=pd.MultiIndex.from_product([datasets, seeds], names=["dataset", "seed"])) if names else pd.DataFrame()
    runs = pd.DataFrame(cube.mean(axis=1).T, index=pd.Index(seeds, name="seed"), columns=names) if names else pd.DataFrame()
    x = runs.to_numpy(dtype=float) if names else np.empty((0, 0))
    omnibus = friedman_test(x)
    ranks = block_ranks(cube.transpose(2, 1, 0)) if names else np.empty((0, 0, 0))  # (runs, datasets, strategies)
    mean_rank = ranks.mean(axis=(0, 1)) if len(seeds) else np.full(len(names), np.nan)
    lo, hi = run_mean_ci(ranks.mean(axis=1), bounds=(1.0, len(names))) if len(seeds) else (mean_rank * np.nan,) * 2
    pairwise = pairwise_tests(cube, names, alpha)
    baseline_missing = baseline not in names
    rows = []
    for i, s in enumerate(names):
        row = {"strategy": s, "metric": metric, "runs": len(seeds), "blocks": len(blocks), "mean_rank": mean_rank[i],
               "rank_lo": lo[i], "rank_hi": hi[i], "baseline": baseline, "delta": np.nan, "delta_lo": np.nan,
               "delta_hi": np.nan, "p_ttest": np.nan, "p_holm": np.nan, "p_tost": np.nan, "margin": margin,
               "verdict": NOT_AVAILABLE, "win_rate": np.nan, "win_lo": np.nan, "win_hi": np.nan}
        if not baseline_missing and s != baseline:
            pair = pair_row(pairwise, s, baseline)
            flip = pair["a"] != s  # the pair's numbers are baseline − s
            d = paired_difference(x[:, i], x[:, names.index(baseline)])
            e = equivalence(x[:, i], x[:, names.index(baseline)], margin, alpha, p_difference=pair["p_holm"])
            win, win_lo, win_hi = ((1 - pair["win_rate"], 1 - pair["win_hi"], 1 - pair["win_lo"]) if flip
                                   else (pair["win_rate"], pair["win_lo"], pair["win_hi"]))
            row.update(delta=d.mean, delta_lo=d.lo, delta_hi=d.hi, p_ttest=pair["p"], p_holm=pair["p_holm"], p_tost=e.p_tost,
                       verdict=e.verdict, win_rate=win, win_lo=win_lo, win_hi=win_hi)
        rows.append(row)
    per_strategy = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["strategy"])
    return TaskStatistics(metric, blocks, runs, all_runs - len(seeds), [s for s in order if s not in names], omnibus,
                          per_strategy, pairwise, baseline, baseline_missing, margin,
                          fit_components(cube, downstream) if names else None)


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


def unit_line(ts: TaskStatistics) -> str:
    """The sentence stating the unit of every statistic of a table."""
    n, d = len(ts.runs), ts.blocks.index.get_level_values("dataset").nunique() if len(ts.blocks) else 0
    return (f"Unit of every test, interval, rank and win rate: the pretraining run ({n} complete run(s) per strategy; "
            f"the {d} dataset(s) are measured within each run, not counted as replicates).")


def statistics_lines(ts: TaskStatistics, task: str, figures: list[str] | None = None, alpha: float = ALPHA) -> list[str]:
    """The footer section "Statistics" of one table (markdown lines, starting with a blank line)."""
    name = metric_name(ts.metric)
    lines = ["", f"Statistics on {name} at fraction 1 (rank 1 = best). {unit_line(ts)}", ""]
    if ts.per_strategy.empty:
        return lines + [f"- n/a (needs ≥ 2 strategies with {name} at fraction 1)"]
    k, n = len(ts.per_strategy), len(ts.runs)
    left_out = f"; not ranked (no {name} at fraction 1): {', '.join(ts.not_ranked)}" if ts.not_ranked else ""
    dropped = f"; {ts.dropped} incomplete run(s) left out" if ts.dropped else ""
    lines.append(f"- runs: {n} complete, {k} strateg{'y' if k == 1 else 'ies'}{dropped}{left_out}")
    o = ts.omnibus
    if o.reason:
        lines.append(f"- omnibus (Friedman, runs as blocks): n/a ({o.reason})")
    else:
        lines.append(f"- omnibus (Friedman, runs as blocks, on the dataset-averaged {name}): χ² = {o.statistic:.2f}, "
                     f"Iman–Davenport F = {'∞' if np.isinf(o.f) else format(o.f, '.2f')}, df = {o.df}, {_p(o.p)}")
    tested = ts.pairwise[np.isfinite(ts.pairwise["p"].astype(float))] if not ts.pairwise.empty else ts.pairwise
    if tested.empty:
        lines.append("- pairwise (paired t-test over runs, Holm): n/a (needs ≥ 2 strategies and ≥ 2 complete runs)")
    else:
        sig = tested[tested["significant"].astype(bool)]
        listed = "; ".join(f"{r.a if r.mean_diff >= 0 else r.b} > {r.b if r.mean_diff >= 0 else r.a} ({_p(r.p_holm)})"
                           for r in sig.itertuples(index=False))
        lines.append(f"- pairwise (two-sided paired t-test over the {n} runs on the dataset-averaged {name}, Holm-adjusted "
                     f"over {len(tested)} pair(s)): {len(sig)} pair(s) with p < {alpha}" + (f": {listed}" if listed else "")
                     + f" — every pair, raw `p` and `p_holm`, in `{task}-pairwise.csv`")
        smallest = smallest_sign_flip_p(n)
        if smallest >= alpha:
            lines.append(f"- exact sign-flip permutation test: not run (with {n} runs its smallest p is {smallest:.4g} ≥ α = {alpha})")
        else:
            lines.append(f"- exact sign-flip permutation test over the runs: `p_sign_flip` in `{task}-pairwise.csv`")
    if figures:
        lines.append(f"- figures: {', '.join(f'`{f}`' for f in figures)}")
    if ts.baseline_missing:
        lines.append(f"- baseline `{ts.baseline}` has no {name} in this table: Δ, verdict and win rate against it skipped")
    base = ts.baseline
    lines += ["", f"| strategy | mean rank [95 % CI] | Δ vs {base} [95 % CI] | verdict vs {base} (±{ts.margin:.2f}) | "
                  f"win rate vs {base} [95 % CI] |", "|---|---|---|---|---|"]
    for r in ts.per_strategy.itertuples(index=False):
        rank = _interval(r.mean_rank, r.rank_lo, r.rank_hi, ".2f", "needs ≥ 2 runs", "needs ≥ 1 complete run")
        if r.strategy == base:
            delta = verdict = win = "baseline"
        elif ts.baseline_missing:
            delta = verdict = win = "–"
        else:
            delta = _interval(r.delta, r.delta_lo, r.delta_hi, "+.2f", "needs ≥ 2 runs", "needs ≥ 1 run with every dataset")
            verdict = r.verdict if r.verdict != NOT_AVAILABLE else "n/a (needs ≥ 2 runs)"
            win = _interval(r.win_rate, r.win_lo, r.win_hi, ".2f", "needs ≥ 2 runs", "needs ≥ 1 complete run")
        lines.append(f"| {r.strategy} | {rank} | {delta} | {verdict} | {win} |")
    lines += ["", (f"Mean rank: within-(dataset, run) ranks averaged (ties share their mean rank). Δ: mean over runs of the "
                   f"per-run difference to `{base}` of the dataset-averaged {name}, 95 % t-interval over runs. Verdict: "
                   f"*better*/*worse* if the pair's Holm-adjusted paired t-test over runs (the pairwise list above) gives "
                   f"p < {alpha}; otherwise *equivalent* if the TOST over runs (margin ±{ts.margin:.2f} points, α = {alpha}) "
                   f"rejects |Δ| ≥ margin; otherwise *can't tell*. Win rate: share of (dataset, run) blocks in which the "
                   f"strategy beats `{base}` (ties count half). Rank and win-rate CIs: 95 % t-interval over runs (the "
                   "per-run mean rank or win share, each run with all its datasets one unit). "
                   f"Per-strategy numbers in `{task}-statistics.csv`.")]
    return lines


def statistics_frames(ts: TaskStatistics, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-strategy and the per-pair CSV frames of one table, each led by a `task` column."""
    per = ts.per_strategy.copy()
    per.insert(0, "task", task)
    pairs = ts.pairwise.copy()
    pairs.insert(0, "task", task)
    pairs.insert(1, "metric", ts.metric)
    return per, pairs
