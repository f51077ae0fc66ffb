"""Error rates of every test the leaderboards print, shown by simulation (report/simulation.py):
false positives under the null over a sweep of the shared fraction ρ of a run's effect and of the
pretraining share, and over the published grid's components; the printed MDD against the simulated
80 %-power difference; the old block Wilcoxon failing the same check; and the whole path through
`bench leaderboard` on synthetic records with a run effect shared across datasets."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from test_leaderboard import write_record
from vlpbench.app.cli import main
from vlpbench.report.run_tests import (
    friedman_runs,
    pair_indices,
    paired_t_pvalues,
    sign_flip_pvalues,
    smallest_sign_flip_p,
)
from vlpbench.report.simulation import SIMULATED_GRIDS, error_rates, run_level, simulate_grids, simulated_mdd
from vlpbench.report.statistics import holm_adjust
from vlpbench.report.variance_components import VarianceComponents, fit_components

LEADERBOARDS = Path(__file__).parents[1] / "leaderboards"
BAND = (0.03, 0.07)
STRATEGIES = 10


def published_components(task: str, metric: str) -> VarianceComponents:
    """Components of a published table from the cell moments in `leaderboards/<task>.csv` (its
    records are not shipped): mean cell variance V_c = σ²_run + σ²_cell, mean Avg variance
    V_a = σ²_run + σ²_cell / D, and the double-centred means for σ²_γ."""
    frame = pd.read_csv(LEADERBOARDS / f"{task}.csv")
    ok = frame[(frame.status == "ok") & (frame.fraction == 1) & (frame.metric == metric) & (frame.n >= 2)]
    cells, avg = ok[ok.dataset != "Avg"], ok[ok.dataset == "Avg"]
    d, k = cells.dataset.nunique(), int(ok.n.max())
    v_cell, v_avg = float((cells["std"] ** 2).mean()), float((avg["std"] ** 2).mean())
    run = max(0.0, (d * v_avg - v_cell) / (d - 1))
    means = cells.pivot_table(index="strategy", columns="dataset", values="mean").to_numpy()
    centred = means - means.mean(axis=1, keepdims=True) - means.mean(axis=0, keepdims=True) + means.mean()
    interaction = max(0.0, float((centred**2).sum()) / ((means.shape[0] - 1) * (d - 1)) - v_cell / k)
    return VarianceComponents(run=run, cell=v_cell - run, interaction=interaction, downstream=np.nan, datasets=d, runs=k,
                              strategies=STRATEGIES)


SWEEP = [pytest.param(VarianceComponents.from_shares(1.5**2, share, rho, interaction=1.0), id=f"rho{rho}-pretrain{share}")
         for rho, share in itertools.product((0.0, 0.25, 0.5, 1.0), (0.0, 0.5, 1.0))]
PUBLISHED = [pytest.param((task, metric), id=f"published-{task}")
             for task, metric in (("linear-probe", "auc"), ("finetune", "auc"), ("ood-zsc", "auc"), ("seg", "dsc"))
             if (LEADERBOARDS / f"{task}.csv").exists()]


# ---------------------------------------------------------------- the building blocks against the libraries


def test_holm_adjust_equals_statsmodels_with_nan_left_out():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, size=(30, 12)) ** 2
    p[3, [1, 5]] = np.nan
    adjusted = holm_adjust(p)
    for row, out in zip(p, adjusted):
        finite = np.isfinite(row)
        assert out[finite] == pytest.approx(multipletests(row[finite], method="holm")[1], rel=1e-12)
        assert np.isnan(out[~finite]).all()


def test_paired_t_pvalues_equal_scipy_per_pair():
    runs = np.random.default_rng(1).normal(size=(6, 4))
    p = paired_t_pvalues(runs)
    for n, (i, j) in enumerate(zip(*pair_indices(4))):
        assert p[n] == pytest.approx(stats.ttest_rel(runs[:, i], runs[:, j]).pvalue, rel=1e-12)
    assert paired_t_pvalues(np.ones((5, 3)))[0] == 1.0  # identical rows: p = 1, not NaN


def test_sign_flip_equals_scipy_permutation_test():
    d = np.array([1.2, -0.3, 0.8, 2.0, 0.1, 1.5])
    expected = stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf,
                                      alternative="two-sided").pvalue
    assert sign_flip_pvalues(d) == pytest.approx(expected, rel=1e-12)
    assert smallest_sign_flip_p(5) == 0.0625 and smallest_sign_flip_p(6) == 0.03125


def test_friedman_runs_is_scipy_chi2_with_iman_davenport():
    x = np.random.default_rng(2).normal(size=(5, 4))
    chi2, f, p = friedman_runs(x)
    assert chi2 == pytest.approx(stats.friedmanchisquare(*x.T).statistic)
    n, k = x.shape
    assert f == pytest.approx((n - 1) * chi2 / (n * (k - 1) - chi2))  # Demšar 2006, eq. 2
    assert p == pytest.approx(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))


def test_fit_recovers_planted_components():
    planted = VarianceComponents.from_shares(2.0**2, 0.8, 0.4, interaction=1.5, strategies=12)
    fits = [fit_components(g) for g in simulate_grids(planted, np.zeros(12), grids=300, seed=5)]
    for name in ("run", "cell", "interaction"):
        assert np.mean([getattr(f, name) for f in fits]) == pytest.approx(getattr(planted, name), rel=0.1), name


# ---------------------------------------------------------------- false positives under the null


def _check_null(components: VarianceComponents) -> None:
    effects = np.zeros(STRATEGIES)
    rates = error_rates(simulate_grids(components, effects, grids=SIMULATED_GRIDS, seed=11), effects)
    assert BAND[0] <= rates.pairwise.mean() <= BAND[1], f"paired t-test over runs: {rates.pairwise.mean():.3f}"
    assert BAND[0] <= rates.friedman <= BAND[1], f"Friedman over runs: {rates.friedman:.3f}"
    assert rates.family <= BAND[1], f"Holm family-wise rate: {rates.family:.3f}"
    per_dataset = VarianceComponents(run=components.run, cell=components.cell, interaction=0.0, downstream=components.downstream,
                                     datasets=components.datasets, runs=components.runs, strategies=STRATEGIES)
    columns = error_rates(simulate_grids(per_dataset, effects, grids=SIMULATED_GRIDS, seed=12), effects)
    assert columns.column_family <= BAND[1], f"† marks of a dataset column: {columns.column_family:.3f}"


@pytest.mark.parametrize("components", SWEEP)
def test_printed_tests_hold_alpha_over_the_sweep(components):
    _check_null(components)


@pytest.mark.parametrize("published", PUBLISHED)
def test_printed_tests_hold_alpha_on_the_published_components(published):
    _check_null(published_components(*published))


def test_tost_declares_equivalence_at_the_margin_at_most_alpha():
    """The verdict's equivalence test: a true difference of exactly the margin is called
    equivalent in at most α of the grids."""
    from statsmodels.stats.weightstats import ttost_paired

    components = VarianceComponents.from_shares(1.0, 1.0, 0.5)
    runs = run_level(simulate_grids(components, np.array([1.0, 0.0]), grids=SIMULATED_GRIDS, seed=13))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = np.array([ttost_paired(r[:, 0], r[:, 1], -1.0, 1.0)[0] for r in runs])
    assert (p < 0.05).mean() <= BAND[1]


def _block_wilcoxon_rate(components: VarianceComponents) -> float:
    """The old test: Wilcoxon signed-rank over the (dataset, seed) blocks as independent units."""
    grids = simulate_grids(components, np.zeros(STRATEGIES), grids=SIMULATED_GRIDS, seed=11)
    first, second = pair_indices(STRATEGIES)
    a = np.moveaxis(grids[:, first], 1, -1).reshape(len(grids), -1, len(first))  # (grids, blocks, pairs)
    b = np.moveaxis(grids[:, second], 1, -1).reshape(len(grids), -1, len(first))
    p = stats.wilcoxon(a, b, axis=1, zero_method="zsplit").pvalue
    return float((p < 0.05).mean())


@pytest.mark.parametrize("rho", [0.5, 1.0])
def test_old_block_wilcoxon_fails_the_same_check(rho):
    """Regression: on pseudo-replicated blocks the old test's rate leaves the band, so the check can fail."""
    rate = _block_wilcoxon_rate(VarianceComponents.from_shares(1.5**2, 1.0, rho))
    assert rate > BAND[1], rate


