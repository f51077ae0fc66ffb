"""Shared pieces of the public-dataset loaders: finding the dataset folder under `--data-root`,
class terms (knowledge-base terms become the zero-shot prompts), and assembling a dataset with
its data card."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.base import (
    ClassificationDataset,
    ClassificationSplit,
    DatasetOptions,
    SegmentationDataset,
    SegmentationSplit,
)
from vlpbench.datasets.files import FileImageSource, FileMaskSource, require_dir
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base

#: seed of every documented split of a dataset without an official one (saved beside the data)
SPLIT_SEED = 0
#: train/val/test shares for datasets without an official split
FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
#: share of an official training set held out for validation when only train/test ship
VAL_FRACTIONS = {"train": 0.8, "val": 0.2}
#: segmentation label space of every segmentation set (this order)
LESIONS = ["hemorrhage", "cotton_wool_spot", "hard_exudate"]
#: how a DR stage is appended to the knowledge-base term (as in the synthetic grading set)
STAGE_FORMAT = {"zh": "{term}{stage}期", "en": "{term} stage {stage}"}


@dataclass(frozen=True)
class ClassTerm:
    """One class: its name in the dataset and the medical term prompting it.

    `key` names the knowledge-base category whose zh/en terms are used; classes narrower than
    any category (e.g. BRVO) carry their own `zh`/`en` terms instead.
    """

    name: str
    key: str | None = None
    zh: str = ""
    en: str = ""
    stage: int | None = None


def dataset_root(options: DatasetOptions, name: str, folders: Sequence[str], markers: Sequence[str]) -> Path:
    """`data_root/<folder>` for the first of `folders` that exists, or `data_root` itself when it
    already is the dataset folder (holds one of `markers`)."""
    if options.data_root is None:
        raise VlpbenchError(
            f"dataset '{name}' reads the real data: give --data-root DIR (expected DIR/{folders[0]}/{markers[0]})"
        )
    root = require_dir(Path(options.data_root), f"dataset '{name}' data root")
    for folder in folders:
        if (root / folder).is_dir():
            return root / folder
    if any((root / marker).exists() for marker in markers):
        return root
    raise VlpbenchError(
        f"dataset '{name}': expected folder {root / folders[0]} (or --data-root pointing at the dataset "
        f"folder itself, holding {markers[0]})"
    )


def class_prompts(classes: Sequence[ClassTerm]) -> dict[str, list[str]]:
    """zh and en prompt terms, one per class."""

    prompts: dict[str, list[str]] = {}
    for language in ("zh", "en"):
        kb = load_knowledge_base(language)
        terms = []
        for c in classes:
            if c.key is None:
                terms.append(c.zh if language == "zh" else c.en)
            elif c.stage is not None:
                terms.append(STAGE_FORMAT[language].format(term=kb.term(c.key), stage=c.stage))
            else:
                terms.append(kb.term(c.key))
        prompts[language] = terms
    return prompts


def label_card(classes: Sequence[ClassTerm], prompts: dict[str, list[str]]) -> dict[str, dict]:
    """The label space as the data card lists it: zh/en term and knowledge-base key per class."""
    return {
        c.name: {"zh": prompts["zh"][i], "en": prompts["en"][i], "kb_key": c.key}
        for i, c in enumerate(classes)
    }


def classification_dataset(
    name: str, classes: Sequence[ClassTerm], multilabel: bool, paths: dict[str, list[Path]],
    labels: dict[str, np.ndarray], options: DatasetOptions, card: dict,
) -> ClassificationDataset:
    """Lazy image sources per split (undecodable images skipped and counted when asked)."""
    splits, skipped = {}, []
    for split, split_paths in paths.items():
        source = FileImageSource(split_paths, options.image_size, options.skip_bad_images)
        _require_images(name, split, source)
        splits[split] = ClassificationSplit(source, np.asarray(labels[split])[source.kept])
        skipped += source.skipped
    prompts = class_prompts(classes)
    card = {
        **card, "multilabel": multilabel, "labels": label_card(classes, prompts),
        "counts": {split: len(s.images) for split, s in splits.items()},
        "skipped_images": len(skipped), "skipped_files": [str(p) for p in skipped],
    }
    return ClassificationDataset(name, [c.name for c in classes], multilabel, prompts, splits, card=card)


def segmentation_dataset(
    name: str, images: dict[str, list[Path]], masks: dict[str, list[list[Path | None]]],
    options: DatasetOptions, card: dict,
) -> SegmentationDataset:
    """Lazy image and mask sources per split; masks in `LESIONS` order."""
    splits, skipped = {}, []
    for split, split_paths in images.items():
        source = FileImageSource(split_paths, options.image_size, options.skip_bad_images)
        _require_images(name, split, source)
        kept_masks = [masks[split][i] for i in source.kept]
        splits[split] = SegmentationSplit(source, FileMaskSource(source.paths, kept_masks, options.image_size))
        skipped += source.skipped
    prompts = class_prompts([ClassTerm(lesion, lesion) for lesion in LESIONS])
    card = {
        **card, "labels": label_card([ClassTerm(lesion, lesion) for lesion in LESIONS], prompts),
        "counts": {split: len(s.images) for split, s in splits.items()},
        "skipped_images": len(skipped), "skipped_files": [str(p) for p in skipped],
    }
    return SegmentationDataset(name, list(LESIONS), splits, card=card)


def _require_images(name: str, split: str, source: FileImageSource) -> None:
    if len(source) == 0:
        skipped = f" ({len(source.skipped)} undecodable image(s) skipped)" if source.skipped else ""
        raise VlpbenchError(f"dataset '{name}': split '{split}' has no images{skipped}")


def image_files(folder: Path, what: str, suffixes: Sequence[str] = (".jpg", ".jpeg", ".png", ".tif", ".tiff")) -> list[Path]:
    """The image files directly inside `folder`, sorted by name."""
    require_dir(folder, what)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
