"""`bench data write|preview`: the synthetic corpus and sets on disk (PNG + CSV), and a contact sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vlpbench.core.config import RunConfig
from vlpbench.core.registry import DATASETS, TASKS
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS
from vlpbench.datasets.synthetic.preview import contact_sheet
from vlpbench.engine.run_cache import Workspace
from vlpbench.report.fonts import use_cjk_font


def load_size(config: RunConfig, kind: str) -> int:
    """The side a `kind` set is loaded at: that of the first task accepting such sets."""
    for entry in TASKS.ordered():
        if kind in entry.obj.accepts:
            return entry.obj.image_size(config)
    return config.eval.image_size


def write_synthetic(config: RunConfig, out: Path) -> list[str]:
    """Write the corpus and every synthetic evaluation set; returns the set names."""
    workspace = Workspace(config)
    corpus = workspace.corpus()
    folder = out / "syn-corpus"
    names = _write_images(folder / "images", corpus.images)
    table = pd.DataFrame({"image": [f"images/{n}" for n in names], "report": corpus.reports})
    table[list(CATEGORY_KEYS)] = np.asarray(corpus.labels, dtype=np.uint8)
    table["split"] = np.where(np.isin(np.arange(len(names)), corpus.val_indices), "val", "train")
    table.to_csv(folder / "manifest.csv", index=False)
    synthetic = set(DATASETS.tagged("synthetic"))
    classification = [name for name in DATASETS.tagged("classification") if name in synthetic]
    segmentation = [name for name in DATASETS.tagged("segmentation") if name in synthetic]
    for name in classification:
        dataset = workspace.dataset(name, load_size(config, "classification"))
        for split, part in dataset.splits.items():
            names = _write_images(out / name / split / "images", part.images)
            if dataset.multilabel:
                labels = pd.DataFrame(np.asarray(part.labels), columns=dataset.class_names)
            else:
                labels = pd.DataFrame({"label": [dataset.class_names[i] for i in part.labels]})
            labels.insert(0, "image", names)
            labels.to_csv(out / name / split / "labels.csv", index=False)
    for name in segmentation:
        dataset = workspace.dataset(name, load_size(config, "segmentation"))
        for split, part in dataset.splits.items():
            _write_images(out / name / split / "images", part.images)
            masks = np.asarray(part.masks)
            for index, lesion in enumerate(dataset.lesion_names):
                _write_images(out / name / split / "masks" / lesion, masks[:, index] * 255)
    return ["syn-corpus", *classification, *segmentation]


def preview_synthetic(config: RunConfig, out: Path) -> None:
    """One sample per category (image, its report and labels) as a contact sheet PNG."""
    corpus = Workspace(config).corpus()
    labels = np.asarray(corpus.labels)
    samples = []
    for column, key in enumerate(CATEGORY_KEYS):
        hits = np.flatnonzero(labels[:, column])
        if len(hits):
            i = int(hits[0])
            samples.append((np.asarray(corpus.images[i]), corpus.reports[i], [k for k, v in zip(CATEGORY_KEYS, labels[i]) if v]))
    out.parent.mkdir(parents=True, exist_ok=True)
    use_cjk_font()  # registers a CJK font installed after matplotlib's font cache was built: reports are Chinese
    contact_sheet(samples, out)


def _write_images(folder: Path, images) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(len(images)):
        name = f"{index:06d}.png"
        Image.fromarray(np.asarray(images[index], dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names
