"""Statistics of the leaderboards with the pretraining run as the unit (report/rank_statistics.py,
report/stat_figures.py): textbook examples (Demšar 2006), scipy/statsmodels cross-checks, the cluster
bootstrap, verdicts on constructed data, deterministic figures, and the leaderboard footer / CSVs / CLI.
The error rates of the tests are shown by simulation in test_error_rates.py."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttost_paired

from test_leaderboard import LP, SEEDS, write_lp_grid, write_record
from vlpbench.core.errors import VlpbenchError
from vlpbench.report.leaderboard import build_leaderboards
from vlpbench.report.rank_statistics import (
    block_ranks,
    equivalence,
    friedman_test,
    mean_ranks,
    metric_values,
    p_matrix,
    paired_difference,
    pairwise_tests,
    run_mean_ci,
    task_statistics,
    win_rate_matrix,
)
from vlpbench.report.records_frame import load_records
from vlpbench.report.stat_figures import cd_diagram, winrate_heatmap
from vlpbench.report.statistics import holm

# Demšar (2006), JMLR 7:1-30, Table 6: AUC of C4.5, C4.5+m, C4.5+cf, C4.5+m+cf on 14 UCI data sets.
# The paper ranks "voting" 4, 1, 2, 3 although cf and m+cf both print as 0.975 (unrounded values
# differ); 0.97501 encodes that order, so the ranks below are the paper's.
DEMSAR = np.array([
    [0.763, 0.768, 0.771, 0.798],  # adult (sample)
    [0.599, 0.591, 0.590, 0.569],  # breast cancer
    [0.954, 0.971, 0.968, 0.967],  # breast cancer wisconsin
    [0.628, 0.661, 0.654, 0.657],  # cmc
    [0.882, 0.888, 0.886, 0.898],  # ionosphere
    [0.936, 0.931, 0.916, 0.931],  # iris
    [0.661, 0.668, 0.609, 0.685],  # liver disorders
    [0.583, 0.583, 0.563, 0.625],  # lung cancer
    [0.775, 0.838, 0.866, 0.875],  # lymphography
    [1.000, 1.000, 1.000, 1.000],  # mushroom
    [0.940, 0.962, 0.965, 0.962],  # primary tumor
    [0.619, 0.666, 0.614, 0.669],  # rheum
    [0.972, 0.981, 0.97501, 0.975],  # voting
    [0.957, 0.978, 0.946, 0.970],  # wine
])


# ---------------------------------------------------------------- omnibus and ranks


def test_demsar_mean_ranks_and_friedman():
    ranks = mean_ranks(DEMSAR)
    assert ranks == pytest.approx([3.143, 2.000, 2.893, 1.964], abs=5e-4)  # Demšar §3.2.2
    n, k = DEMSAR.shape
    # Demšar's χ²_F = 9.28 and Iman–Davenport F_F = 3.69 use the formula without a tie correction
    chi2_f = 12 * n / (k * (k + 1)) * (np.sum(ranks**2) - k * (k + 1) ** 2 / 4)
    assert chi2_f == pytest.approx(9.28, abs=5e-3)
    assert (n - 1) * chi2_f / (n * (k - 1) - chi2_f) == pytest.approx(3.69, abs=5e-3)
    # friedman_test reports scipy's tie-corrected χ²: divided by C = 1 − Σ(t³ − t) / (n k (k² − 1));
    # ties: mushroom (4 equal: 60), iris, lung cancer, primary tumor (2 equal each: 6) → C = 1 − 78/840
    result = friedman_test(DEMSAR)
    c = 1 - (60 + 3 * 6) / (n * k * (k * k - 1))
    assert result.statistic == pytest.approx(chi2_f / c, rel=1e-9)
    assert result.statistic == pytest.approx(stats.friedmanchisquare(*DEMSAR.T).statistic, rel=1e-12)
    assert result.df == 3 and result.strategies == 4 and result.runs == 14 and not result.reason
    f = (n - 1) * result.statistic / (n * (k - 1) - result.statistic)  # Iman–Davenport, Demšar eq. 2
    assert result.f == pytest.approx(f) and result.p == pytest.approx(stats.f.sf(f, 3, 39), rel=1e-9) and result.p < 0.05


def test_friedman_without_ties_is_the_textbook_formula():
    x = np.random.default_rng(3).normal(size=(9, 5))
    r = mean_ranks(x)
    n, k = x.shape
    textbook = 12 * n / (k * (k + 1)) * (np.sum(r**2) - k * (k + 1) ** 2 / 4)
    assert friedman_test(x).statistic == pytest.approx(textbook, rel=1e-12)


def test_friedman_reports_why_it_cannot_run():
    assert friedman_test(np.ones((5, 2)) * [1, 2]).reason == "needs ≥ 3 strategies"
    assert friedman_test(np.array([[1.0, 2.0, 3.0]])).reason == "needs ≥ 2 complete runs"
    assert friedman_test(np.ones((4, 3))).reason == "every run is a tie"
    assert math.isnan(friedman_test(np.ones((4, 3))).p)


def test_ranks_best_first_and_ties_averaged():
    x = np.array([[80.0, 70.0, 70.0], [60.0, 90.0, 50.0]])
    assert block_ranks(x).tolist() == [[1.0, 2.5, 2.5], [2.0, 1.0, 3.0]]
    assert mean_ranks(x).tolist() == [1.5, 1.75, 2.75]
    assert mean_ranks(x).sum() == pytest.approx(3 * 4 / 2)  # k(k+1)/2 per block


def test_run_mean_ci_is_the_t_interval_over_runs():
    per_run = np.random.default_rng(0).normal(size=(6, 4)) + np.arange(4)  # runs × statistics
    lo, hi = run_mean_ci(per_run)
    for j in range(4):
        expected = stats.t.interval(0.95, 5, loc=per_run[:, j].mean(), scale=stats.sem(per_run[:, j]))
        assert (lo[j], hi[j]) == pytest.approx(expected)
    clipped = run_mean_ci(np.array([[0.9], [1.0], [1.0]]), bounds=(0.0, 1.0))
    assert clipped[1][0] == 1.0 and clipped[0][0] < 1.0
    constant = run_mean_ci(np.ones((5, 2)))  # every run the same: zero width
    assert constant[0].tolist() == constant[1].tolist() == [1.0, 1.0]
    assert np.isnan(run_mean_ci(per_run[:1])[0]).all()


def test_rank_ci_resamples_runs_not_datasets(tmp_path):
    """Three datasets that always agree within a run carry one run's information, not three: the
    run-level interval is as wide as that of one dataset's ranks."""
    rng = np.random.default_rng(4)
    for seed in SEEDS:
        luck = rng.normal(size=3)
        for d in ("syn-a", "syn-b", "syn-c"):
            for i, s in enumerate(("mae", "clip", "wsc")):
                write_record(tmp_path / "r", s, "linear-probe", d, seed, {"auc": 80 + luck[i]})
    per = task_statistics(load_records(tmp_path / "r"), "auc", ["mae", "clip", "wsc"], "clip", 1.0).per_strategy
    runs = task_statistics(load_records(tmp_path / "r").query("dataset == 'syn-a'"), "auc", ["mae", "clip", "wsc"], "clip", 1.0)
    assert per.rank_lo.tolist() == runs.per_strategy.rank_lo.tolist()
    assert per.rank_hi.tolist() == runs.per_strategy.rank_hi.tolist()


