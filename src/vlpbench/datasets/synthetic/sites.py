"""Acquisition sites: camera/colour/optics differences applied after rendering.

The corpus is drawn from the training sites; evaluation sets use unseen (out-of-distribution)
sites: one with a strong colour cast and gamma, one with blur, noise and vignetting.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter

from vlpbench.core.errors import VlpbenchError


@dataclass(frozen=True)
class Site:
    """One camera set-up.

    gains: per-channel RGB multipliers (colour cast); gamma: exponent on intensities in 0..1;
    blur: Gaussian sigma as a fraction of the image side; vignetting: relative darkening at the
    field-of-view edge; noise: noise std in grey levels (uniform noise); fov_scale: zoom about the centre
    (> 1 crops the field of view, < 1 shrinks it), applied identically to image and masks;
    jitter: per-image relative spread of gains and gamma.
    """

    name: str
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gamma: float = 1.0
    blur: float = 0.0
    vignetting: float = 0.0
    noise: float = 0.0
    fov_scale: float = 1.0
    jitter: float = 0.03


SITES: dict[str, Site] = {
    s.name: s
    for s in (
        Site("site-a", vignetting=0.15, noise=2.0),
        Site("site-b", gains=(1.06, 0.96, 0.88), gamma=1.12, blur=0.002, vignetting=0.3, noise=3.0, fov_scale=1.08),
        Site("site-c", gains=(0.95, 1.03, 1.08), gamma=0.92, vignetting=0.2, noise=4.0, fov_scale=0.94),
        Site("site-ood-1", gains=(0.72, 1.12, 1.45), gamma=0.75, vignetting=0.2, noise=3.0),
        Site("site-ood-2", gains=(1.0, 0.98, 0.96), gamma=1.05, blur=0.008, vignetting=0.65, noise=14.0,
             fov_scale=1.18),
    )
}
TRAIN_SITES = ("site-a", "site-b", "site-c")
_CHANNEL_OFFSET = np.array([0, 256, 512], np.uint16).reshape(3, 1, 1)
OOD_SITES = ("site-ood-1", "site-ood-2")


def get_site(name: str) -> Site:
    if name not in SITES:
        raise VlpbenchError(f"unknown acquisition site '{name}' (known: {', '.join(SITES)})")
    return SITES[name]


def _zoom(a: np.ndarray, scale: float, order: int) -> np.ndarray:
    """Zoom planar (C, N, N) data about the image centre, keeping its shape (zeros outside).

    Separable resampling: bilinear (order 1) for images, nearest (order 0) for masks.
    """
    n = a.shape[-1]
    src = (np.arange(n) - (n - 1) / 2) / scale + (n - 1) / 2
    inside = ((src >= -0.5) & (src <= n - 0.5)).astype(np.float32)
    if order == 0:
        i = np.clip(np.rint(src), 0, n - 1).astype(np.intp)
        keep = inside.astype(a.dtype)
        return a[:, i][:, :, i] * keep[:, None] * keep[None, :]
    i0 = np.clip(np.floor(src), 0, n - 2).astype(np.intp)
    f = np.clip(src - i0, 0, 1).astype(np.float32)
    rows = a[:, i0] * ((1 - f) * inside)[:, None] + a[:, i0 + 1] * (f * inside)[:, None]
    return rows[:, :, i0] * ((1 - f) * inside) + rows[:, :, i0 + 1] * (f * inside)


@lru_cache(maxsize=8)
def _vignette_falloff(size: int) -> np.ndarray:
    """min((r / FOV radius)², 1) on the pixel grid: 0 at the centre, 1 from the field-of-view edge."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return np.minimum((c[:, None] ** 2 + c[None, :] ** 2) / 0.94**2, 1).astype(np.float32)


def apply_site(image: np.ndarray, masks: np.ndarray | None, site: Site,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Image (H, W, 3) uint8 and optional masks (L, H, W) → the same as seen through `site`.

    Order: colour gains and gamma (a per-channel lookup table on the uint8 input), field-of-view
    zoom (image bilinear, masks nearest), blur, vignetting, noise (uniform, std = site.noise).
    """
    size = image.shape[0]
    j = rng.normal(0, site.jitter, 4) if site.jitter else np.zeros(4)
    levels = np.arange(256, dtype=np.float64)[None, :] / 255
    gains = np.asarray(site.gains)[:, None] * (1 + j[:3, None])
    lut = (np.clip(levels * gains, 0, 1) ** (site.gamma * (1 + j[3]))).astype(np.float32).reshape(-1)
    img = np.take(lut, image.transpose(2, 0, 1) + _CHANNEL_OFFSET)
    if site.fov_scale != 1.0:
        img = _zoom(img, site.fov_scale, 1)
        if masks is not None:
            masks = _zoom(masks, site.fov_scale, 0)
    sigma = site.blur * size
    if sigma > 0.05:
        img = gaussian_filter(img, (0, sigma, sigma), truncate=3.0)
    if site.vignetting:
        img *= 1 - np.float32(site.vignetting) * _vignette_falloff(size)
    if site.noise:
        img += (rng.random(img.shape, dtype=np.float32) - np.float32(0.5)) * np.float32(site.noise * 12**0.5 / 255)
    out = np.clip(img * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(1, 2, 0)), masks
