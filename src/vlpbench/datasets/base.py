"""The data model every loader returns: pretraining corpora, classification and segmentation sets.

Images are any `ImageSource`: a sequence whose items are uint8 arrays of shape (H, W, 3).
A numpy array of shape (n, H, W, 3) is one; `FileImageSource` reads files lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from vlpbench.core.config import CorpusConfig
from vlpbench.core.errors import VlpbenchError


class ImageSource(Protocol):
    """A random-access sequence of RGB uint8 images (H, W, 3)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class DatasetOptions:
    """What every dataset builder receives.

    `image_size` is the side the loader resizes to (0 keeps the native size); `seed` fixes the
    synthetic generator and any documented split; `size_scale` scales synthetic set sizes and
    `test_scale` their test splits once more (more test images, same train and val images);
    `cache_dir` (optional) keeps generated synthetic sets between runs; `corpus` is the run's
    pretraining corpus, which the `corpus` set (its validation pairs) is read from.
    """

    image_size: int = 64
    seed: int = 0
    data_root: Path | None = None
    size_scale: float = 1.0
    test_scale: float = 1.0
    skip_bad_images: bool = False
    cache_dir: Path | None = None  # where generated synthetic sets are cached
    corpus: CorpusConfig | None = None  # the run's pretraining corpus (the `corpus` set; default: the synthetic one)


@dataclass
class ClassificationSplit:
    """Images with labels: (n, C) 0/1 for multi-label sets, (n,) int class indices otherwise."""

    images: ImageSource
    labels: np.ndarray


@dataclass
class ClassificationDataset:
    """An evaluation set for linear-probe / finetune / ood-zsc.

    `prompts` maps a language ("zh", "en") to one medical term per class (knowledge-base terms).
    """

    name: str
    class_names: list[str]
    multilabel: bool
    prompts: dict[str, list[str]]
    splits: dict[str, ClassificationSplit]
    kind: Literal["classification"] = "classification"
    card: dict = field(default_factory=dict)

    def split(self, name: str) -> ClassificationSplit:
        return _split(self.name, self.splits, name)


@dataclass
class SegmentationSplit:
    """Images with binary lesion masks of shape (n, L, H, W) (uint8/bool), L = len(lesion_names)."""

    images: ImageSource
    masks: "MaskSource"


class MaskSource(Protocol):
    """A random-access sequence of (L, H, W) 0/1 masks."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


@dataclass
class SegmentationDataset:
    """An evaluation set for the `seg` task: one binary mask per lesion type."""

    name: str
    lesion_names: list[str]
    splits: dict[str, SegmentationSplit]
    kind: Literal["segmentation"] = "segmentation"
    card: dict = field(default_factory=dict)

    def split(self, name: str) -> SegmentationSplit:
        return _split(self.name, self.splits, name)


@dataclass
class PretrainCorpus:
    """Paired images and reports with 33-dim multi-hot labels (knowledge-base order)."""

    name: str
    images: ImageSource
    reports: list[str]
    labels: np.ndarray
    val_indices: np.ndarray
    language: str = "zh"
    kind: Literal["corpus"] = "corpus"
    card: dict = field(default_factory=dict)

    @property
    def train_indices(self) -> np.ndarray:
        mask = np.ones(len(self.reports), dtype=bool)
        mask[self.val_indices] = False
        return np.flatnonzero(mask)


Dataset = ClassificationDataset | SegmentationDataset | PretrainCorpus


def _split(dataset: str, splits: dict, name: str):
    if name not in splits:
        raise VlpbenchError(f"dataset '{dataset}' has no '{name}' split (has: {', '.join(splits)})")
    split = splits[name]
    if len(split.images) == 0:
        raise VlpbenchError(f"dataset '{dataset}': split '{name}' is empty")
    return split