# ---------------------------------------------------------------- pairwise


def test_pairwise_tests_and_matrices():
    names = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]
    blocks = pd.DataFrame(DEMSAR, columns=names)
    cube = DEMSAR.reshape(2, 7, 4).transpose(2, 0, 1)  # strategies × 2 datasets × 7 runs
    pairs = pairwise_tests(cube, names)
    assert len(pairs) == 6 and pairs[["a", "b"]].iloc[0].tolist() == ["C4.5", "C4.5+m"]
    runs = cube.mean(axis=1)  # the unit: run-level values
    raw = [stats.ttest_rel(runs[names.index(a)], runs[names.index(b)]).pvalue for a, b in zip(pairs.a, pairs.b)]
    assert pairs.p.tolist() == pytest.approx(raw, rel=1e-12)
    assert (pairs.runs == 7).all() and (pairs.blocks == 14).all()
    flips = [stats.permutation_test(((runs[names.index(a)] - runs[names.index(b)]),), np.mean, permutation_type="samples",
                                    n_resamples=np.inf).pvalue for a, b in zip(pairs.a, pairs.b)]
    assert pairs.p_sign_flip.tolist() == pytest.approx(flips, rel=1e-9)  # 7 runs: 2/128 < α, so it runs
    assert pairs.p_holm.tolist() == pytest.approx(holm(raw))
    assert pairs.significant.tolist() == [p < 0.05 for p in holm(raw)]
    m = p_matrix(pairs, list(blocks.columns))
    assert (m.to_numpy() == m.to_numpy().T).all() and (np.diag(m) == 1).all()
    assert m.loc["C4.5+m", "C4.5"] == pairs.p_holm.iloc[0]
    w = win_rate_matrix(blocks)
    off = ~np.eye(4, dtype=bool)
    assert np.allclose((w + w.T).to_numpy()[off], 1.0) and np.isnan(np.diag(w)).all()
    # C4.5+m vs C4.5: 10 wins, 2 ties (lung cancer, mushroom), 2 losses → 11/14
    assert w.loc["C4.5+m", "C4.5"] == pytest.approx(11 / 14)


