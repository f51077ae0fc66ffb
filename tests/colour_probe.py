"""Colour-only probes of the synthetic sets (the generator test's yardstick, issue 24).

Classification: a logistic regression on 78 colour statistics of each image (per-channel mean and
SD, per-channel 8-bin histograms, a 4 × 4 grid of mean colours), standardised, C chosen on val by
macro AUC, macro AUC on test. Segmentation: a per-pixel logistic regression on the 3 × 3 RGB
neighbourhood (27 numbers), threshold chosen on val, pooled DSC on test.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

from vlpbench.tasks._metrics import macro_metrics, one_hot

C_GRID = (0.01, 0.1, 1.0, 10.0)


def colour_statistics(images: np.ndarray) -> np.ndarray:
    """(n, 78) colour statistics of (n, H, W, 3) uint8 images."""
    x = np.asarray(images, np.float32) / 255
    n, h, w, _ = x.shape
    flat = x.reshape(n, -1, 3)
    moments = [flat.mean(1), flat.std(1)]
    bins = np.minimum((flat * 8).astype(np.int64), 7)
    hist = np.stack([(bins == b).mean(1) for b in range(8)], -1).reshape(n, 24)
    grid = x[:, : h - h % 4, : w - w % 4].reshape(n, 4, h // 4, 4, w // 4, 3).mean((2, 4)).reshape(n, 48)
    return np.concatenate([*moments, hist, grid], 1)


def probe_auc(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
              test: tuple[np.ndarray, np.ndarray], multilabel: bool, n_classes: int) -> float:
    """Test macro AUC (%) of the colour-statistics probe, C chosen on val."""
    scaler = StandardScaler().fit(colour_statistics(train[0]))
    feats = {k: scaler.transform(colour_statistics(s[0])) for k, s in (("train", train), ("val", val), ("test", test))}
    target = train[1] if multilabel else train[1].astype(np.int64)
    best, best_auc = None, -np.inf
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000)
        model = (OneVsRestClassifier(model) if multilabel else model).fit(feats["train"], target)
        auc = _auc(model, feats["val"], val[1], multilabel, n_classes)
        if auc > best_auc:
            best, best_auc = model, auc
    return _auc(best, feats["test"], test[1], multilabel, n_classes)


def _auc(model, features: np.ndarray, labels: np.ndarray, multilabel: bool, n_classes: int) -> float:
    scores = model.predict_proba(features)
    if not multilabel:  # columns for the classes the model saw
        full = np.zeros((len(features), n_classes))
        full[:, model.classes_] = scores
        scores = full
    return macro_metrics(one_hot(labels, multilabel, n_classes), scores)["auc"]


def neighbourhoods(images: np.ndarray) -> np.ndarray:
    """(n·H·W, 27) 3 × 3 RGB neighbourhoods (edge-padded) of (n, H, W, 3) uint8 images."""
    x = np.pad(np.asarray(images, np.float32) / 255, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    n, h, w = images.shape[:3]
    parts = [x[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]
    return np.concatenate(parts, -1).reshape(-1, 27)


def pixel_probe_dsc(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                    test: tuple[np.ndarray, np.ndarray], max_pixels: int = 60000, seed: int = 0) -> list[float]:
    """Pooled test DSC (%) per lesion of a per-pixel logistic regression on the 3 × 3 RGB
    neighbourhood; masks (n, L, H, W); training pixels subsampled, threshold chosen on val."""
    rng = np.random.default_rng(seed)
    feats = {k: neighbourhoods(s[0]) for k, s in (("train", train), ("val", val), ("test", test))}
    scaler = StandardScaler().fit(feats["train"])
    dsc = []
    for lesion in range(train[1].shape[1]):
        y = {k: s[1][:, lesion].reshape(-1) for k, s in (("train", train), ("val", val), ("test", test))}
        pick = rng.choice(len(y["train"]), min(max_pixels, len(y["train"])), replace=False)
        if y["train"][pick].min() == y["train"][pick].max():
            dsc.append(0.0)
            continue
        model = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(feats["train"][pick]), y["train"][pick])
        p_val = model.predict_proba(scaler.transform(feats["val"]))[:, 1]
        threshold = max(np.quantile(p_val, np.linspace(0.5, 0.999, 40)), key=lambda t: _dice(p_val >= t, y["val"]))
        p_test = model.predict_proba(scaler.transform(feats["test"]))[:, 1]
        dsc.append(_dice(p_test >= threshold, y["test"]))
    return dsc


def _dice(pred: np.ndarray, truth: np.ndarray) -> float:
    inter = float((pred & (truth > 0)).sum())
    total = float(pred.sum() + (truth > 0).sum())
    return 100.0 * 2 * inter / total if total else 100.0
