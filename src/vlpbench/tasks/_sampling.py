"""Paired seeding: seed k fixes the training subset, head initialisation, data order and
augmentation stream identically for every strategy (DESIGN glossary "seed"), which is what
makes a paired t-test across seeds valid. Every draw comes from a generator derived from
(seed, purpose) alone — never from global RNG state, never from the strategy.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import nn

from vlpbench.core.errors import VlpbenchError
from vlpbench.core.seeding import seed_generator


def stratum_keys(labels: np.ndarray) -> np.ndarray:
    """One stratum per sample: the class for multi-class labels (n,); for multi-label (n, C)
    the least frequent positive class (−1 for a sample without positives)."""
    if labels.ndim == 1:
        return labels.astype(np.int64)
    positives = labels.astype(bool)
    rarity = np.where(positives, positives.sum(axis=0)[None, :], np.iinfo(np.int64).max)
    return np.where(positives.any(axis=1), rarity.argmin(axis=1), -1)


def nested_fraction_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a stratified `fraction` of the samples, nested per seed.

    One random order per seed; each stratum contributes its first max(1, round(fraction·n_s))
    members in that order, so the 1 % subset ⊂ 10 % ⊂ 100 % (M-FLAG §3.2). For multi-label
    labels the first sample (in the same order) carrying each present class is always kept, so
    every class with positives has at least one — still nested, since that set ignores `fraction`.
    """
    if not 0.0 < fraction <= 1.0:
        raise VlpbenchError(f"eval.fractions: {fraction} is not in (0, 1]")
    labels = np.asarray(labels)
    rng, _ = seed_generator(seed, "fraction-subset")
    order = rng.permutation(len(labels))
    keys = stratum_keys(labels)[order]
    chosen = []
    for key in np.unique(keys):
        members = order[keys == key]
        chosen.append(members[: max(1, int(np.floor(fraction * len(members) + 0.5)))])
    if labels.ndim == 2:
        carriers = labels[order].astype(bool)
        present = carriers.any(axis=0)
        chosen.append(order[carriers.argmax(axis=0)[present]])
    return np.unique(np.concatenate(chosen)).astype(np.int64)


def nested_count_indices(labels: np.ndarray, subset: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Sorted `count` of the `subset` indices (all of it when `count` is 0 or larger), nested per
    seed like `nested_fraction_indices`: one random order of the subset per seed; for multi-label
    (n, C) labels the first member carrying each class present in the subset comes first, then
    the order fills up to `count` (a `count` below the number of such classes keeps one carrier
    of each), so the 8-image set ⊂ the 32-image set."""
    subset = np.asarray(subset, dtype=np.int64)
    if count <= 0 or count >= len(subset):
        return np.sort(subset)
    rng, _ = seed_generator(seed, "count-subset")
    order = subset[rng.permutation(len(subset))]
    labels = np.asarray(labels)
    first = []
    if labels.ndim == 2:
        carriers = labels[order].astype(bool)
        first = order[np.unique(carriers.argmax(axis=0)[carriers.any(axis=0)])].tolist()
    chosen = list(dict.fromkeys(first + order.tolist()))[: max(count, len(first))]
    return np.sort(np.asarray(chosen, dtype=np.int64))


def seeded_train_val(train_labels: np.ndarray, val_labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seed k's train/validation partition of the pooled train + val images (stratified, split
    sizes kept), as indices into the pooled arrays (train rows first, then val rows). The test
    split never moves. Without this a deterministic learner on 100 % of a fixed split gives the
    same number for every seed, and seed spread would say nothing about sampling variation."""
    pooled = np.concatenate([np.asarray(train_labels), np.asarray(val_labels)])
    rng, _ = seed_generator(seed, "train-val")
    keys = stratum_keys(pooled)
    share = len(val_labels) / len(pooled)
    val = [members[: int(round(len(members) * share))]
           for members in (rng.permutation(np.flatnonzero(keys == key)) for key in np.unique(keys))]
    val_indices = np.sort(np.concatenate(val)).astype(np.int64)
    return np.setdiff1d(np.arange(len(pooled)), val_indices), val_indices


def init_linear_head(in_features: int, out_features: int, seed: int) -> nn.Linear:
    """nn.Linear with PyTorch's default U(−1/√in, 1/√in) init, drawn from the seeded generator."""
    _, generator = seed_generator(seed, "linear-head")
    head = nn.utils.skip_init(nn.Linear, in_features, out_features)
    bound = 1.0 / in_features**0.5
    with torch.no_grad():
        head.weight.uniform_(-bound, bound, generator=generator)
        head.bias.uniform_(-bound, bound, generator=generator)
    return head


def step_batches(n: int, batch_size: int, steps: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """`steps` batches of min(batch_size, n) positions from seeded permutations, one per epoch
    (an epoch's remainder smaller than a batch is dropped)."""
    size = min(batch_size, n)
    pending = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        if len(pending) < size:
            pending = torch.randperm(n, generator=generator)
        yield pending[:size]
        pending = pending[size:]