# ---------------------------------------------------------------- against a baseline


def test_paired_difference_ci_equals_scipy_and_pairs_by_seed():
    x = np.array([71.0, 72.5, 70.2, 73.1, np.nan])
    base = np.array([70.0, 71.0, 70.5, 71.9, 69.0])
    d = paired_difference(x, base)
    ci = stats.ttest_rel(x[:4], base[:4]).confidence_interval(0.95)
    assert (d.n, d.mean) == (4, pytest.approx(np.mean(x[:4] - base[:4])))
    assert (d.lo, d.hi) == (pytest.approx(ci.low), pytest.approx(ci.high))
    constant = paired_difference(base + 0.5, base)
    assert (constant.mean, constant.lo, constant.hi) == (pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5))
    single = paired_difference(x[:1], base[:1])
    assert single.n == 1 and math.isnan(single.lo)


@pytest.mark.parametrize("diffs, verdict", [
    ([0.10, -0.05, 0.05, 0.00, 0.02], "equivalent"),  # tiny differences, well inside ±1
    ([0.30, 0.31, 0.29, 0.30, 0.30], "better"),  # significant and inside the margin: one verdict, the difference
    ([3.0, 2.8, 3.3, 3.1, 2.9], "better"),
    ([-2.5, -2.9, -2.6, -3.0, -2.7], "worse"),
    ([2.0, -1.5, 0.5, -2.0, 1.8], "can't tell"),  # spread too large to tell
    ([1.5, -0.2, 0.9, 0.1, 1.2], "can't tell"),  # Δ = 0.7: neither inside ±1 nor significantly ≠ 0
    ([1.2, 0.9, 1.1, 0.8, 1.05], "better"),  # Δ = 1.01 at the margin, significant: better, not equivalent
])
def test_tost_verdicts(diffs, verdict):
    base = np.array([70.0, 71.0, 69.5, 70.4, 70.8])
    x = base + np.array(diffs)
    e = equivalence(x, base, margin=1.0)
    p_tost = ttost_paired(x, base, -1.0, 1.0)[0]
    p_t = stats.ttest_rel(x, base).pvalue
    assert e.p_tost == pytest.approx(p_tost) and e.p_difference == pytest.approx(p_t)
    expected = ("better" if np.mean(diffs) > 0 else "worse") if p_t < 0.05 else ("equivalent" if p_tost < 0.05 else "can't tell")
    assert e.verdict == verdict == expected and e.n == 5


def test_tost_edge_cases():
    base = np.array([70.0, 71.0, 69.5])
    assert equivalence(base, base, 1.0).verdict == "equivalent"  # identical: Δ = 0 exactly, inside any margin
    assert equivalence(base + 2.0, base, 1.0).verdict == "better"  # constant Δ = 2 outside the margin, p = 0
    assert equivalence(base[:1] + 5, base[:1], 1.0).verdict == "n/a"
    assert equivalence(np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, np.nan]), 1.0).verdict == "n/a"
    with pytest.raises(ValueError, match="margin"):
        equivalence(base, base, 0.0)


# ---------------------------------------------------------------- from records


def test_runs_and_blocks_from_records(tmp_path):
    write_lp_grid(tmp_path / "r", skip={("clip", "syn-odir", 4)})
    ts = task_statistics(load_records(tmp_path / "r"), "auc", ["mae", "clip", "wsc"], "clip", 1.0)
    assert list(ts.blocks.columns) == ["mae", "clip", "wsc"] and ts.dropped == 1 and len(ts.blocks) == 8
    assert list(ts.runs.index) == [0, 1, 2, 3]  # run 4 lacks clip on syn-odir: the whole run is left out
    assert ts.blocks.loc[("syn-odir", 0), "wsc"] == LP[("wsc", "syn-odir")]["auc"][0]
    assert ts.runs.loc[0, "wsc"] == pytest.approx((LP[("wsc", "syn-odir")]["auc"][0] + LP[("wsc", "syn-rfmid")]["auc"][0]) / 2)
    assert len(metric_values(load_records(tmp_path / "r"), "auc")) == 29


