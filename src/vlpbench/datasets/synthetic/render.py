"""Procedural fundus renderer: one latent `EyeFindings` → an RGB image and lesion masks.

Geometry lives in normalised coordinates (x, y in -1..1 across the image, y down, so sizes do not
depend on the pixel size); every painter builds an alpha layer and composites a colour over the
image (img ← img + α·s·(colour − img), s = contrast). The masks of `LESION_MASKS` are exactly
their own shape alpha > 0.5, so they cover the drawn lesion pixels and nothing else.
Randomness: anatomy draws from the caller's rng; each category draws from its own generator seeded
from one number of that rng, so adding or removing a finding never moves the others.

Labels live in structure, not colour statistics: every eye, healthy ones included, carries
look-alikes (`_decoys`) of the coloured lesions — red vessel fragments and crossings beside
haemorrhages and microaneurysms, yellow refractile specks beside exudates and drusen, white light
reflexes beside cotton-wool spots. Each colour has a per-eye budget of painted area, drawn
independently of the findings; lesions spend it and look-alikes fill the rest, so an eye's red,
yellow and white area does not say whether it has lesions. Look-alikes are not findings: no mask,
no report. The optic disc's mean colour does not depend on its cup (`_disc`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter, uniform_filter

from vlpbench.core.data_seeding import data_rng
from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.synthetic.latent import EyeFindings

LESION_MASKS = ("hemorrhage", "cotton_wool_spot", "hard_exudate")
FOV_RADIUS = 0.94  # field-of-view radius in normalised units
SURROUND = 0.015  # grey level (0..1) of the dark surround outside the field of view
_SPACING_PX = 1.0  # minimum vessel centre-line sample spacing (px)
_K0 = 16  # coarse vertices per vessel segment (size-independent geometry)

# Category keys (knowledge-base order); a category's index seeds its generator. `large_optic_cup`
# and `thin_arteries` have no painter: they are drawn through cup_disc_ratio and av_ratio.
_CATEGORIES = (
    "dr", "arteriosclerosis", "cataract", "glaucoma", "amd", "pathologic_myopia", "rvo",
    "hemorrhage", "microaneurysm", "hard_exudate", "cotton_wool_spot", "neovascularization",
    "laser_spots", "macular_edema", "drusen", "macular_pucker", "macular_hole", "large_optic_cup",
    "thin_arteries", "av_nicking", "tessellation", "peripapillary_atrophy", "chorioretinal_atrophy",
    "rnfl_defect", "optic_disc_edema", "optic_disc_pallor", "pigment_disorder", "vitreous_opacity",
    "retinal_detachment", "myelinated_fibers", "fibrous_proliferation", "others",
)
_CAT_INDEX = {key: i + 1 for i, key in enumerate(_CATEGORIES)}
_KNOWN = frozenset(_CATEGORIES) | {"normal"}


def _c(*rgb: float) -> np.ndarray:
    """An RGB colour shaped (3, 1, 1) for the planar (3, H, W) canvas."""
    return np.array(rgb, dtype=np.float32).reshape(3, 1, 1)


VEIN, ARTERY, COPPER = _c(0.40, 0.07, 0.09), _c(0.62, 0.15, 0.10), _c(0.86, 0.46, 0.26)
BLOOD, MA_RED = _c(0.42, 0.04, 0.03), _c(0.52, 0.05, 0.05)
EXUDATE, COTTON, DRUSEN = _c(0.98, 0.88, 0.36), _c(0.95, 0.93, 0.86), _c(0.97, 0.84, 0.44)
PIGMENT, PALE, SCAR = _c(0.16, 0.08, 0.04), _c(0.93, 0.84, 0.66), _c(0.92, 0.86, 0.68)
WHITE, GREY = _c(0.97, 0.96, 0.93), _c(0.66, 0.62, 0.58)
DISC_MEAN, DISC_PALE, CUP_CONTRAST = _c(0.9, 0.66, 0.46), _c(0.96, 0.86, 0.74), _c(0.08, 0.26, 0.26)
# look-alike budget per colour: median painted area (normalised units²) and log-SD, per eye
DECOY_BUDGET = {"red": (0.08, 0.6), "yellow": (0.045, 0.6), "white": (0.035, 0.6)}
_DECOY_SEED = 101  # the look-alikes' generator index (categories use 1..32)


@dataclass
class RenderedEye:
    """A rendered fundus: image (size, size, 3) uint8, masks (3, size, size) uint8 (LESION_MASKS)
    and where look-alikes were painted (size, size) bool (no finding: never in a mask)."""

    image: np.ndarray
    masks: np.ndarray
    decoys: np.ndarray


@dataclass
class _Vessels:
    """Vessel centre-line samples (flat arrays): position, diameter, direction, arc position,
    sample spacing (px), vein flag, trunk id, generation."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    th: np.ndarray
    s: np.ndarray
    seg: np.ndarray
    vein: np.ndarray
    root: np.ndarray
    gen: np.ndarray

    def select(self, keep: np.ndarray) -> _Vessels:
        return _Vessels(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel-centre coordinates x, y, radius r and the field-of-view alpha (read-only)."""
    c = ((np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1).astype(np.float32)
    y, x = np.meshgrid(c, c, indexing="ij")
    r = _norm(x, y)
    fov = np.clip((FOV_RADIUS - r) * (size / 2) + 0.5, 0, 1).astype(np.float32)
    for a in (x, y, r, fov):
        a.flags.writeable = False
    return x, y, r, fov


@lru_cache(maxsize=8)
def _fov_terms(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """255·fov, the dark surround (+ rounding offset) and the inside mask (uint8) for compositing."""
    fov = _grid(size)[3]
    return fov * 255, SURROUND * 255 * (1 - fov) + 0.5, (fov > 0.5).astype(np.uint8)


@lru_cache(maxsize=64)
def _window(reach: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Splat window offsets −reach..reach and their flat offsets in a (size + 2·reach)² buffer."""
    o = np.arange(-reach, reach + 1)
    return o.astype(np.float32), (o[:, None] * (size + 2 * reach) + o[None, :]).reshape(1, -1)


def _norm(dx, dy):
    """Euclidean length (np.hypot is several times slower here)."""
    return np.sqrt(dx * dx + dy * dy)


def _smooth(e0: float, e1: float, v: np.ndarray) -> np.ndarray:
    t = np.clip((v - e0) / (e1 - e0), 0, 1)
    return t * t * (3 - 2 * t)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


class _Scene:
    """Canvas, anatomy and findings shared by the painters of one eye."""

    def __init__(self, findings: EyeFindings, rng: np.random.Generator, size: int):
        self.f = findings
        self.keys = set(findings.keys) - {"normal"}
        self.sev = float(np.clip(findings.severity, 0.0, 1.0))
        self.size, self.scale = size, size / 2
        self.x, self.y, self.r, self.fov = _grid(size)
        # anatomy (from the caller's rng; independent of the findings)
        a = rng.random(28).tolist()
        self.base_seed = int(a[24] * 2**53)
        self.spent = dict.fromkeys(DECOY_BUDGET, 0.0)  # painted lesion area per colour (normalised units²)
        self.decoys = np.zeros((size, size), bool)
        self._rngs: dict[str, np.random.Generator] = {}
        self.side = 1.0 if a[0] < 0.5 else -1.0  # +1: right eye, disc on the image's right
        self.disc = np.array([self.side * (0.40 + 0.06 * a[1]), -0.04 + 0.08 * a[2]], np.float32)
        self.disc_r = 0.17 + 0.03 * a[3]
        self.macula = self.disc + np.array([-self.side * (0.66 + 0.06 * a[4]), 0.05 + 0.04 * a[5]], np.float32)
        self.pigment = a[6]
        self.light = np.array([a[7] - 0.5, a[8] - 0.5], np.float32) * 0.6
        self.falloff, self.glow = 0.25 + 0.4 * a[25], (a[26] - 0.5, a[27] - 0.5)
        self.tex = np.array(a[12:24], np.float32).reshape(3, 4) * np.float32(2 * np.pi)
        self.vessels = _place_tree(_tree(size, int(a[9] * N_TREES)), self, (a[10] - 0.5) * 0.25, 0.93 + 0.12 * a[11])
        self.dd = self.dist(self.disc)
        self.dm = self.dist(self.macula)
        self.cup = (0.0, 0.0)  # cup radius (normalised, vertical) and vessel-fade halo strength
        self.rvo_roots: np.ndarray | None = None
        self.vessel_xy: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def has(self, key: str) -> bool:
        return key in self.keys

    def rng(self, key: str) -> np.random.Generator:
        if key not in self._rngs:
            self._rngs[key] = data_rng([self.base_seed, _CAT_INDEX[key]])
        return self._rngs[key]

    def box(self, p, radius: float) -> tuple[slice, slice]:
        """Pixel bounding box of the disc of `radius` around p (normalised units)."""
        s, size = self.scale, self.size
        c, r = np.asarray(p, np.float64) * s + s - 0.5, radius * s + 1
        return (slice(max(0, int(c[1] - r)), max(0, min(size, int(c[1] + r) + 2))),
                slice(max(0, int(c[0] - r)), max(0, min(size, int(c[0] + r) + 2))))

    def dist(self, p: np.ndarray) -> np.ndarray:
        return _norm(self.x - p[0], self.y - p[1])

    def angle(self, p: np.ndarray) -> np.ndarray:
        return np.arctan2(self.y - p[1], self.x - p[0])

    @property
    def temporal(self) -> float:
        """Direction (radians) from the disc towards the macula."""
        d = self.macula - self.disc
        return float(np.arctan2(d[1], d[0]))

    def paint(self, alpha: np.ndarray, colour: np.ndarray, strength: float = 1.0, box=None,
              family: str | None = None) -> None:
        """img ← img + α·strength·(colour − img) over the alpha's bounding box (or the given box,
        alpha then being that box's size); a lesion `family` ("red", "yellow", "white") spends
        α·strength of that colour's look-alike budget."""
        if family is not None:
            self.spent[family] += float(alpha.sum()) * strength / self.scale**2
        if box is None:
            rows = np.flatnonzero(alpha.max(1))
            if rows.size == 0:
                return
            cols = np.flatnonzero(alpha.max(0))
            box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
            alpha = alpha[box]
        a = alpha * np.float32(strength) if strength != 1.0 else alpha
        sub = self.img[:, box[0], box[1]]
        sub += a * (colour - sub)

    def ellipse(self, cx: float, cy: float, a: float, b: float | None = None, edge: float = 1.0):
        """One axis-aligned ellipse as (alpha, box), alpha covering only its bounding box; same hard
        profile as `splat`. Cheaper than `splat` for single large shapes."""
        b = a if b is None else b
        s, size = self.scale, self.size
        px, py, rx, ry = cx * s + s - 0.5, cy * s + s - 0.5, a * s + edge, b * s + edge
        box = (slice(max(0, int(py - ry)), max(0, min(size, int(py + ry) + 2))),
               slice(max(0, int(px - rx)), max(0, min(size, int(px + rx) + 2))))
        u = ((self.x[0, box[1]] - np.float32(cx)) * np.float32(1 / a)) ** 2
        v = ((self.y[box[0], 0] - np.float32(cy)) * np.float32(1 / b)) ** 2
        q = np.sqrt(v[:, None] + u[None, :])
        return np.clip(0.5 + (1 - q) * np.float32(np.sqrt(a * b) * s / edge), 0, 1), box

    def splat(self, x, y, a, b=None, theta=None, edge: float = 1.0, soft: bool = False,
              amp=None, out: np.ndarray | None = None) -> np.ndarray:
        """Max-composited alpha of filled ellipses (centres x, y; semi-axes a, b; normalised units).

        Hard profile: α = clip(0.5 + (1 − q)·√(ab)/edge, 0, 1) with q the elliptical radius, so
        α > 0.5 exactly inside each ellipse; soft profile: α = exp(−2q²). `amp` scales each one.
        """
        size, s, f32 = self.size, self.scale, np.float32
        out = np.zeros((size, size), f32) if out is None else out
        x = np.asarray(x, f32).reshape(-1)
        if x.size == 0:
            return out
        y = np.asarray(y, f32).reshape(-1)
        ap = np.maximum(np.asarray(a, f32) * f32(s), f32(0.05)).reshape(-1, 1, 1)
        bp = ap if b is None else np.maximum(np.asarray(b, f32) * f32(s), f32(0.05)).reshape(-1, 1, 1)
        big = float(ap.max()) if b is None else max(float(ap.max()), float(bp.max()))
        reach = int(np.ceil(big * 1.6 + 0.5 if soft else big + 0.5 * edge + 0.5))
        o, off = _window(reach, size)
        cx, cy = np.clip(x * f32(s) + f32(s - 0.5), 0, size - 1), np.clip(y * f32(s) + f32(s - 0.5), 0, size - 1)
        rx, ry = np.rint(cx), np.rint(cy)
        dx = (rx - cx)[:, None, None] + o[None, None, :]
        dy = (ry - cy)[:, None, None] + o[None, :, None]
        if theta is not None:
            th = np.asarray(theta, f32).reshape(-1, 1, 1)
            co, si = np.cos(th), np.sin(th)
            dx, dy = dx * co + dy * si, dy * co - dx * si
        if b is None and not soft:  # circles: α = clip(0.5 + (r − d)/edge)
            q = np.sqrt(dx * dx + dy * dy)
            if edge != 1.0:
                q *= f32(1 / edge)
            alpha = np.clip(ap * f32(1 / edge) + f32(0.5) - q, 0, 1)
        else:
            q = np.sqrt((dx / ap) ** 2 + (dy / bp) ** 2)
            alpha = np.exp(-2 * q * q) if soft else np.clip(0.5 + (1 - q) * (np.sqrt(ap * bp) / edge), 0, 1)
        if amp is not None:
            alpha = alpha * np.asarray(amp, f32).reshape(-1, 1, 1)
        side = size + 2 * reach
        buf = np.zeros(side * side, f32)
        base = (ry.astype(np.intp) + reach) * side + (rx.astype(np.intp) + reach)
        np.maximum.at(buf, (base[:, None] + off).reshape(-1), alpha.reshape(-1))
        np.maximum(out, buf.reshape(side, side)[reach:reach + size, reach:reach + size], out=out)
        return out

    def lines(self, x, y, weight, layer=0, layers: int = 1) -> np.ndarray:
        """Additive bilinear splat of centre-line samples (weight = covered area in px²), clipped to 1:
        anti-aliased sub-pixel lines; returns (layers, size, size), sample i going to layer[i]."""
        size, s = self.size, self.scale
        fx = np.clip(x.astype(np.float64) * s + (s - 0.5), 0, size - 1.001)
        fy = np.clip(y.astype(np.float64) * s + (s - 0.5), 0, size - 1.001)
        ix, iy = fx.astype(np.intp), fy.astype(np.intp)
        ux, uy = fx - ix, fy - iy
        i0 = iy * size + ix + layer * (size * size)
        idx = np.concatenate([i0, i0 + 1, i0 + size, i0 + size + 1])
        vx, vy = (1 - ux) * weight, ux * weight
        w = np.concatenate([vx * (1 - uy), vy * (1 - uy), vx * uy, vy * uy])
        dens = np.bincount(idx, w, minlength=layers * size * size)
        return np.minimum(dens, 1, out=dens).astype(np.float32).reshape(layers, size, size)

    def scatter(self, rng: np.random.Generator, n: int, centre, spread: float, rmax: float = 0.85):
        """n points around `centre` (Gaussian, σ = spread), pulled inside radius rmax."""
        p = np.asarray(centre, np.float32) + rng.normal(0, spread, (n, 2)).astype(np.float32)
        r = _norm(p[:, 0], p[:, 1])
        p *= np.minimum(1, rmax / np.maximum(r, 1e-6))[:, None]
        return p[:, 0], p[:, 1]

    def uniform(self, rng: np.random.Generator, n: int, rmin: float = 0.0, rmax: float = 0.85):
        r = np.sqrt(rng.uniform(rmin**2, rmax**2, n)).astype(np.float32)
        phi = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
        return r * np.cos(phi), r * np.sin(phi)

    def px(self, n_px: float) -> float:
        """n pixels in normalised units."""
        return n_px / self.scale


# ----------------------------------------------------------------------------- vessel tree
# trunks in the canonical right eye (disc at origin, temporal = −x): angle°, curvature /unit,
# length, width factor; arteries and veins get one each
_TRUNKS = np.array([
    (-100, -1.55, 1.45, 1.00), (100, 1.55, 1.45, 1.00), (-45, 0.35, 0.95, 0.75),
    (45, -0.35, 0.95, 0.75), (-165, -0.6, 0.38, 0.4), (165, 0.6, 0.38, 0.4), (5, 0.0, 0.7, 0.5),
], np.float32)
_CHILDREN = (3, 2, 1)
_NOISE = (0.05, 0.10, 0.14, 0.18)
VEIN_WIDTH = 0.036  # trunk diameter, normalised units


N_TREES = 128  # vessel trees in the bank; each eye rotates, scales and mirrors one


@lru_cache(maxsize=512)
def _tree(size: int, tree_id: int) -> _Vessels:
    """Canonical tree `tree_id` (right eye, disc at the origin), sampled for `size` px."""
    return _densify(_grow_tree(data_rng([0x7EE5, tree_id])), size / 2)


def _place_tree(t: _Vessels, sc: _Scene, rot: float, zoom: float) -> _Vessels:
    """Rotate, scale, mirror (left eye) and move a canonical tree onto this eye's disc."""
    c, s = np.float32(np.cos(rot) * zoom), np.float32(np.sin(rot) * zoom)
    x = sc.disc[0] + sc.side * (c * t.x - s * t.y)
    y = sc.disc[1] + (s * t.x + c * t.y)
    th = t.th + np.float32(rot)
    v = _Vessels(x, y, t.w, th if sc.side > 0 else np.float32(np.pi) - th, t.s * np.float32(zoom),
                 t.seg * np.float32(zoom), t.vein, t.root, t.gen)
    return v.select(x * x + y * y < (FOV_RADIUS + 0.03) ** 2)


def _grow_tree(rng: np.random.Generator) -> list:
    """Vectorised branching growth: all segments of a generation at once, as coarse polylines.

    Angles wander by uniform noise of std `_NOISE[g]` per coarse step; children leave their parent
    at a random vertex, turned 0.45–1.1 rad to a random side, 0.6–0.8× as wide, 0.4–0.65× as long.
    """
    f32 = np.float32
    nt = len(_TRUNKS)
    u = rng.random((4, 2 * nt), dtype=f32)
    th0 = np.deg2rad(np.tile(_TRUNKS[:, 0], 2)) + (u[0] - 0.5) * f32(0.4) + np.repeat(f32([0.12, -0.05]), nt)
    kap = np.tile(_TRUNKS[:, 1], 2) * (0.85 + 0.3 * u[1])
    length = np.tile(_TRUNKS[:, 2], 2) * (0.85 + 0.25 * u[2])
    w0 = np.tile(_TRUNKS[:, 3], 2) * f32(VEIN_WIDTH)
    vein = np.repeat([False, True], nt)
    root = np.arange(2 * nt)
    x0 = y0 = np.zeros(2 * nt, f32)
    gens = []
    frac = np.linspace(0, 1, _K0 + 1, dtype=f32)
    for g in range(len(_NOISE)):
        n = len(th0)
        u = rng.random((n, _K0 + 6), dtype=f32)
        ds = (length / _K0)[:, None]
        dth = kap[:, None] * ds * (1 - 0.4 * frac[None, :-1]) + (u[:, :_K0] - 0.5) * f32(_NOISE[g] * 3.46)
        zero = np.zeros((n, 1), f32)
        th = th0[:, None] + np.cumsum(np.concatenate([zero, dth], 1), 1)
        xs = x0[:, None] + np.cumsum(np.concatenate([zero, ds * np.cos(th[:, :-1])], 1), 1)
        ys = y0[:, None] + np.cumsum(np.concatenate([zero, ds * np.sin(th[:, :-1])], 1), 1)
        ws = w0[:, None] * (1 - 0.3 * frac[None, :])
        gens.append((xs, ys, ws, th, length, vein, root, g))
        if g == len(_CHILDREN):
            break
        m = _CHILDREN[g]
        pi = np.repeat(np.arange(n), m)
        j = np.tile(np.arange(m), n)
        v1, v2 = u[pi, _K0 + j], u[pi, _K0 + 3 + j]
        k = 5 + (v1 * (_K0 - 6)).astype(np.intp)
        side = np.where(v2 < 0.5, f32(-1), f32(1))
        x0, y0 = xs[pi, k], ys[pi, k]
        v3 = rng.random((4, n * m), dtype=f32)
        th0 = th[pi, k] + side * (0.45 + 0.65 * v3[0])
        kap = (v3[1] - 0.5) * f32(2.5)
        length = length[pi] * (0.4 + 0.25 * v3[2])
        w0 = ws[pi, k] * (0.6 + 0.2 * v3[3])
        vein, root = vein[pi], root[pi]
    return gens


def _densify(gens, scale: float) -> _Vessels:
    """Resample each generation's coarse polylines at max(1 px, 0.6 × largest radius) spacing."""
    parts = []
    for xs, ys, ws, th, length, vein, root, g in gens:
        spacing = max(_SPACING_PX, 0.3 * float(ws[:, 0].max()) * scale)
        k = max(2, int(np.ceil(length.max() * scale / spacing)) + 1)
        fi = np.linspace(0, _K0, k)
        i0 = np.minimum(fi.astype(int), _K0 - 1)
        f = (fi - i0)[None, None, :]
        st = np.stack([xs, ys, ws, th])
        d = st[:, :, i0] * (1 - f) + st[:, :, i0 + 1] * f
        n = len(length)
        seg = np.broadcast_to(length[:, None] * (scale / (k - 1)), (n, k))
        parts.append((d, (fi / _K0)[None, :] * length[:, None], np.repeat(vein, k), np.repeat(root, k),
                      np.full(n * k, g), seg))
    d = np.concatenate([p[0].reshape(4, -1) for p in parts], 1).astype(np.float32)
    s, seg = (np.concatenate([p[i].reshape(-1) for p in parts]).astype(np.float32) for i in (1, 5))
    v = _Vessels(d[0], d[1], d[2], d[3], s, seg, *(np.concatenate([p[i] for p in parts]).astype(t)
                                                 for i, t in ((2, bool), (3, np.int8), (4, np.int8))))
    v = v.select(v.x * v.x + v.y * v.y < 2.2**2)
    for f in v.__dataclass_fields__:
        getattr(v, f).flags.writeable = False
    return v


# ----------------------------------------------------------------------------- anatomy painters
def _background(sc: _Scene) -> None:
    """Orange-red fundus: pigmentation, uneven illumination (radial fall-off, a directional
    gradient and an off-centre glow, all drawn per eye), low-frequency texture."""
    p = sc.pigment
    base = _c(0.84, 0.42, 0.18) * (1 - p) + _c(0.64, 0.27, 0.11) * p
    if sc.has("pathologic_myopia") or sc.has("tessellation"):
        base = base * _c(1.02, 1.06, 1.1)
    gx, gy = sc.glow
    glow = 0.25 * np.exp(-((sc.x - gx) ** 2 + (sc.y - gy) ** 2) / 0.18)  # uneven illumination
    shade = 1.0 - sc.falloff * sc.r * sc.r + sc.light[0] * sc.x + sc.light[1] * sc.y + glow
    t = sc.tex
    cx = np.cos(np.outer(t[:, 0], sc.x[0]) * 0.9 + t[:, 1:2])
    cy = np.cos(np.outer(t[:, 2], sc.y[:, 0]) * 0.9 + t[:, 3:4])
    tex = 1 + 0.05 * (cy.T @ cx)
    sc.img = (shade * tex)[None] * base
    sc.img[1:] *= 0.75 + 0.25 * shade


def _macula(sc: _Scene) -> None:
    """Darker macula with a darker foveal centre (two Gaussians)."""
    box = sc.box(sc.macula, 0.45)
    dm2 = (sc.dm[box] * np.float32(1 / 0.17)) ** 2
    alpha = 0.42 * np.exp(-dm2) + 0.35 * np.exp(-dm2 * 18)
    sc.paint(alpha, _c(0.36, 0.12, 0.05), box=box)


def _disc(sc: _Scene) -> None:
    """Optic disc and cup; cup vertical diameter / disc vertical diameter = cup_disc_ratio."""
    rd, f = sc.disc_r, sc.f
    rx = rd * (0.68 if sc.has("pathologic_myopia") else 0.9)
    edge, cdr = 1.2, float(np.clip(f.cup_disc_ratio, 0.05, 0.95))
    cup_rx, cup_edge = cdr * rx, 1.0 + 0.12 * cdr * rd * sc.scale
    if sc.has("glaucoma"):
        cup_rx, cup_edge = min(cdr * rx * 1.12, rx * 0.97), 0.8
    # the disc's mean colour is DISC_MEAN whatever the cup: rim = mean − cup share × (cup − rim),
    # the share counting the vessels that fade into a larger cup (0.2·C/D)
    share = cup_rx * cdr / rx + 0.2 * cdr
    mean = DISC_PALE if sc.has("optic_disc_pallor") else DISC_MEAN
    rim = mean - share * CUP_CONTRAST
    cupc = rim + CUP_CONTRAST
    halo = 0.0
    if sc.has("optic_disc_edema"):
        k = 0.35 + 0.65 * sc.sev
        rd, rx = rd * (1 + 0.4 * k), rx * (1 + 0.4 * k)
        edge = 1.2 + k * 0.6 * rd * sc.scale
        rim, cdr = _c(0.96, 0.58, 0.42), cdr * (1 - 0.7 * k)
        cup_rx = cdr * rx
        halo = k
        ring = np.exp(-(((sc.dd - 1.15 * rd) / (0.35 * rd)) ** 2))
        sc.paint(ring, _c(0.86, 0.72, 0.62), 0.45 * k)
    cx, cy = float(sc.disc[0]), float(sc.disc[1])
    alpha, box = sc.ellipse(cx, cy, rx, rd, edge=edge)
    sc.paint(alpha, rim, box=box)
    notch = 0.3 * (rd - cdr * rd) if sc.has("glaucoma") else 0.0  # inferior rim thinning
    alpha, box = sc.ellipse(cx - sc.side * 0.12 * (rx - cup_rx), cy + notch, cup_rx, cdr * rd, edge=cup_edge)
    sc.paint(alpha, cupc, 0.95, box=box)
    sc.cup = (cdr * rd, halo)


def _vessels(sc: _Scene) -> None:
    """Veins then arteries (calibre = av_ratio × vein calibre), with the vessel signs of dr (venous
    beading), arteriosclerosis (focal narrowing, copper colour, wire reflex), rvo (engorged,
    tortuous veins) and av_nicking (vein tapering at arterial crossings)."""
    v, sev, f = sc.vessels, sc.sev, sc.f
    x, y, w = v.x, v.y, v.w.copy()
    art = ~v.vein
    w[art] *= float(np.clip(f.av_ratio, 0.2, 1.2))
    if sc.has("dr"):  # venous beading
        rng = sc.rng("dr")
        freq, phase = rng.uniform(50, 90, 2 * len(_TRUNKS))[v.root], rng.uniform(0, 6.3, 2 * len(_TRUNKS))[v.root]
        beads = np.maximum(0, np.sin(v.s * freq + phase)) ** 2 * (np.sin(v.s * 9 + phase) > 0)
        w[v.vein] *= (1 + (0.15 + 0.35 * sev) * beads)[v.vein]
    if sc.has("arteriosclerosis"):  # focal arteriolar narrowing, straighter calibre changes
        rng = sc.rng("arteriosclerosis")
        narrow = np.maximum(0, np.sin(v.s * 45 + rng.uniform(0, 6.3, 2 * len(_TRUNKS))[v.root])) ** 4
        w[art] *= (1 - (0.2 + 0.35 * sev) * narrow)[art]
    if sc.has("rvo"):  # engorged tortuous veins in the occluded sector
        hit = v.vein & np.isin(v.root, _rvo_roots(sc))
        amp = sc.px(0.4) + 0.006 * (0.4 + 0.6 * sev)
        wave = amp * np.sin(v.s * 90 + v.root)
        x = np.where(hit, x - wave * np.sin(v.th), x)
        y = np.where(hit, y + wave * np.cos(v.th), y)
        w = np.where(hit, w * (1.25 + 0.35 * sev), w)
    wp = w * np.float32(sc.scale / 2)  # radius in pixels
    thin = wp <= 0.75
    # thin vessels: anti-aliased lines, weight = covered area (diameter × spacing); both layers at once
    va, aa = sc.lines(x[thin], y[thin], (2.3 * wp * v.seg)[thin], layer=art[thin].astype(np.intp), layers=2)
    thick = ~thin
    if thick.any():
        reach = np.ceil(wp + 1).astype(np.int8)  # splat window per point, grouped to keep windows small
        for layer, sel in ((va, v.vein & thick), (aa, art & thick)):
            for r in np.unique(reach[sel]):
                k = sel & (reach == r)
                sc.splat(x[k], y[k], w[k] / 2, edge=1.0, out=layer)
    # vessels dive into the cup, spare the fovea and (oedema) hide under the swollen disc margin
    cup_r, halo = sc.cup
    top = 0.45 * cup_r + max(0.6 * cup_r, sc.px(1.5))
    box = sc.box(sc.disc, 2.5 * sc.disc_r if halo else top)
    fade = _smooth(0.45 * cup_r, top, sc.dd[box])
    if halo:
        fade *= 1 - 0.75 * halo * np.exp(-(((sc.dd[box] - 1.1 * sc.disc_r) / (0.45 * sc.disc_r)) ** 2))
    va[box] *= fade
    aa[box] *= fade
    box = sc.box(sc.macula, 0.13)
    fade = _smooth(0.04, 0.13, sc.dm[box])
    va[box] *= fade
    aa[box] *= fade
    if sc.has("av_nicking"):  # the vein tapers away on both sides of an arterial crossing
        k = 0.5 + 0.5 * sev
        cross = (aa > 0.35) & (va > 0.35) & (sc.dd > 1.5 * sc.disc_r)
        reach = max(1, int(round(sc.scale * VEIN_WIDTH * (0.8 + 0.8 * k))))

        near = uniform_filter(cross.astype(np.float32), size=2 * reach + 1) > 0.01
        va = va * (1 - (0.5 + 0.4 * k) * near * (aa < 0.35))
    full = slice(None), slice(None)  # the tree spans the image: skip the bounding-box search
    sc.paint(va, VEIN, 0.88 if not sc.has("dr") else 0.93, box=full)
    acol = ARTERY if not sc.has("arteriosclerosis") else ARTERY + (COPPER - ARTERY) * (0.3 + 0.4 * sev)
    sc.paint(aa, acol, 0.82, box=full)
    if sc.has("arteriosclerosis"):  # copper/silver-wire light reflex
        big = art & (wp > 0.7)
        reflex = sc.splat(x[big], y[big], w[big] * 0.18, edge=1.0, amp=np.minimum(1, wp[big] - 0.5))
        sc.paint(reflex, _c(0.98, 0.8, 0.6), 0.5 + 0.4 * sev)
    sc.vessel_xy = (x, y, w)


def _rvo_roots(sc: _Scene) -> np.ndarray:
    """Vein trunks drained by the occluded vein: one temporal arcade (branch) or all (central)."""
    if sc.rvo_roots is None:
        nt = len(_TRUNKS)
        u = sc.rng("rvo").random(2)
        first = 0 if u[1] < 0.6 else 1
        central = u[0] < 0.25 + 0.3 * sc.sev
        sc.rvo_roots = np.arange(nt, 2 * nt) if central else np.array([nt + first, nt + first + 4])
    return sc.rvo_roots


# ----------------------------------------------------------------------------- choroid / background findings
def _tessellation(sc: _Scene, rng) -> None:
    """Tigroid fundus: dark inter-vascular spaces between warped, roughly radial choroidal vessels."""
    pole = (sc.disc + sc.macula) / 2
    phi, rr = sc.angle(pole), sc.dist(pole)
    ph = rng.uniform(0, 2 * np.pi, 4)
    t = np.sin(24 * phi + 4 * np.sin(11 * rr + 3 * phi + ph[0]) + 2 * np.sin(7 * phi + ph[1]) + 9 * rr)
    t2 = np.sin(17 * rr + 5 * np.sin(9 * phi + ph[2]) + ph[3])
    gaps = np.clip(2.0 * t - 0.5 + 0.6 * t2, 0, 1) * _smooth(0.12, 0.45, rr)
    sc.paint(gaps, _c(0.4, 0.17, 0.08), 0.3 + 0.4 * sc.sev)


def _myopia(sc: _Scene, rng) -> None:
    """Posterior staphyloma: a large pale zone around disc and macula."""
    d = sc.macula - sc.disc
    mid = sc.disc + 0.3 * d
    alpha = sc.splat([mid[0]], [mid[1]], 0.55, 0.38, float(np.arctan2(d[1], d[0])), soft=True)
    sc.paint(alpha, _c(0.9, 0.62, 0.38), 0.3 + 0.35 * sc.sev)


def _chorioretinal_atrophy(sc: _Scene, rng) -> None:
    """Pale irregular patches (three lobes each) with pigment clumps on their margins."""
    n = 2 + int(rng.poisson(1 + 3 * sc.sev))
    cx, cy = sc.scatter(rng, n, (sc.disc + sc.macula) / 2, 0.25, 0.8)
    sub = 3
    px = np.repeat(cx, sub) + rng.normal(0, 0.04, n * sub)
    py = np.repeat(cy, sub) + rng.normal(0, 0.04, n * sub)
    a = rng.uniform(0.04, 0.08, n * sub) * (0.7 + 0.6 * sc.sev)
    b = a * rng.uniform(0.6, 1.0, n * sub)
    th = rng.uniform(0, np.pi, n * sub)
    patch = sc.splat(px, py, a, b, th, edge=1.5)
    sc.paint(patch, PALE, 0.55 + 0.4 * sc.sev)
    # pigment clumps on the margins
    k = 6
    ang = rng.uniform(0, 2 * np.pi, n * sub * k)
    bx = np.repeat(px, k) + np.repeat(a, k) * np.cos(ang)
    by = np.repeat(py, k) + np.repeat(b, k) * np.sin(ang)
    clumps = sc.splat(bx, by, np.maximum(0.008, sc.px(0.6)), edge=1.0)
    sc.paint(clumps * (patch < 0.9), PIGMENT, 0.65)


def _laser_spots(sc: _Scene, rng) -> None:
    """Pan-retinal photocoagulation: a jittered hexagonal grid of pale scars with pigmented rims."""
    sp = 0.1
    j, i = np.meshgrid(np.arange(-10, 11), np.arange(-10, 11))
    gx = (i + 0.5 * (j % 2)) * sp + rng.uniform(0, sp)
    gy = j * sp * 0.866
    gx = gx.ravel() + rng.normal(0, 0.008, gx.size)
    gy = gy.ravel() + rng.normal(0, 0.008, gy.size)
    r = _norm(gx, gy)
    far = (r < 0.88) & (_norm(gx - sc.macula[0], gy - sc.macula[1]) > 0.42) & (
        _norm(gx - sc.disc[0], gy - sc.disc[1]) > 0.25)
    far &= rng.random(gx.size) < 0.45 + 0.55 * sc.sev
    gx, gy = gx[far], gy[far]
    rad = 0.026 * rng.uniform(0.8, 1.2, gx.size)
    rim = sc.splat(gx, gy, rad * 1.25, edge=1.0)
    sc.paint(rim, PIGMENT, 0.45 + 0.3 * sc.sev)
    core = sc.splat(gx, gy, rad * 0.85, edge=1.0)
    sc.paint(core, SCAR, 0.55 + 0.4 * sc.sev)


def _pigment(sc: _Scene, rng) -> None:
    """Pigment disorder: scattered dark clumps (two overlapping specks each)."""
    n = 10 + int(rng.poisson(10 + 40 * sc.sev))
    cx, cy = sc.scatter(rng, n, sc.macula * 0.7 + sc.disc * 0.3, 0.35, 0.86)
    px = np.concatenate([cx, cx + rng.normal(0, 0.008, n)])
    py = np.concatenate([cy, cy + rng.normal(0, 0.008, n)])
    a = np.maximum(rng.uniform(0.005, 0.016, 2 * n), sc.px(0.6))
    alpha = sc.splat(px, py, a, a * rng.uniform(0.5, 1, 2 * n), rng.uniform(0, np.pi, 2 * n), edge=1.0)
    sc.paint(alpha, PIGMENT, 0.55 + 0.4 * sc.sev)


def _ppa(sc: _Scene, rng) -> None:
    """Peripapillary atrophy: a pale crescent on the temporal disc margin, pigmented outer edge."""
    rd = sc.disc_r
    width = 1.25 + 0.25 * rng.random() + 0.45 * sc.sev
    ang = _wrap(sc.angle(sc.disc) - sc.temporal + rng.normal(0, 0.2))
    sector = np.clip(np.cos(ang) * 1.6 + 0.2, 0, 1)
    outer = rd * (1 + (width - 1) * sector)
    alpha = np.clip((outer - sc.dd) * sc.scale + 0.5, 0, 1) * (sector > 0.02)
    sc.paint(alpha, _c(0.93, 0.82, 0.62), 0.7 + 0.25 * sc.sev)
    ring = np.clip(1.2 - np.abs(sc.dd - outer) * sc.scale, 0, 1) * sector
    sc.paint(ring, PIGMENT, 0.35)


def _rnfl_defect(sc: _Scene, rng) -> None:
    """Dark arcuate wedge leaving the disc above or below the temporal raphe."""
    rd = sc.disc_r
    up = -1 if rng.random() < 0.5 else 1
    centre = sc.temporal + up * float(np.deg2rad(rng.uniform(55, 75)))
    ang = np.abs(_wrap(sc.angle(sc.disc) - centre))
    half = 0.13 + 0.35 * (sc.dd - rd)
    wedge = np.clip((half - ang) / 0.06, 0, 1) * _smooth(rd * 0.95, rd * 1.2, sc.dd) * (1 - _smooth(0.5, 0.85, sc.dd))
    sc.paint(wedge, _c(0.38, 0.14, 0.07), 0.3 + 0.35 * sc.sev)


# ----------------------------------------------------------------------------- macular findings
def _amd(sc: _Scene, rng) -> None:
    """Macular mottling; geographic atrophy at high severity."""
    mx, my = sc.macula
    sc.paint(np.exp(-((sc.dm / 0.11) ** 2)), _c(0.7, 0.52, 0.34), 0.3 + 0.25 * sc.sev)
    n = 12
    px, py = mx + rng.normal(0, 0.05, n), my + rng.normal(0, 0.05, n)
    mott = sc.splat(px, py, rng.uniform(0.012, 0.03, n), edge=1.5)
    sc.paint(mott, _c(0.78, 0.55, 0.32), 0.4 + 0.3 * sc.sev)
    if sc.sev > 0.6:
        ga = sc.splat([mx], [my], 0.06 * sc.sev, 0.05 * sc.sev, rng.uniform(0, np.pi), edge=1.0)
        sc.paint(ga, PALE, 0.8)


def _drusen(sc: _Scene, rng) -> None:
    """Yellow round soft-edged dots clustered at the macula."""
    n = 4 + int(rng.poisson(3 + 10 * sc.sev))
    cx, cy = sc.scatter(rng, n, sc.macula, 0.09 + 0.05 * sc.sev)
    a = np.maximum(rng.uniform(0.016, 0.036, n) * (0.7 + 0.6 * sc.sev), sc.px(0.7))
    alpha = sc.splat(cx, cy, a, edge=1.6)
    sc.paint(alpha, DRUSEN, 0.55 + 0.4 * sc.sev, family="yellow")


def _macular_edema(sc: _Scene, rng) -> None:
    """Thickened macula: a bright ring of retinal sheen and a grey, swollen centre."""
    rad = 0.11 + 0.05 * sc.sev
    ring = np.exp(-(((sc.dm - rad) / 0.035) ** 2))
    sc.paint(ring, _c(0.97, 0.78, 0.52), 0.35 + 0.35 * sc.sev)
    sc.paint(np.exp(-((sc.dm / (0.8 * rad)) ** 2)), _c(0.72, 0.52, 0.42), 0.3 + 0.3 * sc.sev)


def _macular_hole(sc: _Scene, rng) -> None:
    """Full-thickness hole: dark red disc with a grey cuff and yellow dots at its base."""
    mx, my = sc.macula
    rad = 0.03 + 0.025 * sc.sev
    alpha, box = sc.ellipse(float(mx), float(my), rad * 1.7, edge=2.0)
    sc.paint(alpha, _c(0.8, 0.62, 0.48), 0.55, box=box)
    alpha, box = sc.ellipse(float(mx), float(my), rad, edge=1.0)
    sc.paint(alpha, _c(0.4, 0.08, 0.05), 0.8 + 0.2 * sc.sev, box=box)
    n = 5
    dots = sc.splat(mx + rng.normal(0, rad * 0.4, n), my + rng.normal(0, rad * 0.4, n),
                    max(0.004, sc.px(0.5)), edge=1.0)
    sc.paint(dots, DRUSEN, 0.6)


def _macular_pucker(sc: _Scene, rng) -> None:
    """Epiretinal membrane: glistening striations radiating from a point near the fovea."""
    c = sc.macula + rng.normal(0, 0.03, 2).astype(np.float32)
    phi, d = sc.angle(c), sc.dist(c)
    ph = rng.uniform(0, 2 * np.pi, 3)
    t = np.cos(rng.uniform(8, 12) * phi + 2.5 * np.sin(d * 22 + ph[0]) + 1.5 * np.sin(3 * phi + ph[1]))
    env = np.exp(-((d / (0.15 + 0.08 * sc.sev)) ** 2)) * _smooth(0.0, 0.04, d) * (0.6 + 0.4 * np.sin(2 * phi + ph[2]))
    sc.paint(env, _c(0.9, 0.78, 0.7), 0.3)
    sc.paint(np.clip(3 * t - 2, 0, 1) * env, _c(1.0, 0.96, 0.9), 0.45 + 0.4 * sc.sev)


# ----------------------------------------------------------------------------- vessels / disc overlays
def _random_walks(sc: _Scene, rng, n: int, start, spread, length, turn, k: int = 24):
    """n wiggly curves (n, k) from points around `start`: a tangle of fine vessels."""
    sx, sy = sc.scatter(rng, n, start, spread, 0.9)
    th = rng.uniform(0, 2 * np.pi, (n, 1)) + np.cumsum(rng.normal(0, turn, (n, k)), 1)
    step = length / k
    return sx[:, None] + np.cumsum(step * np.cos(th), 1), sy[:, None] + np.cumsum(step * np.sin(th), 1)


def _neovascularization(sc: _Scene, rng) -> None:
    """Tangled fine vessels on or near the disc (NVD), sometimes also on an arcade (NVE)."""
    n = 10 + int(12 * sc.sev)
    starts = [sc.disc]
    if rng.random() < 0.5:
        v = sc.vessels
        cand = np.flatnonzero(v.vein & (v.gen == 0) & (v.s > 0.5) & (v.x * v.x + v.y * v.y < 0.7))
        if len(cand):
            i = rng.choice(cand)
            starts.append(np.array([v.x[i], v.y[i]], np.float32))
    out = np.zeros((sc.size, sc.size), np.float32)
    for p in starts:
        xs, ys = _random_walks(sc, rng, n, p, sc.disc_r * 0.6, 0.1, 0.9, k=40)
        wid = max(VEIN_WIDTH * 0.35, sc.px(0.6))
        sc.splat(xs.ravel(), ys.ravel(), wid / 2, edge=1.0, amp=min(1.0, wid * sc.scale), out=out)
    sc.paint(out, _c(0.72, 0.08, 0.1), 0.75 + 0.25 * sc.sev)


def _fibrous_proliferation(sc: _Scene, rng) -> None:
    """White-grey fibrovascular membrane over the disc and along a temporal arcade."""
    v = sc.vessels
    nt = len(_TRUNKS)
    arcade = nt + int(rng.integers(2))
    along = np.flatnonzero((v.root == arcade) & (v.gen == 0) & (v.s < 0.4 + 0.6 * sc.sev))
    along = along[:: max(1, len(along) // 30)]
    mx, my = sc.vessel_xy[0][along], sc.vessel_xy[1][along]
    a = rng.uniform(0.04, 0.07, len(along))
    th = sc.vessels.th[along]
    band = sc.splat(np.r_[mx, sc.disc[0]], np.r_[my, sc.disc[1]], np.r_[a, sc.disc_r * 1.4],
                    np.r_[a * rng.uniform(0.4, 0.7, len(along)), sc.disc_r * 1.3], np.r_[th, 0.0], soft=True)
    sc.paint(np.minimum(1, band * 1.4), _c(0.92, 0.9, 0.84), 0.45 + 0.35 * sc.sev)


def _myelinated_fibers(sc: _Scene, rng) -> None:
    """White feathery patch following the nerve fibres from the disc margin."""
    rd = sc.disc_r
    centre = sc.temporal + (1 if rng.random() < 0.5 else -1) * float(np.deg2rad(rng.uniform(50, 80)))
    ang = _wrap(sc.angle(sc.disc) - centre)
    extent = rd * (2 + 2 * sc.sev) * (1 + 0.25 * np.sin(ang * 9 + rng.uniform(0, 6)))
    feather = 0.8 + 0.2 * np.cos(ang * 45 + 3 * np.sin(sc.dd * 40))
    alpha = np.clip((0.8 - np.abs(ang)) / 0.2, 0, 1) * _smooth(0.8 * rd, 1.0 * rd, sc.dd)
    alpha = alpha * np.clip((extent - sc.dd) / (0.6 * rd), 0, 1) * feather
    sc.paint(alpha, WHITE, 0.85)


# ----------------------------------------------------------------------------- retinal lesions (masked)
def _flame_angle(sc: _Scene, x, y):
    """Nerve-fibre direction at (x, y): radial from the disc."""
    return np.arctan2(y - sc.disc[1], x - sc.disc[0])


def _hemorrhage(sc: _Scene, rng) -> np.ndarray:
    """Dark red blots, dots and flames (along the nerve fibres); along the occluded veins with rvo,
    at the posterior pole with dr. Returns the shape alpha (the mask is alpha > 0.5)."""
    n = (2 if sc.has("rvo") else 1) * (1 + int(rng.poisson(0.5 + 4 * sc.sev)))
    size = 0.8 + 0.4 * sc.sev
    if sc.has("rvo"):  # flames along the veins of the occluded sector
        x, y, w = sc.vessel_xy
        v = sc.vessels
        cand = np.flatnonzero(v.vein & np.isin(v.root, _rvo_roots(sc)) & (v.s > 0.1) & (_norm(x, y) < 0.85))
        i = rng.choice(cand, n) if len(cand) else rng.integers(len(x), size=n)
        off = rng.normal(0, 0.03, n) + np.sign(rng.normal(size=n)) * w[i]
        cx, cy = x[i] - off * np.sin(v.th[i]), y[i] + off * np.cos(v.th[i])
        a = rng.uniform(0.07, 0.12, n) * size
        b, th = a * rng.uniform(0.25, 0.45, n), v.th[i]
    else:
        if sc.has("dr"):
            cx, cy = sc.scatter(rng, n, (sc.disc + 2 * sc.macula) / 3, 0.3)
        else:
            cx, cy = sc.uniform(rng, n, 0.1, 0.82)
        flame = rng.random(n) < 0.3
        a = rng.uniform(0.045, 0.085, n) * size
        a = np.where(flame, a * 1.7, a)
        b = np.where(flame, a * rng.uniform(0.25, 0.45, n), a * rng.uniform(0.7, 1.0, n))
        th = np.where(flame, _flame_angle(sc, cx, cy), rng.uniform(0, np.pi, n))
    b = np.maximum(b, sc.px(0.75))
    a = np.maximum(a, b)
    alpha = sc.splat(cx, cy, a, b, th, edge=1.0)
    sc.paint(alpha, BLOOD, 0.55 + 0.4 * sc.sev, family="red")
    return alpha


def _microaneurysm(sc: _Scene, rng) -> None:
    """Tiny red dots at the posterior pole."""
    n = 3 + int(rng.poisson(1 + 10 * sc.sev))
    cx, cy = sc.scatter(rng, n, (sc.disc + 2 * sc.macula) / 3, 0.28)
    a = np.maximum(rng.uniform(0.008, 0.014, n), sc.px(0.6))
    alpha = sc.splat(cx, cy, a, edge=0.8)
    sc.paint(alpha, MA_RED, 0.6 + 0.4 * sc.sev, family="red")


def _hard_exudate(sc: _Scene, rng) -> np.ndarray:
    """Sharp yellow specks, in clusters and partial rings (circinate) around the macula."""
    nc = 1 + int(rng.poisson(0.5 + 2.5 * sc.sev))
    ccx, ccy = sc.scatter(rng, nc, sc.macula, 0.16)
    per = 3 + int(rng.poisson(2 + 8 * sc.sev))
    ring = rng.uniform(0.05, 0.12, (nc, 1))
    ang = rng.uniform(0, 2 * np.pi, (nc, 1)) + rng.uniform(0, 4.5, (nc, per))
    rr = ring * rng.uniform(0.6, 1.2, (nc, per))
    cx = (ccx[:, None] + rr * np.cos(ang)).ravel()
    cy = (ccy[:, None] + rr * np.sin(ang)).ravel()
    a = np.maximum(rng.uniform(0.011, 0.02, cx.size) * (0.7 + 0.6 * sc.sev), sc.px(0.75))
    alpha = sc.splat(cx, cy, a, a * rng.uniform(0.7, 1.0, cx.size), rng.uniform(0, np.pi, cx.size), edge=0.8)
    sc.paint(alpha, EXUDATE, 0.75 + 0.25 * sc.sev, family="yellow")
    return alpha


def _cotton_wool(sc: _Scene, rng) -> np.ndarray:
    """Fluffy white patches near the disc along the arcades: each a cluster of soft lobes."""
    n = 1 + int(rng.poisson(0.3 + 2 * sc.sev))
    v = sc.vessels
    dd = _norm(v.x - sc.disc[0], v.y - sc.disc[1])
    cand = np.flatnonzero((v.gen <= 1) & (v.root % len(_TRUNKS) < 2) & (dd < 0.65) & (dd > 1.4 * sc.disc_r)
                          & (_norm(v.x, v.y) < 0.8))
    i = rng.choice(cand, n) if len(cand) else rng.integers(len(v.x), size=n)
    off = rng.normal(0, 0.05, n)
    cx, cy = v.x[i] - off * np.sin(v.th[i]), v.y[i] + off * np.cos(v.th[i])
    lobes = 3
    size = 0.6 + 0.6 * sc.sev
    px = np.repeat(cx, lobes) + rng.normal(0, 0.025, n * lobes) * size
    py = np.repeat(cy, lobes) + rng.normal(0, 0.025, n * lobes) * size
    a = np.maximum(rng.uniform(0.03, 0.05, n * lobes) * size, sc.px(0.9))
    alpha = sc.splat(px, py, a, a * rng.uniform(0.6, 1.0, n * lobes), np.repeat(v.th[i], lobes), edge=2.0)
    sc.paint(alpha, COTTON, 0.6 + 0.35 * sc.sev, family="white")
    return alpha


# ----------------------------------------------------------------------------- look-alikes (every eye)
def _decoys(sc: _Scene) -> None:
    """Look-alikes of the coloured lesions, in every eye: each colour's budget (drawn per eye,
    whatever the findings) less the area its lesions painted."""
    rng = data_rng([sc.base_seed, _DECOY_SEED])
    u = rng.normal(0, 1, len(DECOY_BUDGET))
    x, y, _ = sc.vessel_xy
    inside = np.flatnonzero((_norm(x, y) < 0.85) & (_norm(x - sc.disc[0], y - sc.disc[1]) > 2.2 * sc.disc_r))
    for (family, (median, spread)), z in zip(DECOY_BUDGET.items(), u):
        shapes, edge, colour, strength = _DECOY_PAINTERS[family](sc, rng, inside)
        left = median * float(np.exp(spread * z)) - sc.spent[family]
        cx, cy, a, b, th = shapes
        keep = np.cumsum(np.pi * a * b * strength) <= left  # the first look-alikes that fit the budget
        if keep.any():
            alpha = sc.splat(cx[keep], cy[keep], a[keep], b[keep], th[keep], edge=edge)
            sc.paint(alpha, colour, strength, box=(slice(None), slice(None)))
            sc.decoys |= alpha > 0.02


def _beside(sc: _Scene, rng, inside: np.ndarray, n: int, gap: tuple[float, float]):
    """n points beside vessel samples (perpendicular offset `gap` plus the vessel's half-width,
    either side) and the vessel's direction there."""
    x, y, w = sc.vessel_xy
    i = rng.choice(inside, n)
    off = (rng.uniform(*gap, n) + w[i] / 2) * np.where(rng.random(n) < 0.5, -1, 1)
    th = sc.vessels.th[i]
    return x[i] - off * np.sin(th), y[i] + off * np.cos(th), th


_DECOY_COUNT = 160  # candidates drawn per colour (a fixed number: the rng use is the same for every eye)


def _vessel_fragments(sc: _Scene, rng, inside: np.ndarray):
    """Red look-alikes of haemorrhages: short vessel segments beside the tree and dark crossing
    spots on it — elongated along the vessels, where haemorrhages are blots and flames."""
    n = _DECOY_COUNT
    crossing = rng.random(n) < 0.3
    cx, cy, th = _beside(sc, rng, inside, n, (0.01, 0.04))
    x, y, _ = sc.vessel_xy
    on = rng.choice(inside, n)
    cx, cy = np.where(crossing, x[on], cx), np.where(crossing, y[on], cy)
    width = np.maximum(rng.uniform(0.012, 0.02, n), sc.px(0.6))
    a = np.where(crossing, width * 1.8, rng.uniform(0.06, 0.12, n))
    b = np.where(crossing, width * 1.5, width)
    return (cx, cy, a, b, th + rng.normal(0, 0.25, n)), 1.0, BLOOD, 0.75


def _refractile_specks(sc: _Scene, rng, inside: np.ndarray):
    """Yellow look-alikes of exudates and drusen: solitary refractile specks (Gunn dots) beside the
    vessels and scattered over the posterior pole — oval, solitary, never in rings or clusters."""
    n = _DECOY_COUNT
    cx, cy, th = _beside(sc, rng, inside, n, (0.005, 0.03))
    px, py = sc.scatter(rng, n, sc.macula * 0.6 + sc.disc * 0.4, 0.3)
    pole = rng.random(n) < 0.5
    a = np.maximum(rng.uniform(0.014, 0.03, n), sc.px(0.8))
    b = np.maximum(a * rng.uniform(0.35, 0.9, n), sc.px(0.6))
    shapes = np.where(pole, px, cx), np.where(pole, py, cy), a, b, np.where(pole, rng.uniform(0, np.pi, n), th)
    return shapes, 1.0, EXUDATE, 0.85


def _light_reflexes(sc: _Scene, rng, inside: np.ndarray):
    """White look-alikes of cotton-wool spots: long thin sheen streaks along the large vessels
    (the young retina's reflex) — where cotton-wool spots are compact fluffy lobes."""
    big = inside[sc.vessels.gen[inside] <= 1]
    n = _DECOY_COUNT
    cx, cy, th = _beside(sc, rng, big if len(big) else inside, n, (0.005, 0.02))
    a = rng.uniform(0.08, 0.14, n)
    b = np.maximum(rng.uniform(0.01, 0.018, n), sc.px(0.6))
    return (cx, cy, a, b, th), 1.8, COTTON, 0.8


_DECOY_PAINTERS = {"red": _vessel_fragments, "yellow": _refractile_specks, "white": _light_reflexes}


# ----------------------------------------------------------------------------- media / elevation
def _retinal_detachment(sc: _Scene, rng) -> None:
    """Grey, wavy, elevated retina bulging in from the periphery, with folds."""
    phi = rng.uniform(-np.pi, 0) if rng.random() < 0.6 else rng.uniform(0, 2 * np.pi)
    u = np.array([np.cos(phi), np.sin(phi)], np.float32)
    along = sc.x * u[0] + sc.y * u[1]
    perp = sc.y * u[0] - sc.x * u[1]
    border = 0.55 - 0.4 * sc.sev + 0.05 * np.sin(perp * 14 + rng.uniform(0, 6))
    region = np.clip((along - border) * sc.scale / 2 + 0.5, 0, 1)
    ph = rng.uniform(0, 2 * np.pi, 2)
    folds = np.clip(1.2 * np.sin(perp * 12 + 4 * np.sin(along * 7 + ph[0]) + ph[1]) - 0.2, 0, 1)
    sc.paint(region, GREY, 0.45 + 0.25 * sc.sev)
    sc.paint(region * folds, _c(0.84, 0.8, 0.76), 0.25)


def _vitreous_opacity(sc: _Scene, rng) -> None:
    """Out-of-focus grey floaters (soft blobs and strands) and a faint overall haze."""
    n = 2 + int(rng.poisson(1 + 3 * sc.sev))
    cx, cy = sc.uniform(rng, n, 0.0, 0.7)
    a = rng.uniform(0.05, 0.13, n)
    b = a * rng.uniform(0.25, 1.0, n)
    alpha = sc.splat(cx, cy, a, b, rng.uniform(0, np.pi, n), soft=True)
    sc.paint(alpha, _c(0.2, 0.16, 0.14), 0.45 + 0.35 * sc.sev)
    sc.img += (0.08 + 0.1 * sc.sev) * (_c(0.55, 0.45, 0.4) - sc.img)


def _cataract(sc: _Scene, rng) -> None:
    """Lens opacity: blur, haze towards a warm grey, contrast loss."""
    sigma = (0.004 + 0.014 * sc.sev) * sc.size

    sc.img = gaussian_filter(sc.img, (0, sigma, sigma), truncate=2.5)
    h = 0.12 + 0.25 * sc.sev
    mean = (sc.img * sc.fov).sum((1, 2), keepdims=True) / sc.fov.sum()
    sc.img += h * (0.5 * mean + 0.5 * _c(0.7, 0.55, 0.42) - sc.img)


# ----------------------------------------------------------------------------- diseases without their own lesion layer
def _glaucoma_lamina(sc: _Scene, rng) -> None:
    """Laminar dots in the pale cup (glaucomatous cupping); the cup itself is drawn with the disc."""
    cup_r = sc.cup[0]
    n = 6
    dots = sc.splat(sc.disc[0] + rng.normal(0, 0.35 * cup_r, n), sc.disc[1] + rng.normal(0, 0.45 * cup_r, n),
                    max(0.005, sc.px(0.5)), edge=1.0)
    sc.paint(dots, _c(0.7, 0.6, 0.55), 0.5)


# ----------------------------------------------------------------------------- rare findings (`others`)
def _o_bone_spicules(sc: _Scene, rng) -> None:
    """Retinitis pigmentosa: mid-peripheral bone-spicule pigment, waxy pale disc."""
    n = 40 + int(60 * sc.sev)
    cx, cy = sc.uniform(rng, n, 0.55, 0.88)
    arms = 3
    ang = rng.uniform(0, 2 * np.pi, (n, 1)) + np.arange(arms) * 2.1
    ln = rng.uniform(0.012, 0.03, (n, arms))
    px = (cx[:, None] + 0.5 * ln * np.cos(ang)).ravel()
    py = (cy[:, None] + 0.5 * ln * np.sin(ang)).ravel()
    alpha = sc.splat(px, py, ln.ravel() / 2, max(0.004, sc.px(0.6)), ang.ravel(), edge=1.0)
    sc.paint(alpha, PIGMENT, 0.85)
    sc.paint(sc.splat([sc.disc[0]], [sc.disc[1]], sc.disc_r, edge=1.5), _c(0.96, 0.86, 0.66), 0.6)


def _o_nevus(sc: _Scene, rng) -> None:
    """Choroidal naevus: a flat slate-grey round lesion."""
    (cx,), (cy,) = sc.uniform(rng, 1, 0.2, 0.7)
    r = 0.06 + 0.05 * sc.sev
    alpha = sc.splat([cx], [cy], r, r * rng.uniform(0.7, 1.0), rng.uniform(0, np.pi), edge=2.0)
    sc.paint(alpha, _c(0.25, 0.24, 0.22), 0.75)


def _o_schisis(sc: _Scene, rng) -> None:
    """Retinoschisis: foveal cartwheel spokes and a smooth translucent peripheral dome."""
    phi = sc.angle(sc.macula)
    spokes = np.clip(2 * np.cos(20 * phi) - 1, 0, 1) * np.exp(-((sc.dm / 0.1) ** 2))
    sc.paint(spokes, _c(0.92, 0.8, 0.7), 0.6)
    d = rng.uniform(0, 2 * np.pi)
    c = np.array([0.65 * np.cos(d), 0.65 * np.sin(d)], np.float32)
    dome = sc.splat([c[0]], [c[1]], 0.25, 0.16, d + np.pi / 2, edge=1.5)
    sc.paint(dome, _c(0.8, 0.72, 0.66), 0.45)


def _o_morning_glory(sc: _Scene, rng) -> None:
    """Morning glory disc: enlarged funnel with a pigment ring and a white central tuft."""
    x, y, rd = sc.disc[0], sc.disc[1], sc.disc_r * 1.9
    sc.paint(sc.splat([x], [y], rd * 1.1, edge=1.5), PIGMENT, 0.5)
    sc.paint(sc.splat([x], [y], rd, edge=1.5), _c(0.95, 0.7, 0.55), 0.9)
    sc.paint(sc.splat([x], [y], rd * 0.35, edge=2.0), WHITE, 0.9)


def _o_cherry_red(sc: _Scene, rng) -> None:
    """Retinal artery occlusion: whitened ischaemic posterior pole with a cherry-red fovea."""
    sc.paint(np.exp(-((sc.dm / 0.32) ** 2)), _c(0.93, 0.86, 0.8), 0.6)
    sc.paint(sc.splat([sc.macula[0]], [sc.macula[1]], 0.035, edge=1.5), _c(0.75, 0.08, 0.06), 0.95)


def _o_coloboma(sc: _Scene, rng) -> None:
    """Chorioretinal coloboma: large white sharply bordered defect below the disc."""
    c = sc.disc + np.array([0, 0.3 + 0.1 * rng.random()], np.float32)
    alpha = sc.splat([c[0]], [c[1]], 0.22, 0.3, edge=1.5)
    sc.paint(alpha, _c(0.96, 0.93, 0.86), 0.9)
    rim = np.clip(alpha * 4, 0, 1) - np.clip(alpha * 4 - 3, 0, 1)
    sc.paint(rim, PIGMENT, 0.6)


def _o_asteroid(sc: _Scene, rng) -> None:
    """Asteroid hyalosis: many bright white-yellow specks floating over the whole fundus."""
    n = 60 + int(80 * sc.sev)
    cx, cy = sc.scatter(rng, n, (0.0, 0.0), 0.35)
    alpha = sc.splat(cx, cy, np.maximum(0.006, sc.px(0.6)), soft=True)
    sc.paint(alpha, _c(1.0, 0.97, 0.85), 0.8)


def _o_mass(sc: _Scene, rng) -> None:
    """Intraocular mass: an elevated white-yellow lesion with its own vessels and a dark shadow."""
    (cx,), (cy,) = sc.uniform(rng, 1, 0.2, 0.65)
    r = 0.12 + 0.06 * sc.sev
    sc.paint(sc.splat([cx + 0.02], [cy + 0.02], r * 1.1, soft=True), _c(0.3, 0.12, 0.06), 0.5)
    sc.paint(sc.splat([cx], [cy], r, edge=3.0), _c(0.95, 0.88, 0.7), 0.9)
    xs, ys = _random_walks(sc, rng, 5, (cx, cy), r * 0.4, r, 0.5, k=20)
    sc.paint(sc.splat(xs.ravel(), ys.ravel(), max(0.004, sc.px(0.6)), edge=1.0), _c(0.7, 0.15, 0.1), 0.8)


def _o_pit(sc: _Scene, rng) -> None:
    """Optic pit: a grey oval depression on the temporal disc margin."""
    c = sc.disc + 0.55 * sc.disc_r * np.array([np.cos(sc.temporal), np.sin(sc.temporal)], np.float32)
    sc.paint(sc.splat([c[0]], [c[1]], 0.3 * sc.disc_r, 0.45 * sc.disc_r, edge=1.2), _c(0.35, 0.35, 0.35), 0.85)


def _o_serous(sc: _Scene, rng) -> None:
    """Central serous chorioretinopathy: a round, greyish, sharply bordered serous detachment at the macula."""
    c = sc.macula + rng.normal(0, 0.03, 2).astype(np.float32)
    r = 0.09 + 0.05 * sc.sev
    alpha, box = sc.ellipse(float(c[0]), float(c[1]), r, r * rng.uniform(0.75, 1.0), edge=2.0)
    sc.paint(alpha, _c(0.62, 0.42, 0.3), 0.5, box=box)
    rim = np.clip(1 - np.abs(alpha - 0.5) * 4, 0, 1)
    sc.paint(rim, _c(0.92, 0.75, 0.55), 0.5, box=box)


def _o_disc_drusen(sc: _Scene, rng) -> None:
    """Optic disc drusen: lumpy, bright yellow nodules on the disc, blurring its margin."""
    n = 8 + int(8 * sc.sev)
    ang = rng.uniform(0, 2 * np.pi, n)
    rr = sc.disc_r * rng.uniform(0.3, 1.0, n)
    a = np.maximum(sc.disc_r * rng.uniform(0.15, 0.3, n), sc.px(0.8))
    alpha = sc.splat(sc.disc[0] + rr * np.cos(ang), sc.disc[1] + rr * np.sin(ang), a, edge=1.5)
    sc.paint(alpha, _c(1.0, 0.9, 0.55), 0.85)


def _o_ped(sc: _Scene, rng) -> None:
    """Pigment epithelial detachment: a dome-shaped orange-yellow elevation near the fovea, dark edge."""
    c = sc.macula + rng.normal(0, 0.05, 2).astype(np.float32)
    r = 0.05 + 0.05 * sc.sev
    alpha, box = sc.ellipse(float(c[0]), float(c[1]), r * 1.15, r * 1.15, edge=1.5)
    sc.paint(alpha, _c(0.3, 0.14, 0.06), 0.6, box=box)
    alpha, box = sc.ellipse(float(c[0]), float(c[1]), r, r, edge=1.5)
    sc.paint(alpha, _c(0.98, 0.68, 0.38), 0.85, box=box)


_OTHERS = (
    (("色素变性", "pigmentosa"), _o_bone_spicules),
    (("浆液", "中浆", "serous"), _o_serous),
    (("视盘玻璃", "disc drusen"), _o_disc_drusen),
    (("色素上皮脱离", "epithelial detachment"), _o_ped),
    (("痣", "nevus", "naevus"), _o_nevus),
    (("劈裂", "schisis"), _o_schisis),
    (("牵牛花", "morning glory"), _o_morning_glory),
    (("动脉阻塞", "artery occlusion", "樱桃红", "cherry"), _o_cherry_red),
    (("缺损", "coloboma"), _o_coloboma),
    (("星状", "asteroid"), _o_asteroid),
    (("瘤", "tumor", "tumour", "blastoma", "melanoma", "coats"), _o_mass),
    (("小凹", "pit"), _o_pit),
)


def _others_painter(term: str | None, rng: np.random.Generator):
    """The painter for a rare term: by keyword, else a stable choice from the term's CRC32."""
    if term:
        low = term.lower()
        for words, painter in _OTHERS:
            if any(w in low for w in words):
                return painter
        return _OTHERS[zlib.crc32(term.encode()) % len(_OTHERS)][1]
    return _OTHERS[int(rng.integers(len(_OTHERS)))][1]


def _others(sc: _Scene, rng) -> None:
    _others_painter(sc.f.others_term, rng)(sc, rng)


# ----------------------------------------------------------------------------- composition
# (category, painter) in drawing order; background → choroid → disc/macula → vessels → lesions → media
_EARLY = (
    ("pathologic_myopia", _myopia), ("tessellation", _tessellation),
    ("chorioretinal_atrophy", _chorioretinal_atrophy), ("laser_spots", _laser_spots),
    ("peripapillary_atrophy", _ppa),
)
_MACULA = (
    ("amd", _amd), ("drusen", _drusen), ("macular_edema", _macular_edema), ("macular_hole", _macular_hole),
    ("rnfl_defect", _rnfl_defect),
)
_LATE = (
    ("glaucoma", _glaucoma_lamina), ("neovascularization", _neovascularization),
    ("fibrous_proliferation", _fibrous_proliferation), ("myelinated_fibers", _myelinated_fibers),
    ("macular_pucker", _macular_pucker), ("pigment_disorder", _pigment), ("microaneurysm", _microaneurysm),
)
_MASKED = (("hemorrhage", _hemorrhage), ("cotton_wool_spot", _cotton_wool), ("hard_exudate", _hard_exudate))
_MEDIA = (
    ("others", _others), ("retinal_detachment", _retinal_detachment),
    ("vitreous_opacity", _vitreous_opacity), ("cataract", _cataract),
)


def render_eye(findings: EyeFindings, rng: np.random.Generator, size: int) -> RenderedEye:
    """Draw one eye: image (size, size, 3) uint8 and masks (3, size, size) uint8 in LESION_MASKS order.

    Deterministic given the rng state; consumes a fixed amount of it whatever the findings.
    """
    unknown = set(findings.keys) - _KNOWN
    if unknown:
        raise VlpbenchError(f"render_eye: unknown finding key(s) {sorted(unknown)}; the renderer draws "
                            f"{', '.join(sorted(_KNOWN))}")
    sc = _Scene(findings, rng, size)
    _background(sc)

    def run(stage):
        for key, painter in stage:
            if sc.has(key):
                painter(sc, sc.rng(key))

    run(_EARLY)
    _disc(sc)
    _macula(sc)
    run(_MACULA)
    _vessels(sc)
    run(_LATE)
    masks = np.zeros((len(LESION_MASKS), size, size), np.uint8)
    for key, painter in _MASKED:
        if sc.has(key):
            masks[LESION_MASKS.index(key)] = painter(sc, sc.rng(key)) > 0.5
    _decoys(sc)
    run(_MEDIA)
    fov255, dark, inside = _fov_terms(size)
    img = sc.img * fov255
    img += dark
    masks &= inside
    return RenderedEye(np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0)), masks,
                       sc.decoys & inside.astype(bool))
