"""`bench data cards --out docs/synthetic-data-cards.md`: the data cards of the synthetic sets a
profile evaluates on, generated from the sets themselves (issue 24).

Per classification set: what it mirrors, its sites and split sizes, each class with the latent
findings that make it positive and its share of the training and test images, and the test macro
AUC of the `colour-only` probe (a logistic regression on the 78 colour statistics of each image,
C chosen on val, as the linear probe scores it) — what colour alone gets on that set. Per
segmentation set: each lesion type's share of images and of their pixels. The surrounding prose
(what the data shows and does not show) is `templates/synthetic-data-cards.md.tmpl`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from string import Template

import numpy as np

from vlpbench.app.data import load_size
from vlpbench.app.data_cards import write_markdown
from vlpbench.core.config import RunConfig
from vlpbench.core.registry import DATASETS
from vlpbench.datasets.base import ClassificationDataset, SegmentationDataset
from vlpbench.datasets.colour_statistics import colour_statistics
from vlpbench.engine.run_cache import Workspace
from vlpbench.tasks._metrics import classification_metrics
from vlpbench.tasks.linear_probe import fit_probe

TEMPLATE = "synthetic-data-cards.md.tmpl"


def render_synthetic_cards(config: RunConfig) -> str:
    """The markdown of docs/synthetic-data-cards.md for `config`'s profile."""
    workspace = Workspace(config)
    synthetic = set(DATASETS.tagged("synthetic"))
    classification = [name for name in DATASETS.tagged("classification") if name in synthetic]
    segmentation = [name for name in DATASETS.tagged("segmentation") if name in synthetic]
    sections, aucs = [], []
    for name in classification:
        dataset = workspace.dataset(name, load_size(config, "classification"))
        auc = colour_only_auc(dataset, config.task["linear-probe"].c_grid)
        aucs.append(auc)
        sections.append(_classification_section(dataset, auc))
    side = load_size(config, "segmentation")
    sections += [_segmentation_section(workspace.dataset(name, side)) for name in segmentation]
    template = Template((files("vlpbench.app") / "templates" / TEMPLATE).read_text(encoding="utf-8"))
    return template.substitute(
        profile=config.profile, classification_side=load_size(config, "classification"), segmentation_side=side,
        colour_auc=f"{np.mean(aucs):.1f}", sections="\n\n".join(sections),
    ).rstrip("\n") + "\n"


def write_synthetic_cards(config: RunConfig, path: Path) -> Path:
    """Write `render_synthetic_cards(config)` to `path`."""
    return write_markdown(path, render_synthetic_cards(config))


def colour_only_auc(dataset: ClassificationDataset, c_grid: list[float]) -> float:
    """Test macro AUC (%) of a logistic regression on each image's colour statistics, C chosen on
    val by macro AUC: the `colour-only` row's linear probe."""
    features = {split: colour_statistics(np.asarray(dataset.splits[split].images)) for split in ("train", "val", "test")}
    labels = {split: np.asarray(dataset.splits[split].labels) for split in ("train", "val", "test")}
    names = list(dataset.class_names)
    probe, _ = fit_probe(features["train"], labels["train"], features["val"], labels["val"], dataset.multilabel,
                         names, list(c_grid), 0)
    return classification_metrics(labels["test"], probe.scores(features["test"]), dataset.multilabel, names)[0]["auc"]


def _classification_section(dataset: ClassificationDataset, auc: float) -> str:
    card = dataset.card
    kind = "multi-label" if dataset.multilabel else "multi-class"
    rule = f": {card['label_rule']}" if card.get("label_rule") else ""
    lines = [f"## `{dataset.name}` — mirrors {card['mirrors']}", "",
             f"- **Labels:** {kind}{rule}",
             f"- **Sites:** {', '.join(card['sites'])} (never in the pretraining corpus)",
             f"- **Images:** {_sizes(card['sizes'])}",
             f"- **`colour-only` probe, test macro AUC:** {auc:.1f}", "",
             "| class | positive when the eye has | train % | test % |", "|---|---|---|---|"]
    shares = {split: _class_shares(np.asarray(dataset.splits[split].labels), len(dataset.class_names)) for split in ("train", "test")}
    for index, (name, keys) in enumerate(card["classes"].items()):
        findings = ", ".join(f"`{key}`" for key in keys) or "none of the graded findings (healthy)"
        lines.append(f"| {name} | {findings} | {shares['train'][index]:.0f} | {shares['test'][index]:.0f} |")
    return "\n".join(lines)


def _segmentation_section(dataset: SegmentationDataset) -> str:
    card = dataset.card
    lines = [f"## `{dataset.name}` — lesion segmentation", "",
             f"- **Sites:** {', '.join(card['sites'])} (never in the pretraining corpus)",
             f"- **Images:** {_sizes(card['sizes'])}", "",
             "| lesion | train images with it % | its pixels in those images % | test images with it % |", "|---|---|---|---|"]
    train, test = (np.asarray(dataset.splits[split].masks) > 0 for split in ("train", "test"))
    for index, lesion in enumerate(dataset.lesion_names):
        present = train[:, index].any(axis=(1, 2))
        area = 100 * train[present, index].mean() if present.any() else 0.0
        lines.append(f"| {lesion} | {100 * present.mean():.0f} | {area:.2f} | {100 * test[:, index].any(axis=(1, 2)).mean():.0f} |")
    return "\n".join(lines)


def _class_shares(labels: np.ndarray, classes: int) -> np.ndarray:
    """Per class, the percentage of images that are positive for it."""
    if labels.ndim == 2:
        return 100 * labels.mean(axis=0)
    return 100 * np.bincount(labels, minlength=classes) / max(len(labels), 1)


def _sizes(sizes: dict[str, int]) -> str:
    return " / ".join(f"{split} {n}" for split, n in sizes.items())