# ---------------------------------------------------------------- the printed MDD


@pytest.mark.parametrize("components", [VarianceComponents.from_shares(1.5**2, 1.0, 0.34, datasets=5),
                                        VarianceComponents.from_shares(3.0**2, 0.6, 0.1, datasets=3),
                                        VarianceComponents(run=1.96, cell=0.36, interaction=0.0, downstream=np.nan,
                                                           datasets=5, runs=10, strategies=10)])
def test_printed_mdd_matches_the_simulated_80_percent_power_difference(components):
    simulated = simulated_mdd(components)
    assert components.mdd() == pytest.approx(simulated, rel=0.2)


def test_runs_needed_reach_the_power():
    from statsmodels.stats.power import TTestPower

    c = VarianceComponents.from_shares(1.5**2, 1.0, 0.34)
    n = c.runs_needed(1.0)
    assert TTestPower().power(1.0 / c.sd_difference, n, 0.05) >= 0.8 > TTestPower().power(1.0 / c.sd_difference, n - 1, 0.05)


# ---------------------------------------------------------------- through `bench leaderboard`


def _write_grid(root: Path, seed: int, planted: float = 0.0) -> None:
    """10 strategies × 5 sets × 5 runs: a run effect of SD 1.4 shared by the sets of a run, cell SD
    0.6, dataset offsets; strategy s0 `planted` points better on every set."""
    rng = np.random.default_rng(seed)
    offsets = np.array([70.0, 75.0, 80.0, 85.0, 90.0])
    for s in range(STRATEGIES):
        for k in range(5):
            run = rng.normal(0, 1.4)
            for d, offset in enumerate(offsets):
                value = offset + run + rng.normal(0, 0.6) + (planted if s == 0 else 0.0)
                write_record(root, f"s{s}", "linear-probe", f"set{d}", k, {"auc": value})


