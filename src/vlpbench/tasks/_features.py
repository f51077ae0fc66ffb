"""Frozen backbone features (pooled, before the projection), extracted once per
(checkpoint, dataset, split) and cached as .npy so every seed and C value reuses them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vlpbench.core.atomic import atomic_write
from vlpbench.core.fingerprint import DigestIndex
from vlpbench.datasets.base import ClassificationSplit, ImageSource
from vlpbench.datasets.files import image_source_digest
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.strategies.base import Strategy


def feature_cache_path(cache_dir: Path, checkpoint_hash: str, dataset: str, split_name: str,
                       split: ClassificationSplit, size: int, digests: DigestIndex | None = None) -> Path:
    """Cache file for one split: keyed by checkpoint, dataset, split, image size and the content of
    every image and label (`image_source_digest`: image files through `digests`), so a regenerated
    set, an edited label or an image overwritten or damaged since never reuses stale features."""
    digest = hashlib.sha256(np.ascontiguousarray(split.labels).tobytes())
    digest.update(image_source_digest(split.images, digests or DigestIndex(None)).encode())
    name = f"{dataset}-{split_name}-{size}px-n{len(split.images)}-{digest.hexdigest()[:16]}.npy"
    return cache_dir / "features" / checkpoint_hash / name


def extract_features(
    model: Strategy, images: ImageSource, indices: np.ndarray, size: int, batch_size: int,
    device: str | torch.device, cache_path: Path | None, embed: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """`embed` (default `model.image_features`) of images[indices] as float32 (n, dim), in eval
    mode without gradients; read from / written atomically to `cache_path` when given."""
    embed = embed or model.image_features
    indices = np.asarray(indices, dtype=np.int64)
    if cache_path is not None and cache_path.exists():
        cached = np.load(cache_path)
        if cached.shape[0] == len(indices):
            return cached
    was_training = model.training
    model.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            batch = load_batch(images, indices[start : start + batch_size], size).to(device)
            parts.append(embed(batch).float().cpu().numpy())
    model.train(was_training)
    features = np.concatenate(parts).astype(np.float32)
    if cache_path is not None:
        def write(temp: Path) -> None:
            with open(temp, "wb") as stream:
                np.save(stream, features)

        atomic_write(cache_path, write)
    return features
