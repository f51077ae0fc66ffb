"""FIVES (Jin et al., Scientific Data 2022): 800 fundus photographs, 200 each of normal, DR,
glaucoma and AMD, official train/test 600/200; the class is the file-name suffix. The vessel
masks ship too but are not used."""

from __future__ import annotations

import numpy as np

from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_dataset
from vlpbench.datasets.base import ClassificationDataset, DatasetOptions
from vlpbench.datasets.files import first_existing, fixed_split, split_file
from vlpbench.datasets.public._common import (
    SPLIT_SEED,
    VAL_FRACTIONS,
    ClassTerm,
    classification_dataset,
    dataset_root,
    image_files,
)

NAME = "fives"
FOLDERS = ("FIVES", "FIVES A Fundus Image Dataset for AI-based Vessel Segmentation")
CLASSES = (ClassTerm("N", "normal"), ClassTerm("D", "dr"), ClassTerm("G", "glaucoma"), ClassTerm("A", "amd"))

CARD = {
    "dataset": "FIVES (Fundus Image dataset for Vessel Segmentation)",
    "task": "normal / DR / glaucoma / AMD, multi-class",
    "folder": "FIVES",
    "layout": "FIVES/train/Original/<n>_<X>.png and FIVES/test/Original/<n>_<X>.png, X ∈ {N, D, G, A} "
              "(normal, diabetic retinopathy, glaucoma, AMD); train/Ground truth/ (vessel masks) and "
              "Quality Assessment.xlsx are not used",
    "split": f"official train/test (600/200); val = {VAL_FRACTIONS['val']:.0%} of the official train set, "
             f"stratified by class, seed {SPLIT_SEED}, saved to .vlpbench_split_fives.json on first use",
    "label_rule": "class = the letter after the last '_' of the file name",
    "licence": "CC BY 4.0 (figshare)",
    "citation": "K. Jin et al., FIVES: a fundus image dataset for artificial intelligence based vessel "
                "segmentation, Scientific Data 9:475, 2022.",
}


def _class_of(path) -> int:
    letter = path.stem.rsplit("_", 1)[-1].upper()
    names = [c.name for c in CLASSES]
    if letter not in names:
        raise VlpbenchError(f"FIVES image {path}: file-name suffix '_{letter}' is not one of {['_' + n for n in names]}")
    return names.index(letter)


@register_dataset(NAME, description="FIVES normal/DR/glaucoma/AMD (real data, --data-root)",
                  info=PluginInfo(title="FIVES", order=50, reference=CARD["citation"], tags=("public", "classification")))
def load_fives(options: DatasetOptions) -> ClassificationDataset:
    """FIVES from `data_root/FIVES` (or `data_root` itself)."""
    root = dataset_root(options, NAME, FOLDERS, ["train/Original"])
    files = {split: image_files(first_existing(root, [f"{split}/Original"], f"FIVES {split} images"), f"FIVES {split}")
             for split in ("train", "test")}
    classes = {split: np.array([_class_of(p) for p in paths], np.int64) for split, paths in files.items()}
    names = [p.name for p in files["train"]]
    assignment = fixed_split(names, SPLIT_SEED, VAL_FRACTIONS, split_file(root, NAME), strata=classes["train"].tolist())
    index = {name: i for i, name in enumerate(names)}
    paths, labels = {"test": files["test"]}, {"test": classes["test"]}
    for split, members in assignment.items():
        paths[split] = [files["train"][index[m]] for m in members]
        labels[split] = classes["train"][[index[m] for m in members]]
    paths = {split: paths[split] for split in ("train", "val", "test")}
    return classification_dataset(NAME, CLASSES, False, paths, labels, options, {**CARD, "root": str(root)})
