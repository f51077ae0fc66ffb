"""Colour-only probes of the synthetic sets (the generator test's yardstick, issue 24).

Classification: a logistic regression on 78 colour statistics of each image (per-channel mean and
SD, per-channel 8-bin histograms, a 4 × 4 grid of mean colours), standardised, C chosen on val by
macro AUC, macro AUC on test. Segmentation: a per-pixel logistic regression on the 3 × 3 RGB
neighbourhood (27 numbers), threshold chosen on val, pooled DSC on test. The features are the
`colour-only` reference row's (`vlpbench.datasets.colour_statistics`).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from vlpbench.datasets.colour_statistics import N_NEIGHBOURHOOD_FEATURES, colour_statistics, neighbourhood_features
from vlpbench.tasks._metrics import classification_metrics
from vlpbench.tasks.linear_probe import fit_probe

C_GRID = (0.01, 0.1, 1.0, 10.0)


def probe_auc(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
              test: tuple[np.ndarray, np.ndarray], multilabel: bool, n_classes: int) -> float:
    """Test macro AUC (%) of the colour-statistics probe: the linear probe's own fit (`fit_probe`,
    C chosen on val), as the `colour-only` row is scored."""
    names = [str(c) for c in range(n_classes)]
    features = {split: colour_statistics(images) for split, (images, _) in (("train", train), ("val", val), ("test", test))}
    probe, _ = fit_probe(features["train"], train[1], features["val"], val[1], multilabel, names, list(C_GRID), 0)
    return classification_metrics(test[1], probe.scores(features["test"]), multilabel, names)[0]["auc"]


def pixel_probe_dsc(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                    test: tuple[np.ndarray, np.ndarray], max_pixels: int = 60000, seed: int = 0) -> list[float]:
    """Pooled test DSC (%) per lesion of a per-pixel logistic regression on the 3 × 3 RGB
    neighbourhood; masks (n, L, H, W); training pixels subsampled, threshold chosen on val."""
    rng = np.random.default_rng(seed)
    feats = {k: neighbourhood_features(s[0]).reshape(-1, N_NEIGHBOURHOOD_FEATURES) for k, s in (("train", train), ("val", val), ("test", test))}
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
