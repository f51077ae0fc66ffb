"""Linear probing (ViLReF §IV-C): frozen backbone features, a logistic-regression classifier
trained on a nested stratified fraction of the training split (M-FLAG §3.2), C chosen on the
validation split by macro AUC, AUC/mAP on the test split. Seed k re-draws the train/validation
partition of the pooled train + val images (`seeded_train_val`); the test split is fixed."""

from __future__ import annotations

import warnings as pywarnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

from vlpbench.core.checks import each, positive
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_task
from vlpbench.core.seeding import seed_generator
from vlpbench.datasets.base import ClassificationDataset
from vlpbench.strategies.base import Strategy
from vlpbench.tasks._features import extract_features, feature_cache_path
from vlpbench.tasks._metrics import classification_metrics
from vlpbench.tasks._sampling import nested_fraction_indices, seeded_train_val
from vlpbench.tasks.base import Task, TaskContext, TaskResult

DEFAULT_DATASETS = ("syn-rfmid", "syn-odir", "syn-refuge", "syn-messidor", "syn-fives")


@dataclass
class Probe:
    """A fitted probe: scaler + classifier, the chosen C and its validation AUC."""

    scaler: StandardScaler
    classifier: OneVsRestClassifier | LogisticRegression | DummyClassifier
    c: float
    val_auc: float
    n_classes: int
    multilabel: bool

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(n, C) class probabilities; a class the classifier never saw scores 0."""
        proba = self.classifier.predict_proba(self.scaler.transform(features))
        if isinstance(self.classifier, OneVsRestClassifier):
            return proba
        full = np.zeros((len(features), max(self.n_classes, 2)))
        full[:, self.classifier.classes_.astype(np.int64)] = proba
        return full[:, 1:] if self.multilabel else full  # one label column: P(positive)


def training_warnings(labels: np.ndarray, multilabel: bool, class_names: list[str]) -> list[str]:
    """Warnings for classes a training subset cannot teach (they get a constant score)."""
    if multilabel:
        positives = labels.sum(axis=0)
        return [
            f"class '{name}' has {'no positive' if count == 0 else 'only positive'} training samples "
            "in this subset; its probe is a constant classifier"
            for name, count in zip(class_names, positives) if count in (0, len(labels))
        ]
    present = set(np.unique(labels).tolist())
    return [f"class '{name}' is absent from this training subset; it scores 0"
            for c, name in enumerate(class_names) if c not in present]


def fit_probe(
    train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, multilabel: bool,
    class_names: list[str], c_grid: list[float], random_state: int,
) -> tuple[Probe, list[str]]:
    """Standardise on the training features, fit one logistic regression per C in `c_grid`
    and keep the one with the best validation macro AUC (the first on ties)."""
    if not c_grid:
        raise VlpbenchError("task.linear-probe.c_grid is empty; expected at least one C value such as [0.1, 1.0]")
    scaler = StandardScaler().fit(train_x)
    x = scaler.transform(train_x)
    notes = training_warnings(train_y, multilabel, class_names)
    target = train_y[:, 0] if multilabel and train_y.shape[1] == 1 else train_y  # one column: binary
    probes, converged = [], True
    for c in c_grid:
        with pywarnings.catch_warnings(record=True) as caught:  # sklearn's constant-label notices included
            pywarnings.simplefilter("always")
            classifier = _classifier(c, target, random_state).fit(x, target)
        converged &= not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        probe = Probe(scaler, classifier, c, float("nan"), len(class_names), multilabel)
        probe.val_auc = classification_metrics(val_y, probe.scores(val_x), multilabel, class_names)[0]["auc"]
        probes.append(probe)
    finite = [probe for probe in probes if np.isfinite(probe.val_auc)]
    best = max(finite, key=lambda probe: probe.val_auc) if finite else probes[0]
    if not np.isfinite(best.val_auc):
        notes.append(f"validation macro AUC undefined for every C; using C={best.c:g}")
    if not converged:
        notes.append("logistic regression reached max_iter without converging for some C")
    return best, notes


def _classifier(c: float, target: np.ndarray, random_state: int):
    """One-vs-rest for a multi-label matrix, multinomial for class indices, constant for one class."""
    regression = LogisticRegression(C=c, max_iter=1000, random_state=random_state)
    if target.ndim == 2:
        return OneVsRestClassifier(regression)
    if len(np.unique(target)) < 2:
        return DummyClassifier(strategy="prior")
    return regression


@dataclass
class LinearProbeOptions:
    """Inverse regularisation strengths C tried on the validation split."""

    c_grid: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0], metadata=each(positive))


@register_task(
    "linear-probe", description="frozen backbone features + logistic regression",
    info=PluginInfo(title="Linear probing", order=10, reference="ViLReF §IV-C; M-FLAG §3.2",
                    default_datasets=DEFAULT_DATASETS, cost=1.0),
)
class LinearProbe(Task):
    """Frozen pooled backbone features → StandardScaler → logistic regression (one-vs-rest for
    multi-label sets, multinomial otherwise)."""

    accepts = ("classification",)
    uses_fractions = True
    Options = LinearProbeOptions

    def evaluate(
        self, model: Strategy, dataset: ClassificationDataset, seed: int, fraction: float, context: TaskContext
    ) -> TaskResult:
        self.check_dataset(dataset)
        model.to(context.device)
        features, labels = {}, {}
        for name in ("train", "val", "test"):
            split = dataset.split(name)
            size = self.config.eval.image_size
            cache = feature_cache_path(context.cache_dir, context.checkpoint_hash, dataset.name, name, split, size,
                                       context.digests)
            features[name] = extract_features(model, split.images, np.arange(len(split.images)), size,
                                              self.config.eval.batch_size, context.device, cache)
            labels[name] = np.asarray(split.labels)
        train_rows, val_rows = seeded_train_val(labels["train"], labels["val"], seed)
        pooled_x = np.concatenate([features["train"], features["val"]])
        pooled_y = np.concatenate([labels["train"], labels["val"]])
        subset = train_rows[nested_fraction_indices(pooled_y[train_rows], fraction, seed)]
        rng, _ = seed_generator(seed, "linear-probe")
        probe, notes = fit_probe(
            pooled_x[subset], pooled_y[subset], pooled_x[val_rows], pooled_y[val_rows],
            dataset.multilabel, dataset.class_names, self.options.c_grid,
            int(rng.integers(2**31 - 1)),
        )
        metrics, test_notes = classification_metrics(
            labels["test"], probe.scores(features["test"]), dataset.multilabel, dataset.class_names
        )
        return TaskResult(metrics=metrics, warnings=notes + test_notes)