def _significant(out: Path) -> pd.DataFrame:
    pairs = pd.read_csv(out / "linear-probe-pairwise.csv")
    assert {"p", "p_holm"} <= set(pairs.columns) and len(pairs) == STRATEGIES * (STRATEGIES - 1) // 2
    return pairs[pairs["significant"]]


def test_leaderboard_on_null_grids_calls_at_most_one_pair_in_four(tmp_path):
    found = 0
    for grid in range(4):
        _write_grid(tmp_path / f"r{grid}", seed=100 + grid)
        assert main(["leaderboard", "--results", str(tmp_path / f"r{grid}"), "--out", str(tmp_path / f"lb{grid}"),
                     "--baseline", "s0"]) == 0
        found += len(_significant(tmp_path / f"lb{grid}"))
    assert found <= 1
    md = (tmp_path / "lb0" / "linear-probe.md").read_text()
    assert "Unit of every test, interval, rank and win rate: the pretraining run" in md
    assert "minimum detectable difference" in md


def test_leaderboard_finds_a_planted_ten_points(tmp_path):
    _write_grid(tmp_path / "r", seed=7, planted=10.0)
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "lb"), "--baseline", "s1",
                 "--html", str(tmp_path / "site")]) == 0
    significant = _significant(tmp_path / "lb")
    assert ((significant["a"] == "s0") | (significant["b"] == "s0")).sum() >= 7
    per = pd.read_csv(tmp_path / "lb" / "linear-probe-statistics.csv").set_index("strategy")
    assert per.at["s0", "verdict"] == "better"
    for page in (tmp_path / "site").glob("*.html"):
        assert "pretraining run" in page.read_text(), page.name


