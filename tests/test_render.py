"""Procedural fundus renderer, lesion masks, acquisition sites and the preview contact sheet."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage

from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS
from vlpbench.datasets.synthetic.latent import EyeFindings
from vlpbench.datasets.synthetic.render import LESION_MASKS, render_eye
from vlpbench.datasets.synthetic.sites import OOD_SITES, SITES, TRAIN_SITES, apply_site, get_site

CATEGORIES = CATEGORY_KEYS[1:]  # every finding category, knowledge-base order ("normal" left out)


def eye(*keys: str, **kw) -> EyeFindings:
    """Findings consistent with the latent rules (C/D > 0.5 ⇔ large cup, A:V < 2/3 ⇔ thin arteries)."""
    keys = keys or ("normal",)
    kw.setdefault("cup_disc_ratio", 0.75 if "large_optic_cup" in keys else 0.3)
    kw.setdefault("av_ratio", 0.45 if "thin_arteries" in keys else 0.72)
    if "others" in keys:
        kw.setdefault("others_term", "视网膜色素变性")
    return EyeFindings(keys=tuple(keys), **kw)


def render(findings: EyeFindings, seed: int = 0, size: int = 64):
    return render_eye(findings, np.random.default_rng(seed), size)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(-1) > 0


def test_shapes_and_determinism():
    f = eye("dr", "hemorrhage", "hard_exudate", "cotton_wool_spot", "microaneurysm", severity=0.7)
    a, b, c = render(f, 3, 96), render(f, 3, 96), render(f, 4, 96)
    assert a.image.shape == (96, 96, 3) and a.image.dtype == np.uint8
    assert a.masks.shape == (len(LESION_MASKS), 96, 96) and a.masks.dtype == np.uint8
    assert np.array_equal(a.image, b.image) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.image, c.image)
    assert set(np.unique(a.masks)) <= {0, 1}


@pytest.mark.parametrize("size", [64, 224])
def test_normal_eye_has_empty_masks(size):
    for seed in range(3):
        assert render(eye(), seed, size).masks.sum() == 0


@pytest.mark.parametrize("keys", [
    ("hemorrhage",), ("cotton_wool_spot",), ("hard_exudate",), ("hemorrhage", "hard_exudate"),
    ("dr", "hemorrhage", "cotton_wool_spot", "hard_exudate", "microaneurysm"), ("rvo", "hemorrhage"),
    ("drusen", "microaneurysm", "laser_spots", "pigment_disorder", "amd"),
])
@pytest.mark.parametrize("severity", [0.0, 1.0])
def test_masks_nonempty_exactly_for_present_lesions(keys, severity):
    for seed in range(3):
        masks = render(eye(*keys, severity=severity), seed, 64).masks
        present = [name for name in LESION_MASKS if name in keys]
        assert [name for i, name in enumerate(LESION_MASKS) if masks[i].any()] == present


@pytest.mark.parametrize("lesion", LESION_MASKS)
@pytest.mark.parametrize("size", [64, 160])
def test_masks_cover_the_drawn_lesion_and_nothing_else(lesion, size):
    for seed in range(3):
        for base in [(), ("dr", "microaneurysm")]:
            without = render(eye(*base, severity=0.6), seed, size)
            with_ = render(eye(*base, lesion, severity=0.6), seed, size)
            mask = with_.masks[LESION_MASKS.index(lesion)].astype(bool)
            diff = changed(with_.image, without.image)
            assert mask.any()
            halo = ndimage.binary_dilation(mask, np.ones((3, 3), bool), iterations=2)
            # the lesion spends its colour's look-alike budget, so look-alikes may go (never appear)
            decoys = ndimage.binary_dilation(without.decoys, np.ones((3, 3), bool))
            assert not (with_.decoys & ~without.decoys).any()
            assert not (diff & ~halo & ~decoys).any(), "pixels changed outside the (dilated) mask"
            assert (diff[mask]).mean() > 0.97, "mask pixels that the lesion did not change"
            d = np.abs(with_.image.astype(int) - without.image.astype(int)).max(-1)[mask & ~decoys]
            faint = (d < 0.3 * np.percentile(d, 90)).mean()  # (blood over a vein changes little)
            assert faint < 0.2, "mask reaches into the lesion's faint (alpha < 0.5) edge"


def test_every_eye_has_look_alikes_and_they_are_not_findings():
    for seed in range(3):
        healthy = render(eye(), seed)
        assert healthy.decoys.sum() > 20 and healthy.masks.sum() == 0


@pytest.mark.parametrize("lesion", LESION_MASKS)
def test_lesions_spend_the_look_alike_budget(lesion):
    """Lesion + look-alike area is what a healthy eye's look-alikes cover (within 15 % over 30
    eyes), so the area of lesion colours does not say whether an eye has lesions."""
    def marked(keys):
        eyes = [render(eye(*keys, severity=0.5), seed) for seed in range(30)]
        return np.mean([(r.decoys | r.masks.any(0)).sum() for r in eyes]), np.mean([r.decoys.sum() for r in eyes])

    healthy, healthy_decoys = marked(())
    ill, ill_decoys = marked((lesion,))
    assert abs(ill / healthy - 1) < 0.15, (healthy, ill)
    assert ill_decoys < healthy_decoys


def cup_and_disc(cdr: float, seed: int, size: int = 192) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cup and disc pixels and the green channel of an eye with this C/D: the disc is what a pale
    disc changes, the cup what brightens against a pin-hole cup."""
    g = render(eye(cup_disc_ratio=cdr), seed, size).image[..., 1].astype(int)
    pale = render(eye("optic_disc_pallor", cup_disc_ratio=cdr), seed, size).image[..., 1].astype(int)
    pinhole = render(eye(cup_disc_ratio=0.05), seed, size).image[..., 1].astype(int)
    return g - pinhole > 10, np.abs(pale - g) > 10, g


