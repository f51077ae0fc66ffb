"""`bench data write|preview`: the synthetic sets on disk (PNG + CSV) and a contact sheet.

Layout under OUT (read back by the same builders with `--data-root OUT`, and the corpus by
the manifest loader):
  syn-corpus/manifest.csv               image, report, site?, <33 category columns>
  syn-corpus/images/000000.png
  <classification set>/<split>/labels.csv   image, <class columns> (multi-label) | image, label
  <classification set>/<split>/images/000000.png
  <segmentation set>/<split>/images/000000.png
  <segmentation set>/<split>/masks/<lesion>/000000.png   (0/255)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vlpbench.benchmark.config import RunConfig
from vlpbench.benchmark.errors import VlpbenchError
from vlpbench.datasets.base import (
    ClassificationDataset, ClassificationSplit, SegmentationDataset, SegmentationSplit,
)

SYNTHETIC_SETS = ("syn-rfmid", "syn-odir", "syn-refuge", "syn-messidor", "syn-fives")
SYNTHETIC_SEG_SETS = ("syn-idrid", "syn-retinal-lesions", "syn-fgadr")


def write_synthetic(config: RunConfig, out: Path) -> list[str]:
    """Write the corpus and every synthetic evaluation set; returns the set names."""
    from vlpbench.benchmark.workspace import Workspace
    from vlpbench.datasets.knowledge_base import CATEGORY_KEYS

    workspace = Workspace(config)
    corpus = workspace.corpus()
    folder = out / "syn-corpus"
    names = _write_images(folder / "images", corpus.images)
    table = pd.DataFrame({"image": [f"images/{n}" for n in names], "report": corpus.reports})
    table[list(CATEGORY_KEYS)] = np.asarray(corpus.labels, dtype=np.uint8)
    table["split"] = np.where(np.isin(np.arange(len(names)), corpus.val_indices), "val", "train")
    table.to_csv(folder / "manifest.csv", index=False)
    for name in SYNTHETIC_SETS:
        dataset = workspace.dataset(name, config.eval.image_size)
        for split, part in dataset.splits.items():
            names = _write_images(out / name / split / "images", part.images)
            if dataset.multilabel:
                labels = pd.DataFrame(np.asarray(part.labels), columns=dataset.class_names)
            else:
                labels = pd.DataFrame({"label": [dataset.class_names[i] for i in part.labels]})
            labels.insert(0, "image", names)
            labels.to_csv(out / name / split / "labels.csv", index=False)
    for name in SYNTHETIC_SEG_SETS:
        dataset = workspace.dataset(name, config.eval.seg_image_size)
        for split, part in dataset.splits.items():
            _write_images(out / name / split / "images", part.images)
            masks = np.asarray(part.masks)
            for index, lesion in enumerate(dataset.lesion_names):
                _write_images(out / name / split / "masks" / lesion, masks[:, index] * 255)
    return ["syn-corpus", *SYNTHETIC_SETS, *SYNTHETIC_SEG_SETS]


def read_classification_set(folder: Path, template: ClassificationDataset) -> ClassificationDataset:
    """A written classification set, with the label space of `template`."""
    splits = {}
    for split in template.splits:
        table = _read_labels(folder / split / "labels.csv")
        images = _read_images(folder / split / "images", table["image"])
        if template.multilabel:
            missing = [c for c in template.class_names if c not in table.columns]
            if missing:
                raise VlpbenchError(f"{folder / split / 'labels.csv'}: missing class column '{missing[0]}'")
            labels = table[template.class_names].to_numpy(np.uint8)
        else:
            unknown = sorted(set(table["label"]) - set(template.class_names))
            if unknown:
                raise VlpbenchError(f"{folder / split / 'labels.csv'}: label '{unknown[0]}' is not one of {template.class_names}")
            labels = np.array([template.class_names.index(v) for v in table["label"]], np.int64)
        splits[split] = ClassificationSplit(images, labels)
    return ClassificationDataset(template.name, template.class_names, template.multilabel, template.prompts, splits,
                                 card={**template.card, "source": str(folder)})


def read_segmentation_set(folder: Path, template: SegmentationDataset) -> SegmentationDataset:
    splits = {}
    for split in template.splits:
        names = sorted(p.name for p in (folder / split / "images").glob("*.png"))
        images = _read_images(folder / split / "images", names)
        masks = np.stack([_read_images(folder / split / "masks" / lesion, names, mode="L") for lesion in template.lesion_names], 1)
        splits[split] = SegmentationSplit(images, (masks > 127).astype(np.uint8))
    return SegmentationDataset(template.name, template.lesion_names, splits, card={**template.card, "source": str(folder)})


def preview_synthetic(config: RunConfig, out: Path) -> None:
    """One sample per category (image, its report and labels) as a contact sheet PNG."""
    from vlpbench.benchmark.workspace import Workspace
    from vlpbench.datasets.knowledge_base import CATEGORY_KEYS
    from vlpbench.datasets.synthetic.preview import contact_sheet

    corpus = Workspace(config).corpus()
    labels = np.asarray(corpus.labels)
    samples = []
    for column, key in enumerate(CATEGORY_KEYS):
        hits = np.flatnonzero(labels[:, column])
        if len(hits):
            i = int(hits[0])
            samples.append((np.asarray(corpus.images[i]), corpus.reports[i], [k for k, v in zip(CATEGORY_KEYS, labels[i]) if v]))
    out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(samples, out)


def _write_images(folder: Path, images) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(len(images)):
        name = f"{index:06d}.png"
        Image.fromarray(np.asarray(images[index], dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names


def _read_labels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise VlpbenchError(f"{path} does not exist (expected the layout written by `bench data write`)")
    table = pd.read_csv(path)
    if "image" not in table.columns:
        raise VlpbenchError(f"{path}: missing column 'image'")
    return table


def _read_images(folder: Path, names, mode: str = "RGB") -> np.ndarray:
    arrays = []
    for name in names:
        path = folder / name
        try:
            with Image.open(path) as image:
                arrays.append(np.asarray(image.convert(mode)))
        except (OSError, ValueError):
            raise VlpbenchError(f"image {path} is missing or does not decode") from None
    return np.stack(arrays)
