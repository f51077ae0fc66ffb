"""Generate rendered, site-shifted, reported eyes — the common core of the synthetic corpus
and every synthetic evaluation set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from vlpbench.datasets.synthetic.latent import EyeFindings
from vlpbench.datasets.synthetic.render import render_eye
from vlpbench.datasets.synthetic.reports import write_report
from vlpbench.datasets.synthetic.sampler import sample_findings
from vlpbench.datasets.synthetic.sites import SITES, apply_site

MIN_RENDER_SIZE = 64  # lesions are drawn at ≥ 64 px and area-downsampled for smaller sets

#: returns a class key for an accepted eye (quota bucket), or None to reject it
Acceptor = Callable[[EyeFindings], "str | None"]


@dataclass
class GeneratedEyes:
    """n eyes: images (n, S, S, 3) uint8, lesion masks (n, 3, S, S) uint8, truth and reports."""

    images: np.ndarray
    masks: np.ndarray
    findings: list[EyeFindings]
    reports: list[str]
    sites: list[str]


def draw_findings(
    rng: np.random.Generator, n: int, quotas: dict[str, int] | None = None, accept: Acceptor | None = None,
    **sampler_options,
) -> list[EyeFindings]:
    """n latent eyes from the sampler; with `accept` + `quotas`, rejection-sample each bucket."""
    if accept is None:
        return sample_findings(rng, n, **sampler_options)
    quotas = dict(quotas or {})
    kept: list[EyeFindings] = []
    for _ in range(200):
        for eye in sample_findings(rng, max(256, 2 * n), **sampler_options):
            bucket = accept(eye)
            if bucket is not None and quotas.get(bucket, 0) > 0:
                kept.append(eye)
                quotas[bucket] -= 1
        if not any(quotas.values()):
            order = rng.permutation(len(kept))
            return [kept[i] for i in order]
    raise RuntimeError(f"synthetic generator could not fill quotas {quotas}")


def render_eyes(
    findings: list[EyeFindings], size: int, site_names: list[str], rng: np.random.Generator, language: str = "zh",
) -> GeneratedEyes:
    """Render, apply a random site from `site_names`, write a report, for every eye."""
    render_size = max(size, MIN_RENDER_SIZE)
    images = np.empty((len(findings), size, size, 3), np.uint8)
    masks = np.empty((len(findings), 3, size, size), np.uint8)
    reports, sites = [], []
    for i, eye in enumerate(findings):
        site = site_names[int(rng.integers(len(site_names)))]
        rendered = render_eye(eye, rng, render_size)
        image, mask = apply_site(rendered.image, rendered.masks, SITES[site], rng)
        if render_size != size:
            image, mask = _downsample(image, mask, size)
        images[i], masks[i] = image, mask
        reports.append(write_report(eye, rng, language))
        sites.append(site)
    return GeneratedEyes(images, masks, findings, reports, sites)


def _downsample(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Area (box) downsampling; a mask pixel stays set where the lesion covers ≥ half of it."""
    picture = Image.fromarray(image).resize((size, size), Image.Resampling.BOX)
    coverage = np.stack([np.asarray(Image.fromarray(m.astype(np.float32)).resize((size, size), Image.Resampling.BOX)) for m in mask])
    return np.asarray(picture), (coverage >= 0.5).astype(np.uint8)
