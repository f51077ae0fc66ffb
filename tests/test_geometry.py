"""Latent-geometry metrics on constructed cases (a collapsed set has effective rank 1, an isotropic
one ≈ d), against naive transcriptions of their formulas, and the `geometry` table."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from vlpbench.tasks._geometry_metrics import alignment, effective_rank, singular_spectrum, uniformity


def naive_effective_rank(x: np.ndarray) -> float:
    sigma = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    p = sigma / sigma.sum()
    return math.exp(-sum(pk * math.log(pk) for pk in p if pk > 0))


def naive_uniformity(x: np.ndarray, t: float = 2.0) -> float:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    terms = [math.exp(-t * float(np.sum((x[i] - x[j]) ** 2))) for i, j in itertools.combinations(range(len(x)), 2)]
    return math.log(sum(terms) / len(terms))


def test_collapsed_set_has_effective_rank_one():
    direction = np.array([3.0, -1.0, 2.0, 0.5])
    x = np.random.default_rng(0).normal(size=(50, 1)) * direction
    assert effective_rank(x) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_equal_variance_in_k_directions_has_effective_rank_k(k):
    rows = np.concatenate([np.eye(8)[:k], -np.eye(8)[:k]])  # ±e_1..±e_k: k equal singular values
    assert effective_rank(rows) == pytest.approx(k)


def test_isotropic_gaussian_is_close_to_full_rank():
    x = np.random.default_rng(1).normal(size=(20000, 16))
    assert 15.5 < effective_rank(x) <= 16.0


def test_constant_set_has_effective_rank_zero_and_matches_naive():
    assert effective_rank(np.ones((5, 3))) == 0.0
    x = np.random.default_rng(2).normal(size=(30, 6)) @ np.diag([5, 3, 2, 1, 0.5, 0.1])
    assert effective_rank(x) == pytest.approx(naive_effective_rank(x))
    assert np.all(np.diff(singular_spectrum(x)) <= 0)


def test_alignment_hand_cases():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert alignment(a, 3 * a) == pytest.approx(0.0)  # same directions: 0 after normalising
    assert alignment(a, -a) == pytest.approx(4.0)  # antipodal: |2u|² = 4
    assert alignment(a, a[:, ::-1]) == pytest.approx(2.0)  # orthogonal: |u − v|² = 2


def test_uniformity_hand_cases_and_naive():
    assert uniformity(np.tile([[0.0, 1.0]], (4, 1))) == pytest.approx(0.0)  # one point
    assert uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)  # log exp(−2·4)
    x = np.random.default_rng(3).normal(size=(25, 5))
    assert uniformity(x) == pytest.approx(naive_uniformity(x))
    spread, clumped = np.random.default_rng(4).normal(size=(200, 8)), np.random.default_rng(4).normal(size=(200, 8)) * 0.05 + 1
    assert uniformity(spread) < uniformity(clumped)


def test_geometry_table_describes_without_ranking(tmp_path):
    from test_leaderboard import write_record
    from vlpbench.report.leaderboard import build_leaderboards

    points = np.random.default_rng(0).normal(size=(20, 3)).round(4).tolist()
    for strategy, metrics in (("clip", {"erank": 12.0, "alignment": 1.5}), ("mae", {"erank": 9.0})):
        for seed in range(3):
            write_record(tmp_path / "results", strategy, "geometry", "corpus", seed, {k: v + seed for k, v in metrics.items()},
                         extra={"pca": points, "first_category": [i % 4 - 1 for i in range(20)]})
    paths = build_leaderboards(tmp_path / "results", tmp_path / "lb")
    assert sorted(p.name for p in paths) == ["geometry.csv", "geometry.md", "pca-geometry.png", "pca-geometry.svg"]  # no tests
    md = (tmp_path / "lb" / "geometry.md").read_text()
    assert "**" not in md and "†" not in md and "A description, not a ranking" in md
    assert "| clip       | 2.50 (1.00)" in md and "alignment: mean squared distance" in md
    assert "![PCA of the image features](figures/pca-geometry.svg)" in md
    first = {p.name: p.read_bytes() for p in paths}
    again = build_leaderboards(tmp_path / "results", tmp_path / "lb")
    assert {p.name: p.read_bytes() for p in again} == first  # byte-identical from the same records