def test_cup_to_disc_ratio_is_measurable_and_monotone_with_the_disc_colour_matched():
    for seed in range(3):
        areas, disc_means = [], []
        for cdr in (0.2, 0.35, 0.5, 0.65, 0.8):
            cup, disc, g = cup_and_disc(cdr, seed)
            areas.append(int(cup.sum()))
            disc_means.append(g[disc].mean())
            cup_h, disc_h = cup.any(1).sum(), disc.any(1).sum()
            assert abs(cup_h / disc_h - cdr) < 0.12, (cdr, cup_h, disc_h)
        assert np.all(np.diff(areas) > 0), areas
        # the cup's geometry, not the disc's colour, carries the C/D ratio
        assert np.ptp(disc_means) < 8, disc_means


@pytest.mark.parametrize("size", [64, 160])
def test_thin_arteries_are_measurably_thinner(size):
    for seed in range(3):
        normal = render(eye(av_ratio=0.75), seed, size).image.astype(int)
        thin = render(eye("thin_arteries", av_ratio=0.45), seed, size).image.astype(int)
        diff = np.abs(normal - thin).max(-1) > 2
        assert diff.sum() > 0.005 * size * size
        assert (thin - normal).sum() > 0.05 * size * size  # less vessel overall

        def dark(img):  # vessel pixels: darker than the local background
            g = img[..., 1].astype(float)
            return (g < ndimage.uniform_filter(g, 7) - 8).sum()

        assert dark(thin) < dark(normal)


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_category_changes_the_image_at_64px(category):
    for seed in range(2):
        a = render(eye(severity=0.5), seed)
        b = render(eye(category, severity=0.5), seed)
        d = np.abs(a.image.astype(int) - b.image.astype(int)).max(-1)
        assert d.mean() > 0.02 and (d > 8).sum() >= 4, (category, d.mean(), (d > 8).sum())


@pytest.mark.parametrize("term", ["视网膜色素变性", "脉络膜痣", "视网膜劈裂", "牵牛花综合征", "视网膜动脉阻塞",
                                  "central serous chorioretinopathy", "optic disc drusen",
                                  "pigment epithelial detachment", "optic disc pit", "an unheard-of finding", None])
def test_rare_others_terms_are_drawn(term):
    a = render(eye(), 1)
    b = render(eye("others", others_term=term), 1)
    assert (np.abs(a.image.astype(int) - b.image.astype(int)).max(-1) > 8).sum() >= 4


def test_unknown_finding_key_is_an_error():
    with pytest.raises(VlpbenchError, match="unknown finding key"):
        render(EyeFindings(keys=("hemorrhage", "haemorrhage")))


def test_severity_scales_lesions():
    low = render(eye("hemorrhage", severity=0.0), 2, 128).masks.sum()
    high = render(eye("hemorrhage", severity=1.0), 2, 128).masks.sum()
    assert 0 < low < high


def fov_mean(image: np.ndarray) -> np.ndarray:
    inside = image.max(-1) > 30
    return image[inside].reshape(-1, 3).mean(0)