def test_task_statistics_on_the_linear_probe_fixture(tmp_path):
    write_lp_grid(tmp_path / "r")
    ts = task_statistics(load_records(tmp_path / "r"), "auc", ["mae", "clip", "wsc"], "clip", 1.0)
    per = ts.per_strategy.set_index("strategy")
    # syn-odir: wsc > clip > mae every seed; syn-rfmid: clip and wsc trade places (2 : 2, one tie), mae last
    assert per.mean_rank.tolist() == pytest.approx([3.0, 1.75, 1.25])
    assert per.at["wsc", "win_rate"] == pytest.approx(0.75) and per.at["mae", "win_rate"] == 0.0
    assert per.at["wsc", "delta"] == pytest.approx(1.0) and per.at["wsc", "verdict"] == "better"
    assert per.at["mae", "verdict"] == "worse" and per.at["clip", "verdict"] == "n/a"
    assert ts.omnibus.df == 2 and ts.omnibus.p < 0.001 and not ts.baseline_missing


# ---------------------------------------------------------------- leaderboard


def test_leaderboard_footer_and_csvs(tmp_path):
    write_lp_grid(tmp_path / "r")
    build_leaderboards(tmp_path / "r", tmp_path / "lb")
    md = (tmp_path / "lb" / "linear-probe.md").read_text()
    assert "Holm-corrected over every pair of rows of the column" in md  # the default correction
    assert "Variance of the dataset-averaged AUC per strategy" in md and "minimum detectable difference" in md
    assert "| pretraining, shared by the datasets of a run | 0.30 | 5 % |" in md  # the fitted components
    footer = md.split("Statistics on AUC at fraction 1")[1]
    assert footer.startswith(" (rank 1 = best). Unit of every test, interval, rank and win rate: the pretraining run (5 complete")
    assert "- omnibus (Friedman, runs as blocks, on the dataset-averaged AUC): χ² = 10.00, Iman–Davenport F = ∞, df = 2, p < 0.001" in footer
    assert "Holm-adjusted over 3 pair(s)): 3 pair(s) with p < 0.05: clip > mae" in footer
    assert "- exact sign-flip permutation test: not run (with 5 runs its smallest p is 0.0625 ≥ α = 0.05)" in footer
    assert "| strategy | mean rank [95 % CI] | Δ vs clip [95 % CI] | verdict vs clip (±1.00) | win rate vs clip [95 % CI] |" in footer
    assert "| wsc | 1.25 [1.00, 1.56] | +1.00 [+0.79, +1.21] | better | 0.75 [0.44, 1.00] |" in footer
    assert "| clip | 1.75 [1.44, 2.06] | baseline | baseline | baseline |" in footer
    per = pd.read_csv(tmp_path / "lb" / "linear-probe-statistics.csv")
    assert per.strategy.tolist() == ["mae", "clip", "wsc"] and set(per.task) == {"linear-probe"}
    assert {"mean_rank", "rank_lo", "rank_hi", "delta", "delta_lo", "delta_hi", "p_tost", "verdict", "win_lo", "win_hi"} <= set(per)
    pairs = pd.read_csv(tmp_path / "lb" / "linear-probe-pairwise.csv")
    assert pairs[["a", "b"]].values.tolist() == [["mae", "clip"], ["mae", "wsc"], ["clip", "wsc"]]
    assert {"p", "p_holm", "p_sign_flip", "runs", "win_rate", "win_lo", "win_hi"} <= set(pairs)
    assert pairs.p_holm.tolist() == pytest.approx(holm(pairs.p.tolist()))


def test_figures_are_written_and_byte_identical(tmp_path):
    write_lp_grid(tmp_path / "r")
    one = [p for p in build_leaderboards(tmp_path / "r", tmp_path / "a") if p.parent.name == "figures"]
    two = [p for p in build_leaderboards(tmp_path / "r", tmp_path / "b") if p.parent.name == "figures"]
    assert [p.name for p in one] == ["cd-linear-probe.png", "cd-linear-probe.svg", "winrate-linear-probe.png", "winrate-linear-probe.svg"]
    for p, q in zip(one, two):
        assert p.stat().st_size > 1000 and p.read_bytes() == q.read_bytes()
    svg = (tmp_path / "a" / "figures" / "cd-linear-probe.svg").read_text()
    assert "<dc:date>" not in svg


def _cd_inputs() -> tuple[pd.Series, pd.DataFrame]:
    names = [f"s{i}" for i in range(8)]
    ranks = pd.Series(np.arange(1.0, 9.0), index=names)
    p = pd.DataFrame(0.5, index=names, columns=names)  # two overlapping crossbars of ≥ 3 strategies
    for a in names[:2]:
        for b in names[5:]:
            p.loc[a, b] = p.loc[b, a] = 0.001
    return ranks, p


