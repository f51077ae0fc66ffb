"""Statistics behind the leaderboards: paired t-test, Holm, bootstrap CI and paired bootstrap p."""

import math

import numpy as np
import pytest
from scipy import stats

from vlpbench.report.statistics import bootstrap_ci, holm, paired_bootstrap_p, paired_ttest, paired_ttests


def test_paired_ttest_equals_scipy():
    a = [85.2, 86.1, 84.9, 85.7, 86.0]
    b = [84.1, 85.9, 84.0, 84.8, 85.2]
    assert paired_ttest(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    # hand check: d = [1.1, 0.2, 0.9, 0.9, 0.8], t = mean/(sd/sqrt(5)) with 4 dof
    d = np.subtract(a, b)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(5))
    assert paired_ttest(a, b) == pytest.approx(2 * stats.t.sf(t, 4), rel=1e-12)
    assert paired_ttest(a, b) == pytest.approx(paired_ttest(b, a))


def test_paired_ttest_degenerate_cases():
    assert paired_ttest([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0  # scipy gives NaN here
    assert paired_ttest([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]) == 0.0  # constant non-zero difference
    assert math.isnan(paired_ttest([1.0], [0.5]))
    with pytest.raises(ValueError):
        paired_ttest([1.0, 2.0], [1.0])


def test_paired_ttests_rowwise_equals_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    b[2] = a[2]  # identical row → 1.0
    p = paired_ttests(a, b)
    assert p[2] == 1.0
    for i in (0, 1, 3, 4, 5):
        assert p[i] == stats.ttest_rel(a[i], b[i]).pvalue  # bit-identical to the one-pair call
    assert paired_ttests(np.empty((0, 5)), np.empty((0, 5))).shape == (0,)


def test_holm_hand_worked():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_nan():
    out = holm([0.5, float("nan"), 0.2])  # m = 2: 0.2·2 = 0.4, 0.5·1 = 0.5
    assert out[0] == pytest.approx(0.5) and out[2] == pytest.approx(0.4)
    assert math.isnan(out[1])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_bootstrap_ci_contains_point_estimate():
    rng = np.random.default_rng(0)
    x = rng.normal(70.0, 5.0, size=400)
    reps = [rng.choice(x, size=len(x)).mean() for _ in range(1000)]
    lo, hi = bootstrap_ci(reps)
    assert lo < x.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 * 5.0 / 20, rel=0.2)  # ≈ ±1.96 σ/√n
    assert bootstrap_ci(np.arange(101.0), alpha=0.1) == pytest.approx((5.0, 95.0))


def test_paired_bootstrap_p():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert paired_bootstrap_p(a + 1.0, a) == 0.0  # every replicate favours a
    assert paired_bootstrap_p(a, a) == 1.0
    # d = [1, 1, 1, -1]: mean(d ≤ 0) = 0.25, mean(d ≥ 0) = 0.75 → p = 0.5
    assert paired_bootstrap_p([2.0, 3.0, 4.0, 3.0], a) == pytest.approx(0.5)
    # pairing matters: same marginals, shuffled pairs give a different answer
    rng = np.random.default_rng(1)
    base = rng.normal(size=1000)
    assert paired_bootstrap_p(base + 0.1, base) == 0.0
    assert paired_bootstrap_p(base + 0.1, rng.permutation(base)) > 0.05
