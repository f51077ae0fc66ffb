"""Synthetic evaluation sets mirroring the public label spaces, on acquisition sites the corpus
never uses (out-of-distribution). Each has fixed train/val/test splits (seeded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from vlpbench.core.data_seeding import data_rng
from vlpbench.core.registry import PluginInfo, register_dataset
from vlpbench.datasets.base import (
    ClassificationDataset,
    ClassificationSplit,
    DatasetOptions,
    SegmentationDataset,
    SegmentationSplit,
)
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.datasets.synthetic.cache import cached_generation
from vlpbench.datasets.synthetic.disk import read_classification_set, read_segmentation_set
from vlpbench.datasets.synthetic.generate import draw_findings, render_eyes
from vlpbench.datasets.synthetic.latent import EyeFindings
from vlpbench.datasets.synthetic.sites import OOD_SITES

SPLIT_SIZES = {"train": 500, "val": 150, "test": 350}
SEG_SPLIT_SIZES = {"train": 96, "val": 24, "test": 48}
SEG_LESIONS = ["hemorrhage", "cotton_wool_spot", "hard_exudate"]


@dataclass(frozen=True)
class ClassSpec:
    """One class of an evaluation set: the category keys that make it positive."""

    name: str
    keys: tuple[str, ...]
    prompt_key: str
    stage: int | None = None  # DR grade sets: the stage written into the prompt


@dataclass(frozen=True)
class SetSpec:
    name: str
    classes: tuple[ClassSpec, ...]
    multilabel: bool
    seed: int
    accept: Callable[[EyeFindings], str | None] | None = None
    label_of: Callable[[EyeFindings], int] | None = None
    card: dict = field(default_factory=dict)


def _has(eye: EyeFindings, keys: tuple[str, ...]) -> bool:
    return any(key in eye.keys for key in keys)


def _messidor_grade(eye: EyeFindings) -> int:
    return 0 if eye.dr_stage == 0 else 1 if eye.dr_stage <= 2 else 2 if eye.dr_stage == 3 else 3


def _is_normal(eye: EyeFindings) -> bool:
    return set(eye.keys) == {"normal"}


def _refuge_class(eye: EyeFindings) -> str | None:
    """REFUGE: glaucoma eyes, and healthy eyes as the negatives its prompt 正常眼底 names."""
    return "glaucoma" if "glaucoma" in eye.keys else "non-glaucoma" if _is_normal(eye) else None


def _messidor_class(eye: EyeFindings) -> str | None:
    """MESSIDOR: DR grades 1–3 by stage; grade 0 (prompted 正常眼底) holds healthy eyes only."""
    grade = _messidor_grade(eye)
    return f"grade{grade}" if grade > 0 or _is_normal(eye) else None


def _exclusive(classes: tuple[ClassSpec, ...]) -> Callable[[EyeFindings], str | None]:
    """Accept eyes positive for exactly one class (quota-balanced multi-class sets)."""

    def accept(eye: EyeFindings) -> str | None:
        hits = [c.name for c in classes if _has(eye, c.keys)]
        return hits[0] if len(hits) == 1 else None

    return accept


RFMID = tuple(ClassSpec(n, k, k[0]) for n, k in [
    ("DR", ("dr",)), ("ARMD", ("amd",)), ("MH", ("cataract", "vitreous_opacity")), ("DN", ("drusen",)),
    ("MYA", ("pathologic_myopia",)), ("BRVO", ("rvo",)), ("TSLN", ("tessellation",)), ("ERM", ("macular_pucker",)),
    ("LS", ("laser_spots",)), ("ODC", ("large_optic_cup",)), ("ODP", ("optic_disc_pallor",)), ("ODE", ("optic_disc_edema",)),
    ("CWS", ("cotton_wool_spot",)), ("MNF", ("myelinated_fibers",)), ("MHL", ("macular_hole",)), ("HR", ("hemorrhage",)),
])
ODIR = tuple(ClassSpec(n, k, k[0]) for n, k in [
    ("N", ("normal",)), ("D", ("dr",)), ("G", ("glaucoma",)), ("C", ("cataract",)), ("A", ("amd",)),
    ("H", ("arteriosclerosis",)), ("M", ("pathologic_myopia",)), ("O", ("others", "rvo", "macular_hole", "macular_pucker", "retinal_detachment", "optic_disc_edema")),
])
REFUGE = (ClassSpec("non-glaucoma", ("normal",), "normal"), ClassSpec("glaucoma", ("glaucoma",), "glaucoma"))
MESSIDOR = (ClassSpec("grade0", (), "normal"),) + tuple(ClassSpec(f"grade{g}", ("dr",), "dr", stage) for g, stage in ((1, 2), (2, 3), (3, 4)))
FIVES = tuple(ClassSpec(n, (k,), k) for n, k in [("N", "normal"), ("D", "dr"), ("G", "glaucoma"), ("A", "amd")])

SETS = {
    "syn-rfmid": SetSpec("syn-rfmid", RFMID, True, 11, card={"mirrors": "RFMiD (multi-label)"}),
    "syn-odir": SetSpec("syn-odir", ODIR, True, 12, card={"mirrors": "ODIR-5K (N,D,G,C,A,H,M,O)", "zero_shot_exclude": ["O"]}),
    "syn-refuge": SetSpec("syn-refuge", REFUGE, False, 13, accept=_refuge_class,
                          label_of=lambda e: int("glaucoma" in e.keys), card={"mirrors": "REFUGE (glaucoma vs not)",
                          "label_rule": "glaucoma eyes vs healthy eyes (a quarter glaucoma)"}),
    "syn-messidor": SetSpec("syn-messidor", MESSIDOR, False, 14, accept=_messidor_class,
                            label_of=_messidor_grade, card={"mirrors": "MESSIDOR (DR grade 0–3)",
                            "label_rule": "grade 0 = healthy eyes; DR stage 1–2 → grade 1, 3 → grade 2, 4 → grade 3"}),
    "syn-fives": SetSpec("syn-fives", FIVES, False, 15, accept=_exclusive(FIVES),
                         label_of=lambda e: next(i for i, c in enumerate(FIVES) if _has(e, c.keys)), card={"mirrors": "FIVES (N/D/G/A)", "label_rule": "eyes with exactly one of the four classes"}),
}


def _quotas(spec: SetSpec, n: int) -> dict[str, int] | None:
    if spec.accept is None:
        return None
    if spec.name == "syn-refuge":  # REFUGE is imbalanced (10 % glaucoma); keep a quarter here
        return {"glaucoma": n // 4, "non-glaucoma": n - n // 4}
    share = n // len(spec.classes)
    quotas = {c.name: share for c in spec.classes}
    quotas[spec.classes[0].name] += n - share * len(spec.classes)
    return quotas


def _prompts(spec: SetSpec) -> dict[str, list[str]]:
    prompts = {}
    for language, stage_format in (("zh", "{term}{stage}期"), ("en", "{term} stage {stage}")):
        kb = load_knowledge_base(language)
        prompts[language] = [
            stage_format.format(term=kb.term(c.prompt_key), stage=c.stage) if c.stage else kb.term(c.prompt_key)
            for c in spec.classes
        ]
    return prompts


def split_sizes(base: dict[str, int], options: DatasetOptions, least: int) -> dict[str, int]:
    """Images per split: `size_scale` × the recipe's, the test split × `test_scale` once more.
    Splits are drawn in train, val, test order from one stream, so a larger test split leaves the
    train and val images as they were."""
    scale = {"test": options.test_scale}
    return {split: max(least, int(n * options.size_scale * scale.get(split, 1.0))) for split, n in base.items()}


def build_classification_set(spec: SetSpec, options: DatasetOptions) -> ClassificationDataset:
    sizes = split_sizes(SPLIT_SIZES, options, least=8)

    def generate() -> tuple[dict[str, np.ndarray], dict]:
        rng = data_rng([spec.seed, options.seed])
        arrays = {}
        for split, n in sizes.items():
            findings = draw_findings(rng, n, quotas=_quotas(spec, n), accept=spec.accept)
            eyes = render_eyes(findings, options.image_size, list(OOD_SITES), rng)
            if spec.multilabel:
                labels = np.array([[int(_has(e, c.keys)) for c in spec.classes] for e in findings], np.uint8)
            else:
                labels = np.array([spec.label_of(e) for e in findings], np.int64)
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = eyes.images, labels
        return arrays, {}

    recipe = {"set": spec.name, "sizes": sizes, "image_size": options.image_size, "seed": options.seed}
    card = {**spec.card, "sites": list(OOD_SITES), "sizes": sizes, "classes": {c.name: list(c.keys) for c in spec.classes}}
    names = [c.name for c in spec.classes]
    written = options.data_root / spec.name if options.data_root else None
    if written is not None and written.is_dir():
        template = ClassificationDataset(spec.name, names, spec.multilabel, _prompts(spec), dict.fromkeys(sizes), card=card)
        return read_classification_set(written, template)
    arrays, _ = cached_generation(options.cache_dir, spec.name, recipe, generate)
    splits = {s: ClassificationSplit(arrays[f"{s}_images"], arrays[f"{s}_labels"]) for s in sizes}
    return ClassificationDataset(spec.name, names, spec.multilabel, _prompts(spec), splits, card=card)


def build_segmentation_set(name: str, seed: int, options: DatasetOptions) -> SegmentationDataset:
    sizes = split_sizes(SEG_SPLIT_SIZES, options, least=4)

    def generate() -> tuple[dict[str, np.ndarray], dict]:
        rng = data_rng([seed, options.seed])
        arrays = {}
        for split, n in sizes.items():
            lesioned = n - n // 8
            accept = lambda e: "lesion" if _has(e, tuple(SEG_LESIONS)) else "normal" if e.keys == ("normal",) else None
            findings = draw_findings(rng, n, quotas={"lesion": lesioned, "normal": n - lesioned}, accept=accept)
            eyes = render_eyes(findings, options.image_size, list(OOD_SITES), rng)
            arrays[f"{split}_images"], arrays[f"{split}_masks"] = eyes.images, eyes.masks
        return arrays, {}

    recipe = {"set": name, "sizes": sizes, "image_size": options.image_size, "seed": options.seed}
    card = {"sites": list(OOD_SITES), "sizes": sizes}
    written = options.data_root / name if options.data_root else None
    if written is not None and written.is_dir():
        return read_segmentation_set(written, SegmentationDataset(name, list(SEG_LESIONS), dict.fromkeys(sizes), card=card))
    arrays, _ = cached_generation(options.cache_dir, name, recipe, generate)
    splits = {s: SegmentationSplit(arrays[f"{s}_images"], arrays[f"{s}_masks"]) for s in sizes}
    return SegmentationDataset(name, list(SEG_LESIONS), splits, card=card)


def _register_classification(name: str) -> None:
    spec = SETS[name]
    info = PluginInfo(reference=f"synthetic mirror of {spec.card['mirrors']}", tags=("synthetic", "classification"))
    register_dataset(name, description=f"synthetic, mirrors {spec.card['mirrors']}, unseen sites", info=info)(
        lambda options, spec=spec: build_classification_set(spec, options)
    )


def _register_segmentation(name: str, seed: int, mirrors: str) -> None:
    info = PluginInfo(reference=f"synthetic mirror of {mirrors}", tags=("synthetic", "segmentation"))
    register_dataset(name, description=f"synthetic lesion segmentation (HE, SE, EX), mirrors {mirrors}, unseen sites", info=info)(
        lambda options: build_segmentation_set(name, seed, options)
    )


for _name in SETS:
    _register_classification(_name)
for _name, _seed, _mirrors in (("syn-idrid", 21, "IDRiD"), ("syn-retinal-lesions", 22, "Retinal-Lesions"), ("syn-fgadr", 23, "FGADR")):
    _register_segmentation(_name, _seed, _mirrors)
