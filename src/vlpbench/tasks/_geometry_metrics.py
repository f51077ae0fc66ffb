"""Latent-space geometry of a set of features (M-FLAG §1–2's dimensional collapse, measured).

- Singular value spectrum of the centred features X − mean(X) (n × d): σ_1 ≥ … ≥ σ_min(n,d).
- Effective rank (Roy & Vetterli 2007): exp(H(p)) with p_k = σ_k / Σσ and H the Shannon entropy
  (nats). A collapsed set (all variance on one direction) has effective rank 1; an isotropic
  one ≈ d.
- Alignment (Wang & Isola 2020, eq 4 with α = 2): E‖f(x) − f(y)‖² over positive pairs (x, y) of
  L2-normalised embeddings — 0 when paired image and text embeddings coincide, at most 4.
- Uniformity (Wang & Isola 2020, eq 5 with t = 2): log E exp(−t‖f(x) − f(y)‖²) over all pairs of
  distinct L2-normalised embeddings — 0 for a set collapsed to one point, lower is more uniform.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist
from scipy.special import logsumexp
from scipy.stats import entropy


def singular_spectrum(features: np.ndarray) -> np.ndarray:
    """Singular values of the centred features, descending."""
    x = np.asarray(features, dtype=np.float64)
    return np.linalg.svd(x - x.mean(axis=0), compute_uv=False)


def effective_rank(features: np.ndarray) -> float:
    """exp of the entropy of the normalised singular values (1 for a collapsed set; 0 for a constant one)."""
    sigma = singular_spectrum(features)
    if sigma.sum() <= 0:
        return 0.0
    return float(np.exp(entropy(sigma / sigma.sum())))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def alignment(a: np.ndarray, b: np.ndarray) -> float:
    """E‖â_i − b̂_i‖² over the paired rows of a and b (normalised first)."""
    return float(np.mean(np.sum((l2_normalise(a) - l2_normalise(b)) ** 2, axis=1)))


def uniformity(x: np.ndarray, t: float = 2.0) -> float:
    """log of the mean of exp(−t‖x̂_i − x̂_j‖²) over the pairs i < j (normalised first)."""
    distances = pdist(l2_normalise(x), "sqeuclidean")
    return float(logsumexp(-t * distances) - np.log(len(distances)))
