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


def site_augment(images: torch.Tensor, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Acquisition-site shift drawn per image from `generator`: per-channel gains (colour cast,
    log-gain ±0.4·s), gamma exp(±0.35·s), vignetting (radial darkening up to 0.6·s), Gaussian
    blur (σ ≤ 1 px, p = 0.3) and additive noise (σ ≤ 0.06·s) — the kinds of change the unseen
    evaluation sites apply, so the OOD gap measures the strategy, not a missing augmentation."""
    n, _, height, width = images.shape
    pixels = (images * STD + MEAN).clamp(0, 1)
    gains = torch.exp((torch.rand(n, 3, generator=generator) * 2 - 1) * 0.4 * strength)
    gamma = torch.exp((torch.rand(n, generator=generator) * 2 - 1) * 0.35 * strength)
    pixels = (pixels * gains[:, :, None, None]).clamp(0, 1) ** gamma[:, None, None, None]
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    radius = (xs**2 + ys**2).clamp(max=1.0)
    vignette = torch.rand(n, generator=generator) * 0.6 * strength
    pixels = pixels * (1 - vignette[:, None, None, None] * radius)
    blurred = torch.rand(n, generator=generator) < 0.3 * min(strength, 1.0)
    sigma = 0.3 + 0.7 * torch.rand(n, generator=generator)
    if blurred.any():
        pixels[blurred] = torch.stack([_gaussian_blur(p, float(s)) for p, s in zip(pixels[blurred], sigma[blurred])])
    noise = torch.rand(n, generator=generator) * 0.06 * strength
    pixels = pixels + noise[:, None, None, None] * torch.randn(pixels.shape, generator=generator)
    return (pixels.clamp(0, 1) - MEAN) / STD


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(3, H, W) image blurred with a separable 5-tap Gaussian of std `sigma` pixels."""
    taps = torch.exp(-(torch.arange(-2, 3, dtype=image.dtype) ** 2) / (2 * sigma**2))
    taps = taps / taps.sum()
    x = image[:, None]
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), taps.view(1, 1, 1, 5))
    x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), taps.view(1, 1, 5, 1))
    return x[:, 0]
