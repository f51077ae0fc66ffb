"""Acquisition sites: camera/colour/optics differences applied after rendering.

The corpus is drawn from the training sites; evaluation sets use unseen (out-of-distribution)
sites: one with a strong colour cast and gamma, one with blur, noise and vignetting.

Colour is a nuisance, not a label: every camera first auto-exposes and white-balances (the
field of view's per-channel mean and SD are set to a reference, whatever the findings; a hazy
image is stretched at most MAX_STRETCH times), then each image gets its own white balance,
exposure, contrast and gamma, drawn from one distribution for every eye, so global colour says
which camera and patient took the picture, not what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter

from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.synthetic.render import FOV_RADIUS, SURROUND


@dataclass(frozen=True)
class Site:
    """One camera set-up.

    gains: per-channel RGB multipliers (colour cast); gamma: exponent on intensities in 0..1;
    blur: Gaussian sigma as a fraction of the image side; vignetting: relative darkening at the
    field-of-view edge; noise: noise std in grey levels (uniform noise); fov_scale: zoom about the centre
    (> 1 crops the field of view, < 1 shrinks it), applied identically to image and masks;
    jitter: per-image relative spread of the channel gains (white balance); exposure: per-image
    log-SD of brightness; contrast: per-image log-SD of contrast; gamma_jitter: per-image
    relative spread of gamma.
    """

    name: str
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gamma: float = 1.0
    blur: float = 0.0
    vignetting: float = 0.0
    noise: float = 0.0
    fov_scale: float = 1.0
    jitter: float = 0.08
    exposure: float = 0.18
    contrast: float = 0.2
    gamma_jitter: float = 0.1


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
# what auto-exposure sets every field of view to: per-channel mean and SD (0..1), a typical fundus
REFERENCE_MEAN = np.array([0.62, 0.27, 0.11])
REFERENCE_SD = np.array([0.11, 0.075, 0.04])
MAX_STRETCH = 2.0  # auto-contrast stretches a flat (hazy) image at most this much


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


@lru_cache(maxsize=8)
def _fov_alpha(size: int) -> np.ndarray:
    """The renderer's field-of-view alpha: 1 inside, anti-aliased over one pixel at the edge."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    r = np.sqrt(c[:, None] ** 2 + c[None, :] ** 2)
    return np.clip((FOV_RADIUS - r) * (size / 2) + 0.5, 0, 1).astype(np.float32)


def _fov_moments(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and SD (0..1) of the field of view."""
    inside = image[_fov_alpha(image.shape[0]) > 0.5].astype(np.float64) / 255
    return inside.mean(0), np.maximum(inside.std(0), 1e-3)


def apply_site(image: np.ndarray, masks: np.ndarray | None, site: Site,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Image (H, W, 3) uint8 and optional masks (L, H, W) → the same as seen through `site`.

    Order: auto-exposure, this image's white balance, exposure, contrast, then the site's colour
    gains and gamma (one per-channel lookup table on the uint8 input), field-of-view zoom (image
    bilinear, masks nearest), blur, vignetting, noise (uniform, std = site.noise).
    """
    size = image.shape[0]
    j = rng.normal(0, 1, 6)
    levels = np.arange(256, dtype=np.float64)[None, :] / 255
    mean, sd = _fov_moments(image)
    contrast = np.clip(REFERENCE_SD / sd, 0.5, MAX_STRETCH) * np.exp(site.contrast * j[4])
    exposed = (levels - mean[:, None]) * contrast[:, None] + REFERENCE_MEAN[:, None]
    exposed *= np.exp(site.exposure * j[3]) * (1 + site.jitter * j[:3, None])
    gains = np.asarray(site.gains)[:, None]
    gamma = site.gamma * np.exp(site.gamma_jitter * j[5])
    lut = (np.clip(exposed * gains, 0, 1) ** gamma).astype(np.float32).reshape(-1)
    fov = _fov_alpha(size)
    img = np.take(lut, image.transpose(2, 0, 1) + _CHANNEL_OFFSET) * fov + np.float32(SURROUND) * (1 - fov)
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
