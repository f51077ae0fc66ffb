"""Image arrays → normalised tensors, and the seeded augmentation stream (ViLReF §III-E:
horizontal flip p = 0.5, colour jitter 0.1 on brightness, contrast and saturation)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vlpbench.datasets.base import ImageSource

MEAN = 0.5
STD = 0.5


def load_batch(images: ImageSource, indices: Sequence[int] | np.ndarray, size: int) -> torch.Tensor:
    """Images `indices` of a source as a float tensor (n, 3, size, size), normalised to [-1, 1]."""
    if isinstance(images, np.ndarray):
        array = images[np.asarray(indices)]
    else:
        array = np.stack([images[int(i)] for i in indices]) if len(indices) else np.zeros((0, size, size, 3), np.uint8)
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div_(255.0)
    if tensor.shape[-1] != size or tensor.shape[-2] != size:
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (tensor - MEAN) / STD


def augment(images: torch.Tensor, generator: torch.Generator, jitter: float = 0.1) -> torch.Tensor:
    """Random horizontal flip and brightness/contrast/saturation jitter, drawn from `generator`."""
    n = images.shape[0]
    flip = torch.rand(n, generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    factors = 1.0 + (torch.rand(3, n, generator=generator) * 2 - 1) * jitter
    pixels = images * STD + MEAN
    pixels = pixels * factors[0, :, None, None, None]
    mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
    pixels = (pixels - mean) * factors[1, :, None, None, None] + mean
    grey = pixels.mean(dim=1, keepdim=True)
    pixels = (pixels - grey) * factors[2, :, None, None, None] + grey
    return (pixels.clamp(0, 1) - MEAN) / STD