def test_sites_change_colour_statistics_and_keep_masks_aligned():
    r = render(eye("hemorrhage", "hard_exudate", "cotton_wool_spot", severity=0.8), 5, 128)
    assert len(TRAIN_SITES) >= 3 and len(OOD_SITES) >= 2
    means = {}
    for name, site in SITES.items():
        img, masks = apply_site(r.image, r.masks, site, np.random.default_rng(0))
        again, _ = apply_site(r.image, r.masks, site, np.random.default_rng(0))
        assert img.shape == r.image.shape and img.dtype == np.uint8 and np.array_equal(img, again)
        assert masks.shape == r.masks.shape and set(np.unique(masks)) <= {0, 1}
        area = masks.sum() / r.masks.sum()
        assert abs(area - site.fov_scale**2) < 0.15 * site.fov_scale**2
        if site.fov_scale == 1.0:
            assert np.array_equal(masks, r.masks)
        means[name] = fov_mean(img)
    names = list(means)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(means[a] - means[b]).max() > 3, (a, b)
    ratio = {k: m[2] / m[0] for k, m in means.items()}  # blue / red
    assert ratio["site-ood-1"] > 1.5 * max(ratio[k] for k in TRAIN_SITES)
    lap = {k: ndimage.laplace(apply_site(r.image, None, SITES[k], np.random.default_rng(0))[0][..., 1]
                              .astype(float)).std() for k in ("site-a", "site-ood-2")}
    assert lap["site-ood-2"] != lap["site-a"]


def test_cameras_set_the_colour_statistics_not_the_findings():
    """Auto-exposure: two very different eyes through one camera draw get the same field-of-view
    mean colour; the camera draws themselves spread it widely."""
    a = render(eye(), 1, 64).image
    b = render(eye("laser_spots", "chorioretinal_atrophy", "hemorrhage", "cataract", severity=0.9), 2, 64).image
    assert np.abs(fov_mean(a) - fov_mean(b)).max() > 10
    for name in OOD_SITES:
        seen = [[fov_mean(apply_site(x, None, SITES[name], np.random.default_rng(k))[0]) for x in (a, b)]
                for k in range(12)]
        assert max(np.abs(m - n).max() for m, n in seen) < 4
        assert np.std([m[0] for m, _ in seen]) > 8  # brightness varies per image


def test_unknown_site_is_an_error():
    assert get_site("site-ood-1") is SITES["site-ood-1"]
    with pytest.raises(VlpbenchError, match="site-x"):
        get_site("site-x")


def test_contact_sheet(tmp_path):
    pytest.importorskip("matplotlib")
    from vlpbench.datasets.synthetic.preview import contact_sheet

    samples = [(render(eye(*k), i, 64).image, report, list(k) or ["normal"]) for i, (k, report) in enumerate([
        (("hemorrhage",), "眼底可见散在出血，C/D约0.3。建议复查。"), ((), "Normal fundus."), (("drusen",), "黄斑区玻璃膜疣。")])]
    out = tmp_path / "sheet.png"
    contact_sheet(samples, out)
    assert out.stat().st_size > 1000


def test_render_cost_grows_at_most_linearly_with_pixels():
    """Rendering is O(pixels): a 224 px image costs at most 2× its pixel share of a 64 px one.

    A ratio of two thread-CPU timings on the same machine, not an absolute speed, so it holds on a
    loaded or slow runner (measured ≈ 6–8× for (224/64)² ≈ 12.3× the pixels; the bound is ≈ 24.5×)."""
    rng = np.random.default_rng(0)
    findings = [eye()] * 4 + [eye(*rng.choice(CATEGORIES[:-1], 2, replace=False), severity=float(rng.random()))
                              for _ in range(6)]
    seconds_per_image = {}
    for size, n in ((64, 60), (224, 10)):
        for f in findings:
            render_eye(f, rng, size)  # warm the vessel-tree cache
        best = np.inf
        for _ in range(3):
            t = time.thread_time()
            for i in range(n):
                render_eye(findings[i % len(findings)], rng, size)
            best = min(best, time.thread_time() - t)
        seconds_per_image[size] = best / n
    assert seconds_per_image[64] > 0
    ratio = seconds_per_image[224] / seconds_per_image[64]
    assert ratio <= 2 * (224 / 64) ** 2, f"224 px costs {ratio:.1f}× a 64 px image"
