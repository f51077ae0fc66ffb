"""Label similarity (ViLReF eq 2) and mean label entropy (eq 14) against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from vlpbench.datasets.labels.label_stats import mean_label_entropy
from vlpbench.strategies.losses import label_similarity as _torch_label_similarity


def label_similarity(labels_a, labels_b=None, others_index=-1) -> np.ndarray:
    """Eq 2 through the one implementation (the losses' torch one), on numpy 0/1 arrays, in float64."""
    a = torch.as_tensor(np.asarray(labels_a), dtype=torch.float64)
    b = None if labels_b is None else torch.as_tensor(np.asarray(labels_b), dtype=torch.float64)
    return _torch_label_similarity(a, b, others_index=others_index).numpy()

# columns: a, b, c, others
LABELS = np.array([
    [1, 1, 0, 0],
    [1, 0, 0, 1],   # `others` is ignored: same as [1, 0, 0]
    [0, 0, 0, 1],   # `others` only: zero vector after dropping the column
    [0, 0, 0, 0],
], dtype=np.uint8)


def test_label_similarity_hand_values():
    s = label_similarity(LABELS)
    assert s.shape == (4, 4)
    assert s[0, 1] == pytest.approx(1 / math.sqrt(2))  # [1,1,0]·[1,0,0] / (√2 · 1)
    assert s[0, 0] == pytest.approx(1.0) and s[1, 1] == pytest.approx(1.0)
    assert np.all(s[2] == 0) and np.all(s[:, 2] == 0)  # others-only: a true negative for all, itself included
    assert np.all(s[3] == 0) and np.all(s[:, 3] == 0)
    np.testing.assert_allclose(s, s.T)


def test_label_similarity_two_sets_and_others_column_position():
    a = np.array([[1, 0, 1], [0, 1, 1]])
    b = np.array([[1, 1, 1], [0, 0, 1]])
    s = label_similarity(a, b, others_index=2)  # others in the last column here too
    np.testing.assert_allclose(s, [[1 / math.sqrt(2), 0.0], [1 / math.sqrt(2), 0.0]])
    first = np.array([[1, 1, 0], [0, 1, 1]])  # others in column 0: [1, 0] vs [1, 1]
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(label_similarity(first, others_index=0), [[1.0, r], [r, 1.0]])
    # a naive loop over eq 2
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 2, (7, 5)), rng.integers(0, 2, (6, 5))
    expected = np.zeros((7, 6))
    for i in range(7):
        for j in range(6):
            u, v = x[i, :-1], y[j, :-1]
            norm = np.linalg.norm(u) * np.linalg.norm(v)
            expected[i, j] = u @ v / norm if norm else 0.0
    np.testing.assert_allclose(label_similarity(x, y), expected)


def test_mean_label_entropy_hand_value_natural_log():
    # P(a=1) = 1/2, P(b=1) = 1/4, P(c=1) = 0; `others` varies but is left out
    labels = np.array([[1, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]])
    h_half = math.log(2)
    h_quarter = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert mean_label_entropy(labels) == pytest.approx((h_half + h_quarter + 0.0) / 3)
    assert mean_label_entropy(labels) == pytest.approx(0.418494, abs=1e-6)
    moved = labels[:, [3, 0, 1, 2]]
    assert mean_label_entropy(moved, others_index=0) == pytest.approx(mean_label_entropy(labels))


def test_mean_label_entropy_extremes():
    assert mean_label_entropy(np.ones((5, 4))) == 0.0
    assert mean_label_entropy(np.zeros((5, 4))) == 0.0
    half = np.array([[1, 1, 1, 0], [0, 0, 0, 0]])
    assert mean_label_entropy(half) == pytest.approx(math.log(2))  # the maximum: ln 2
    with pytest.raises(ValueError):
        mean_label_entropy(np.zeros((0, 4)))
    with pytest.raises(ValueError):
        label_similarity(np.zeros(4))