def test_bench_study_power(tmp_path, capsys):
    _write_grid(tmp_path / "r", seed=3)
    assert main(["study", "power", "--results", str(tmp_path / "r"), "--delta", "2", "--task", "linear-probe"]) == 0
    out = capsys.readouterr().out
    from vlpbench.report.power import power_table
    from vlpbench.report.records_frame import load_records

    row = power_table(load_records(tmp_path / "r"), delta=2.0).iloc[0]
    assert row.task == "linear-probe" and row.runs == 5 and row.strategies == STRATEGIES
    # the run effect (SD 1.4, shared) dominates: Var(difference) ≈ 2·(1.96 + 0.36 / 5) → SD ≈ 2.0
    assert 1.2 < row.sd_pretraining_shared < 1.8 and 0.4 < row.sd_private < 0.8
    assert row.runs_needed >= 5 and 0.0 < row.power_simulated_holm <= row.power_simulated < 1.0
    assert f"{row.mdd:.2f}" in out and f"{row.runs_needed} ({row.runs_needed_holm})" in out and "linear-probe" in out
    assert main(["study", "power", "--results", str(tmp_path / "r"), "--delta", "0"]) == 2
    assert main(["study", "power", "--results", str(tmp_path / "r"), "--task", "linear-prob"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--delta 0.0" in err[0] and "did you mean 'linear-probe'" in err[1]


def test_study_power_seeds_studies_the_first_runs_of_a_growing_grid(tmp_path, capsys):
    """`--seeds N` reads runs 0 … N−1 only: a number quoted at N runs regenerates after more runs land."""
    _write_grid(tmp_path / "r", seed=3)
    assert main(["study", "power", "--results", str(tmp_path / "r"), "--delta", "2", "--task", "linear-probe"]) == 0
    five = capsys.readouterr().out
    assert main(["study", "power", "--results", str(tmp_path / "r"), "--delta", "2", "--task", "linear-probe",
                 "--seeds", "3"]) == 0
    three = capsys.readouterr().out
    from vlpbench.report.power import power_table
    from vlpbench.report.records_frame import load_records

    records = load_records(tmp_path / "r")
    row = power_table(records[records["pretrain_seed"] < 3], delta=2.0).iloc[0]
    assert row.runs == 3 and f"{row.mdd:.2f}" in three and f"{row.mdd:.2f}" not in five


def test_study_power_prints_the_leaderboards_mdd_without_the_planted_ladder(tmp_path):
    """The planted ladder sits outside the leaderboard's ranks and tests, so a noisy rung must not
    move the MDD `bench study power` prints away from the one the leaderboard prints."""
    _write_grid(tmp_path / "r", seed=5)
    rng = np.random.default_rng(0)
    for k in range(5):
        for d in range(5):
            write_record(tmp_path / "r", "clip-mismatch-50", "linear-probe", f"set{d}", k, {"auc": 70 + rng.normal(0, 10)})
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "lb"), "--baseline", "s0"]) == 0
    from vlpbench.report.power import power_table
    from vlpbench.report.records_frame import load_records

    printed = pd.read_csv(tmp_path / "lb" / "variance-components.csv").set_index("task").at["linear-probe", "mdd"]
    row = power_table(load_records(tmp_path / "r"), delta=2.0, grids=200).iloc[0]
    assert row.strategies == STRATEGIES and row.mdd == pytest.approx(printed, rel=1e-9)


def test_sign_flip_test_holds_alpha_where_it_is_printed():
    """With ≥ 6 runs the pairwise CSV adds the exact sign-flip p: its false-positive rate at 8 runs."""
    components = VarianceComponents.from_shares(1.5**2, 1.0, 0.5, runs=8)
    runs = run_level(simulate_grids(components, np.zeros(2), grids=SIMULATED_GRIDS, seed=14))
    p = sign_flip_pvalues(runs[:, :, 0] - runs[:, :, 1])
    assert BAND[0] <= (p < 0.05).mean() <= BAND[1]


def test_rank_and_win_rate_intervals_cover_at_the_nominal_rate():
    """The 95 % intervals over runs (`run_mean_ci`) of a win share and of a mean rank: coverage of
    the true value (from 20,000 simulated runs) over 1,000 grids of 5 runs."""
    from vlpbench.report.rank_statistics import _wins, block_ranks, run_mean_ci

    components = VarianceComponents.from_shares(1.5**2, 1.0, 0.5, datasets=5, runs=5)
    effects = np.array([1.0, 0.0, -0.5])
    truth = simulate_grids(components, effects, grids=4000, seed=15)  # (grids, strategies, datasets, runs)
    true_win = _wins(truth[:, 0], truth[:, 1]).mean()
    true_rank = block_ranks(np.moveaxis(truth, 1, -1)).mean(axis=(0, 1, 2))
    grids = simulate_grids(components, effects, grids=1000, seed=16)
    wins = _wins(grids[:, 0], grids[:, 1]).mean(axis=1)  # (grids, runs): each run's win share
    ranks = block_ranks(np.moveaxis(grids, 1, -1)).mean(axis=1)  # (grids, runs, strategies)
    win_lo, win_hi = run_mean_ci(wins.T, bounds=(0.0, 1.0))
    rank_lo, rank_hi = run_mean_ci(np.moveaxis(ranks, 0, 1), bounds=(1.0, 3.0))
    assert 0.90 <= ((win_lo <= true_win) & (true_win <= win_hi)).mean() <= 0.98
    covered = (rank_lo <= true_rank) & (true_rank <= rank_hi)  # (grids, strategies)
    assert (0.90 <= covered.mean(axis=0)).all() and (covered.mean(axis=0) <= 0.98).all(), covered.mean(axis=0)