def test_cd_diagram_does_not_depend_on_the_hash_seed(tmp_path):
    """scikit-posthocs draws each crossbar through a set of names; its order follows PYTHONHASHSEED."""
    ranks, p = _cd_inputs()
    cd_diagram(ranks, p, "t", tmp_path / "here")
    script = ("import sys; sys.path.insert(0, sys.argv[2]); from test_rank_statistics import _cd_inputs; "
              "from pathlib import Path; from vlpbench.report.stat_figures import cd_diagram; "
              "r, p = _cd_inputs(); cd_diagram(r, p, 't', Path(sys.argv[1]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "there"), str(Path(__file__).parent)], check=True, env=env)
    for suffix in (".png", ".svg"):
        assert (tmp_path / f"here{suffix}").read_bytes() == (tmp_path / f"there{suffix}").read_bytes()


def test_winrate_heatmap_writes_png_and_svg(tmp_path):
    blocks = pd.DataFrame(DEMSAR, columns=["a", "b", "c", "d"])
    paths = winrate_heatmap(win_rate_matrix(blocks), "t", tmp_path / "w")
    assert [p.name for p in paths] == ["w.png", "w.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_text().startswith("<?xml")


def test_two_strategies_one_seed_does_not_crash(tmp_path):
    for s, v in (("clip", 80.0), ("wsc", 81.0)):
        write_record(tmp_path / "r", s, "finetune", "syn-odir", 0, {"auc": v})
    paths = build_leaderboards(tmp_path / "r", tmp_path / "lb")
    assert not any(p.parent.name == "figures" for p in paths)  # one block: nothing to draw
    md = (tmp_path / "lb" / "finetune.md").read_text()
    assert "- omnibus (Friedman, runs as blocks): n/a (needs ≥ 3 strategies)" in md
    assert "- pairwise (paired t-test over runs, Holm): n/a (needs ≥ 2 strategies and ≥ 2 complete runs)" in md
    assert "| wsc | 1.00 (CI n/a: needs ≥ 2 runs) | +1.00 (CI n/a: needs ≥ 2 runs) | n/a (needs ≥ 2 runs) |" in md
    assert pd.read_csv(tmp_path / "lb" / "finetune-pairwise.csv").p.isna().all()


def test_missing_baseline_is_stated_and_skipped(tmp_path):
    write_lp_grid(tmp_path / "r")
    build_leaderboards(tmp_path / "r", tmp_path / "lb", baseline="unicl")
    md = (tmp_path / "lb" / "linear-probe.md").read_text()
    assert "- baseline `unicl` has no AUC in this table: Δ, verdict and win rate against it skipped" in md
    assert "| wsc | 1.25 [1.00, 1.56] | – | – | – |" in md


def test_unknown_baseline_is_an_error_with_close_matches(tmp_path, capsys):
    from vlpbench.app.cli import main

    write_lp_grid(tmp_path / "r")
    with pytest.raises(VlpbenchError, match=r"--baseline 'clpi': no strategy of that name .* did you mean 'clip'"):
        build_leaderboards(tmp_path / "r", tmp_path / "lb", baseline="clpi")
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "lb"), "--baseline", "clpi"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_no_metric_at_fraction_one(tmp_path):
    for seed in SEEDS:
        write_record(tmp_path / "r", "clip", "finetune", "syn-odir", seed, {"auc": 80.0 + seed}, fraction=0.1)
    build_leaderboards(tmp_path / "r", tmp_path / "lb")
    assert "- n/a (needs ≥ 2 strategies with AUC at fraction 1)" in (tmp_path / "lb" / "finetune.md").read_text()


def test_margin_must_be_positive(tmp_path):
    write_lp_grid(tmp_path / "r")
    with pytest.raises(VlpbenchError, match="margin"):
        build_leaderboards(tmp_path / "r", tmp_path / "lb", margin=0.0)


def test_cli_baseline_margin_and_holm_default(tmp_path):
    from vlpbench.app.cli import build_parser, main

    args = build_parser().parse_args(["leaderboard"])
    assert (args.correction, args.baseline, args.margin) == ("holm", "clip", 1.0)
    write_lp_grid(tmp_path / "r")
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "lb"),
                 "--baseline", "wsc", "--margin", "20"]) == 0
    md = (tmp_path / "lb" / "linear-probe.md").read_text()
    # inside the ±20 margin but significantly different: one verdict per pair, the difference's
    assert "verdict vs wsc (±20.00)" in md and "| clip | 1.75 [1.44, 2.06] | -1.00 [-1.21, -0.79] | worse |" in md
