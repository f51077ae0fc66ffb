"""Colour statistics of images: what a model without any representation can read off the pixels.

`colour_statistics` gives 78 numbers per image — per-channel mean and SD (6), per-channel 8-bin
histograms (24) and the mean colour of each cell of a 4 × 4 grid (48) — the features of the
`colour-only` reference row's classifiers and of the synthetic-data checks that labels do not
live in colour. `neighbourhood_features` gives each pixel its 3 × 3 RGB neighbourhood (27
numbers), the features of the per-pixel reference segmenter. Both scale intensities to [0, 1].
"""

from __future__ import annotations

import numpy as np

from vlpbench.core.errors import VlpbenchError

HISTOGRAM_BINS = 8
GRID = 4
#: 6 moments + 3 × 8 histogram bins + 4 × 4 × 3 grid means
N_COLOUR_STATISTICS = 6 + 3 * HISTOGRAM_BINS + GRID * GRID * 3
NEIGHBOURHOOD = 3
N_NEIGHBOURHOOD_FEATURES = NEIGHBOURHOOD * NEIGHBOURHOOD * 3


def _check(images: np.ndarray, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise VlpbenchError(f"{what}: expected uint8 images of shape (n, H, W, 3), got {images.dtype} {images.shape}")
    return images


def colour_statistics(images: np.ndarray) -> np.ndarray:
    """(n, 78) float64 features of (n, H, W, 3) uint8 images, in this order: channel means (3),
    channel SDs (3), channel histograms (3 × 8 bins of width 32, as shares of the pixels) and
    the channel means of a 4 × 4 grid of cells (row-major cells, then channels; a side not
    divisible by 4 gives the first cells one pixel more, as `np.array_split`)."""
    images = _check(images, "colour_statistics")
    n, height, width, _ = images.shape
    if height < GRID or width < GRID:
        raise VlpbenchError(f"colour_statistics: images of {height} × {width} px are smaller than the {GRID} × {GRID} grid")
    pixels = images.reshape(n, -1, 3).astype(np.float64) / 255.0
    bins = (images.reshape(n, -1, 3) // (256 // HISTOGRAM_BINS)).astype(np.int64)  # (n, P, 3) bin of each value
    offsets = (np.arange(n)[:, None] * 3 + np.arange(3)[None, :]) * HISTOGRAM_BINS  # (n, 3)
    counts = np.bincount((bins + offsets[:, None, :]).ravel(), minlength=n * 3 * HISTOGRAM_BINS)
    histograms = counts.reshape(n, 3 * HISTOGRAM_BINS) / (height * width)
    cells = [block.mean(axis=(1, 2)) for rows in np.array_split(images.astype(np.float64) / 255.0, GRID, axis=1)
             for block in np.array_split(rows, GRID, axis=2)]  # 16 × (n, 3)
    grid = np.stack(cells, axis=1).reshape(n, GRID * GRID * 3)
    return np.concatenate([pixels.mean(axis=1), pixels.std(axis=1), histograms, grid], axis=1)


def neighbourhood_features(images: np.ndarray) -> np.ndarray:
    """(n, H, W, 27) float32: for each pixel the RGB values of its 3 × 3 neighbourhood in [0, 1]
    (offsets row-major from (−1, −1) to (+1, +1), channels innermost; edges replicated)."""
    images = _check(images, "neighbourhood_features")
    _, height, width, _ = images.shape
    half = NEIGHBOURHOOD // 2
    padded = np.pad(images.astype(np.float32) / 255.0, ((0, 0), (half, half), (half, half), (0, 0)), mode="edge")
    shifted = [padded[:, dy : dy + height, dx : dx + width] for dy in range(NEIGHBOURHOOD) for dx in range(NEIGHBOURHOOD)]
    return np.concatenate(shifted, axis=-1)
