"""Classification metrics (ViLReF §IV-B): macro AUC and mAP in percent over the classes that
can be scored, and a paired bootstrap over test images for the deterministic zero-shot task."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from vlpbench.core.seeding import seed_generator


def one_hot(y_true: np.ndarray, multilabel: bool, n_classes: int) -> np.ndarray:
    """(n, C) 0/1 targets: multi-label labels as they are, class indices one-vs-rest."""
    y = np.asarray(y_true)
    return y.astype(np.int64) if multilabel else np.eye(n_classes, dtype=np.int64)[y.astype(np.int64)]


def scorable(targets: np.ndarray) -> np.ndarray:
    """Boolean mask of the classes with at least one positive and one negative."""
    positives = targets.sum(axis=0)
    return (positives > 0) & (positives < len(targets))


def macro_metrics(targets: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Macro AUC and mAP (%) over the scorable classes; NaN when none is scorable."""
    keep = scorable(targets)
    if not keep.any():
        return {"auc": float("nan"), "map": float("nan")}
    y, s = targets[:, keep], scores[:, keep]
    return {
        "auc": 100.0 * float(roc_auc_score(y, s, average="macro")),
        "map": 100.0 * float(average_precision_score(y, s, average="macro")),
    }


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, multilabel: bool, class_names: list[str]
) -> tuple[dict[str, float], list[str]]:
    """Macro AUC and mAP (%) of `scores` (n, C); a class without positives or without
    negatives among `y_true` is skipped with a warning naming it."""
    scores = np.asarray(scores, dtype=np.float64)
    targets = one_hot(y_true, multilabel, scores.shape[1])
    positives = targets.sum(axis=0)
    warnings = [
        f"class '{name}' has {'no positives' if count == 0 else 'no negatives'} in the evaluated split; "
        "skipped from macro AUC/mAP"
        for name, count in zip(class_names, positives)
        if count == 0 or count == len(targets)
    ]
    if not scorable(targets).any():
        warnings.append("no class has both positives and negatives in the evaluated split; AUC/mAP undefined")
    return macro_metrics(targets, scores), warnings


def bootstrap_metrics(
    y_true: np.ndarray, scores: np.ndarray, multilabel: bool, class_names: list[str], n_resamples: int, seed: int = 0
) -> dict[str, list[float]]:
    """Paired bootstrap replicates of AUC and mAP (%) over test images.

    The resample indices depend only on (number of test images, seed), so every strategy is
    scored on the same resamples and replicate differences form a valid paired test. A class
    that cannot be scored in a resample is left out of that resample's macro average (NaN when
    no class can be). Resamples are scored as multiplicity weights, vectorised over resamples
    (`weighted_auc_ap`); the test suite checks each replicate against sklearn on the resample.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = one_hot(y_true, multilabel, len(class_names))
    n = len(targets)
    rng, _ = seed_generator(seed, f"bootstrap/{n}")
    indices = rng.integers(0, n, size=(n_resamples, n))
    replicates: dict[str, list[float]] = {"auc": [], "map": []}
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, n_resamples, chunk):
        block = indices[start : start + chunk]
        weights = np.stack([np.bincount(row, minlength=n) for row in block]).astype(np.float64)
        auc, ap = weighted_auc_ap(targets, scores, weights)
        for name, values in (("auc", auc), ("map", ap)):
            defined = np.isfinite(values)
            count = defined.sum(axis=1)
            total = np.where(defined, values, 0.0).sum(axis=1)
            macro = np.divide(100.0 * total, count, out=np.full(len(block), np.nan), where=count > 0)
            replicates[name].extend(macro.tolist())
    return replicates


def weighted_auc_ap(targets: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class ROC AUC and average precision (sklearn's definitions, tied scores grouped) of
    the data set in which image i appears weights[r, i] times, for every row r at once.

    With distinct thresholds in descending order and weighted positive/negative counts p_k, n_k
    per threshold: AUC = Σ_k p_k (N_below_k + n_k / 2) / (P·N) (Mann–Whitney U / (P·N)) and
    AP = Σ_k (p_k / P) · TP_k / (TP_k + FP_k) (sklearn's Σ (R_k − R_{k−1}) P_k).
    Returns two (R, C) arrays, NaN where a class has no positives or no negatives.
    """
    n_rows, n_classes = weights.shape[0], targets.shape[1]
    auc = np.full((n_rows, n_classes), np.nan)
    ap = np.full((n_rows, n_classes), np.nan)
    for c in range(n_classes):
        order = np.argsort(-scores[:, c], kind="stable")
        starts = np.r_[0, np.flatnonzero(np.diff(scores[order, c])) + 1]
        w = weights[:, order]
        pos = np.add.reduceat(w * targets[order, c], starts, axis=1)
        neg = np.add.reduceat(w, starts, axis=1) - pos
        tps, fps = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        n_pos, n_neg = tps[:, -1], fps[:, -1]
        ok = (n_pos > 0) & (n_neg > 0)
        u = (pos * (n_neg[:, None] - fps + 0.5 * neg)).sum(axis=1)
        precision = np.divide(tps, tps + fps, out=np.zeros_like(tps), where=tps + fps > 0)
        auc[ok, c] = u[ok] / (n_pos[ok] * n_neg[ok])
        ap[ok, c] = (pos * precision).sum(axis=1)[ok] / n_pos[ok]
    return auc, ap
