"""Latent findings of synthetic eyes: a long-tailed prior with realistic co-occurrence.

An abnormal eye has 1–3 primary findings, each a disease with its typical lesions (DR by stage:
microaneurysms, haemorrhages, hard exudates, cotton-wool spots, macular edema, laser spots,
neovascularization ≥ IV, fibrous proliferation ≥ V, retinal detachment VI; glaucoma: large cup,
RNFL defect; AMD: drusen, pigment disorder; pathologic myopia: tessellation, peripapillary and
chorioretinal atrophy; arteriosclerosis: thin arteries, AV nicking; RVO: haemorrhage, cotton-wool
spots; cataract: a hazy image) or a lesion seen on its own. The share of normal eyes, and through
it the mean label entropy (eq 14), is tunable.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

import numpy as np

from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS, load_knowledge_base
from vlpbench.datasets.labels.label_stats import mean_label_entropy
from vlpbench.datasets.synthetic.latent import EyeFindings

# disease: (weight among primary findings, {associated lesion: probability})
DISEASES: dict[str, tuple[float, dict[str, float]]] = {
    "dr": (0.24, {}),  # lesions follow the stage: DR_LESIONS, DR_STAGE_IMPLIES
    "arteriosclerosis": (0.12, {"thin_arteries": 0.8, "av_nicking": 0.5}),
    "pathologic_myopia": (0.09, {"tessellation": 0.9, "peripapillary_atrophy": 0.7,
                                 "chorioretinal_atrophy": 0.35}),
    "glaucoma": (0.09, {"large_optic_cup": 0.95, "rnfl_defect": 0.5, "optic_disc_pallor": 0.05}),
    "amd": (0.08, {"drusen": 0.85, "pigment_disorder": 0.45, "hemorrhage": 0.08}),
    "cataract": (0.07, {}),
    "rvo": (0.05, {"hemorrhage": 1.0, "cotton_wool_spot": 0.5, "macular_edema": 0.3}),
}
# lesions seen on their own: weight among primary findings (the long tail)
LESIONS: dict[str, float] = {
    "tessellation": 0.05, "drusen": 0.04, "peripapillary_atrophy": 0.03, "vitreous_opacity": 0.025,
    "macular_pucker": 0.025, "large_optic_cup": 0.02, "thin_arteries": 0.02, "hemorrhage": 0.015,
    "pigment_disorder": 0.015, "chorioretinal_atrophy": 0.01, "myelinated_fibers": 0.008,
    "optic_disc_pallor": 0.008, "macular_hole": 0.007, "optic_disc_edema": 0.006, "hard_exudate": 0.006,
    "rnfl_defect": 0.005, "laser_spots": 0.005, "microaneurysm": 0.005, "macular_edema": 0.004,
    "cotton_wool_spot": 0.003, "av_nicking": 0.003, "retinal_detachment": 0.003,
    "neovascularization": 0.002, "fibrous_proliferation": 0.002,
}
FINDINGS_PER_EYE = (0.6, 0.3, 0.1)  # P(1), P(2), P(3) primary findings
DR_STAGE_PRIOR = (0.30, 0.27, 0.20, 0.11, 0.07, 0.05)  # stages I..VI
DR_LESIONS: dict[str, tuple[float, ...]] = {  # probability at stages I..VI
    "microaneurysm": (0.95, 0.9, 0.85, 0.8, 0.7, 0.6),
    "hemorrhage": (0.4, 0.9, 0.95, 0.95, 0.9, 0.9),
    "hard_exudate": (0.1, 0.75, 0.7, 0.65, 0.6, 0.5),
    "cotton_wool_spot": (0.0, 0.1, 0.8, 0.7, 0.6, 0.5),
    "macular_edema": (0.0, 0.15, 0.25, 0.3, 0.3, 0.25),
    "laser_spots": (0.0, 0.0, 0.1, 0.35, 0.4, 0.3),
}
DR_STAGE_IMPLIES = {"neovascularization": 4, "fibrous_proliferation": 5, "retinal_detachment": 6}
# (values, probabilities): near but on the correct side of the thresholds sometimes (subtle cases)
LARGE_CUP = ((0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9), (0.12, 0.18, 0.15, 0.18, 0.13, 0.12, 0.07, 0.05))
NORMAL_CUP = ((0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5), (0.08, 0.12, 0.25, 0.2, 0.17, 0.1, 0.08))
THIN_AV = ((1 / 3, 0.4, 0.5, 0.6), (0.15, 0.2, 0.45, 0.2))
NORMAL_AV = ((2 / 3, 0.7, 0.75, 0.8), (0.5, 0.15, 0.25, 0.1))
OTHERS_WITH_LESION = 0.2  # share of `others` eyes that also show one common lesion

_PRIMARY = (*DISEASES, *LESIONS)
_PRIMARY_WEIGHTS = [w for w, _ in DISEASES.values()] + list(LESIONS.values())


def sample_findings(rng: np.random.Generator, n: int, normal_share: float = 0.35,
                    others_share: float = 0.03, target_mle: float | None = None) -> list[EyeFindings]:
    """Draw `n` eyes: `others_share` rare `others` findings, `normal_share` normal eyes, the rest
    abnormal. With `target_mle`, the normal share is instead tuned by bisection so that the mean
    label entropy (eq 14) of the drawn labels is `target_mle` (±0.001 for n ≥ 2000)."""
    if n < 0:
        raise VlpbenchError(f"number of eyes must be ≥ 0, got {n}")
    if not (0 <= others_share <= 1 and 0 <= normal_share and normal_share + others_share <= 1):
        raise VlpbenchError(f"normal_share ({normal_share}) and others_share ({others_share}) must be "
                            "≥ 0 and sum to at most 1")
    rare_ids = load_knowledge_base("zh").rare_ids
    u = rng.random(n)
    drawn = [_others_eye(rng, rare_ids) if x < others_share else _abnormal_eye(rng) for x in u]
    normals = [_normal_eye(rng) for _ in range(n)]
    if target_mle is not None:
        normal_share = _tune_normal_share(u, others_share, findings_to_labels(drawn), target_mle)
    is_normal = (u >= others_share) & (u < others_share + normal_share)
    return [normals[i] if is_normal[i] else drawn[i] for i in range(n)]


def findings_to_labels(findings: list[EyeFindings]) -> np.ndarray:
    """(n, 33) uint8 multi-hot labels in knowledge-base order."""
    index = {key: i for i, key in enumerate(CATEGORY_KEYS)}
    labels = np.zeros((len(findings), len(CATEGORY_KEYS)), dtype=np.uint8)
    for row, eye in enumerate(findings):
        labels[row, [index[k] for k in eye.keys]] = 1
    return labels


def _tune_normal_share(u: np.ndarray, others_share: float, drawn: np.ndarray, target: float) -> float:
    """Normal share whose realised mLE is `target`: a grid finds the falling branch, bisection the value."""
    normal_row = np.zeros(drawn.shape[1], dtype=np.uint8)
    normal_row[CATEGORY_KEYS.index("normal")] = 1
    eligible = u >= others_share

    def mle(share: float) -> float:
        is_normal = eligible & (u < others_share + share)
        return mean_label_entropy(np.where(is_normal[:, None], normal_row, drawn))

    grid = np.linspace(0.0, 1.0 - others_share, 101)
    values = np.array([mle(s) for s in grid])
    peak = int(values.argmax())
    if not values[-1] <= target <= values[peak]:
        raise VlpbenchError(f"target mLE {target} is outside what the generator reaches with "
                            f"others_share={others_share}: {values[-1]:.4f} … {values[peak]:.4f}")
    hi = peak + int(np.argmax(values[peak:] <= target))  # first grid point at or below the target
    lo_share, hi_share = grid[max(hi - 1, peak)], grid[hi]
    share = hi_share
    for _ in range(50):
        share = (lo_share + hi_share) / 2
        value = mle(share)
        if abs(value - target) <= 1e-3:
            break
        lo_share, hi_share = (share, hi_share) if value > target else (lo_share, share)
    return float(share)


def _normal_eye(rng: np.random.Generator) -> EyeFindings:
    return EyeFindings(("normal",), cup_disc_ratio=_pick(rng, NORMAL_CUP), av_ratio=_pick(rng, NORMAL_AV),
                       severity=0.0)


def _others_eye(rng: np.random.Generator, rare_ids: tuple[str, ...]) -> EyeFindings:
    keys = {"others"}
    if rng.random() < OTHERS_WITH_LESION:
        keys.add(_draw(rng, tuple(LESIONS), list(LESIONS.values())))
    return _eye(rng, keys, 0, others_term=str(rng.choice(rare_ids)))


def _abnormal_eye(rng: np.random.Generator) -> EyeFindings:
    count = _draw(rng, (1, 2, 3), FINDINGS_PER_EYE)
    primaries: list[str] = []
    while len(primaries) < count:  # without replacement
        primary = _draw(rng, _PRIMARY, _PRIMARY_WEIGHTS)
        if primary not in primaries:
            primaries.append(primary)
    keys: set[str] = set(primaries)
    stage = 0
    for primary in primaries:
        if primary == "dr":
            stage = _draw(rng, (1, 2, 3, 4, 5, 6), DR_STAGE_PRIOR)
            keys.update(k for k, p in DR_LESIONS.items() if rng.random() < p[stage - 1])
            keys.update(k for k, lowest in DR_STAGE_IMPLIES.items() if stage >= lowest)
            if not keys & {"microaneurysm", "hemorrhage"}:
                keys.add("microaneurysm")
        elif primary in DISEASES:
            keys.update(k for k, p in DISEASES[primary][1].items() if rng.random() < p)
    return _eye(rng, keys, stage)


def _eye(rng: np.random.Generator, keys: set[str], stage: int, others_term: str | None = None) -> EyeFindings:
    """An eye whose C/D and A:V are consistent with its keys and whose severity fits its DR stage."""
    cup = _pick(rng, LARGE_CUP if "large_optic_cup" in keys else NORMAL_CUP)
    av = _pick(rng, THIN_AV if "thin_arteries" in keys else NORMAL_AV)
    severity = 0.1 + 0.15 * stage + rng.uniform(0.0, 0.2) if stage else rng.uniform(0.2, 1.0)
    return EyeFindings(tuple(k for k in CATEGORY_KEYS if k in keys), dr_stage=stage, cup_disc_ratio=cup,
                       av_ratio=av, others_term=others_term, severity=round(float(min(severity, 1.0)), 3))


def _pick(rng: np.random.Generator, menu: tuple[tuple[float, ...], tuple[float, ...]]) -> float:
    return float(_draw(rng, *menu))


def _draw(rng: np.random.Generator, values: tuple, weights) -> object:
    """One value drawn with probability proportional to its weight (one uniform per draw)."""
    cumulative = list(accumulate(weights))
    return values[min(bisect_right(cumulative, rng.random() * cumulative[-1]), len(values) - 1)]

