"""Read back the synthetic sets that `bench data write` put on disk (PNG + CSV).

Layout under OUT (read by the same builders with `--data-root OUT`, and the corpus by
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

from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.base import (
    ClassificationDataset,
    ClassificationSplit,
    SegmentationDataset,
    SegmentationSplit,
)


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


def _read_labels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise VlpbenchError(f"{path} does not exist (expected the layout written by `bench data write`)")
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as error:  # not UTF-8, malformed, empty
        raise VlpbenchError(f"{path}: cannot read as CSV ({' '.join(str(error).split()) or type(error).__name__})") from None
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
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise VlpbenchError(f"image {path} is missing or does not decode ({' '.join(str(error).split())})") from None
    return np.stack(arrays)
