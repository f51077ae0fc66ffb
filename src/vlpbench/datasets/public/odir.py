"""ODIR-5K (ODIR-2019 challenge): 3,500 patients × 2 eyes with patient-level labels N,D,G,C,A,
H,M,O and per-eye diagnostic keywords. Labels here are per eye, derived from the keywords with
the rules below; only the training release has labels, so the split is a documented fixed split
by patient (both eyes of a patient in the same split)."""

from __future__ import annotations

import re

import numpy as np

from vlpbench.core.registry import PluginInfo, register_dataset
from vlpbench.datasets.base import ClassificationDataset, DatasetOptions
from vlpbench.datasets.files import first_existing, fixed_split, read_table, split_file
from vlpbench.datasets.public._common import FRACTIONS, SPLIT_SEED, ClassTerm, classification_dataset, dataset_root

NAME = "odir"
FOLDERS = ("ODIR-5K", "ODIR")
TABLES = ["ODIR-5K_Training_Annotations(Updated)_V2.xlsx",
          "ODIR-5K_Training_Images/ODIR-5K_Training_Annotations(Updated)_V2.xlsx",
          "ODIR-5K/ODIR-5K/data.xlsx", "ODIR-5K/data.xlsx", "data.xlsx"]
IMAGES = ["ODIR-5K_Training_Images/ODIR-5K_Training_Dataset", "ODIR-5K_Training_Dataset",
          "ODIR-5K/ODIR-5K/Training Images", "ODIR-5K/Training Images", "Training Images"]
EYES = {"left": ("Left-Fundus", "Left-Diagnostic Keywords"), "right": ("Right-Fundus", "Right-Diagnostic Keywords")}
CLASSES = (
    ClassTerm("N", "normal"), ClassTerm("D", "dr"), ClassTerm("G", "glaucoma"), ClassTerm("C", "cataract"),
    ClassTerm("A", "amd"), ClassTerm("H", "arteriosclerosis"), ClassTerm("M", "pathologic_myopia"),
    ClassTerm("O", "others"),
)
#: keyword (substring, lower case) → class; first match wins; anything else is O
RULES = (
    ("normal fundus", "N"), ("diabetic retinopathy", "D"), ("proliferative retinopathy", "D"), ("glaucoma", "G"),
    ("cataract", "C"), ("macular degeneration", "A"), ("hypertensive retinopathy", "H"), ("myopi", "M"),
)
#: image-quality keywords: not findings, ignored
QUALITY = {"lens dust", "low image quality", "image offset", "optic disk photographically invisible"}
#: the photograph is not a fundus image: the eye is excluded
NOT_FUNDUS = {"anterior segment image", "no fundus image"}

CARD = {
    "dataset": "ODIR-5K (Ocular Disease Intelligent Recognition, ODIR-2019)",
    "task": "multi-label, per eye",
    "folder": "ODIR-5K",
    "layout": "ODIR-5K/ODIR-5K_Training_Annotations(Updated)_V2.xlsx (columns ID, Patient Age, Patient Sex, "
              "Left-Fundus, Right-Fundus, Left-Diagnostic Keywords, Right-Diagnostic Keywords, N, D, G, C, A, H, M, O) "
              "+ ODIR-5K_Training_Images/ODIR-5K_Training_Dataset/<ID>_left.jpg, <ID>_right.jpg (the flat "
              "ODIR-5K_Training_Dataset/ and Kaggle's ODIR-5K/ODIR-5K/data.xlsx + Training Images/ also read)",
    "split": f"only the training release has labels: fixed split by patient ID (both eyes in the same split), "
             f"seed {SPLIT_SEED}, train/val/test {FRACTIONS}, saved to .vlpbench_split_odir.json in the dataset "
             "folder on first use",
    "label_rule": "the N–O columns are per patient, so labels are derived per eye, from that eye's keywords "
                  "(split on '，' and ','): " + "; ".join(f"'{k}' → {c}" for k, c in RULES)
                  + " (the D keywords cover the mild/moderate/severe non-proliferative ones); any other keyword → O; "
                  "quality keywords (" + ", ".join(sorted(QUALITY)) + ") are ignored; an eye with "
                  "'anterior segment image' or 'no fundus image', or with no keyword left, is excluded (counted in "
                  "card['excluded_eyes']). N only when no abnormal class is found.",
    "prompt_note": "H (hypertension) is prompted with the knowledge-base term for fundus arteriosclerosis "
                   "(眼底动脉硬化), the finding Chinese reports record for hypertensive fundus changes (as syn-odir)",
    "zero_shot_exclude": ["O"],
    "licence": "ODIR-2019 challenge data (Peking University / Shanggong Medical Technology): research use under "
               "the challenge terms, no redistribution",
    "citation": "Peking University International Competition on Ocular Disease Intelligent Recognition "
                "(ODIR-2019), https://odir2019.grand-challenge.org/",
}


def eye_labels(keywords: str) -> np.ndarray | None:
    """The 8-dim multi-hot label of one eye, or None when the eye is excluded (see CARD)."""
    if not isinstance(keywords, str):
        return None
    words = [w.strip().lower() for w in re.split("[，,]", keywords) if w.strip()]
    if any(w in NOT_FUNDUS for w in words):
        return None
    findings = [w for w in words if w not in QUALITY]
    if not findings:
        return None
    names = [c.name for c in CLASSES]
    label = np.zeros(len(CLASSES), np.uint8)
    for word in findings:
        label[names.index(next((c for k, c in RULES if k in word), "O"))] = 1
    if label[1:].any():
        label[0] = 0
    return label


@register_dataset(NAME, description="ODIR-5K per-eye N,D,G,C,A,H,M,O multi-label (real data, --data-root)",
                  info=PluginInfo(title="ODIR-5K", order=20, reference=CARD["citation"], tags=("public", "classification")))
def load_odir(options: DatasetOptions) -> ClassificationDataset:
    """ODIR-5K from `data_root/ODIR-5K` (or `data_root` itself)."""
    root = dataset_root(options, NAME, FOLDERS, TABLES)
    table_path = first_existing(root, TABLES, "ODIR-5K annotations")
    folder = first_existing(root, IMAGES, "ODIR-5K training images")
    table = read_table(table_path, ("ID", *(column for pair in EYES.values() for column in pair)))
    eyes: list[tuple[str, str, np.ndarray]] = []  # (patient, file, label)
    excluded = 0
    for _, row in table.iterrows():
        for fundus, keywords in EYES.values():
            label = eye_labels(row[keywords])
            if label is None:
                excluded += 1
            else:
                eyes.append((str(row["ID"]), str(row[fundus]).strip(), label))
    patients = sorted({patient for patient, _, _ in eyes})
    assignment = fixed_split(patients, SPLIT_SEED, FRACTIONS, split_file(root, NAME))
    paths, labels = {}, {}
    for split, members in assignment.items():
        chosen = set(members)
        rows = [eye for eye in eyes if eye[0] in chosen]
        paths[split] = [folder / file for _, file, _ in rows]
        labels[split] = np.array([label for _, _, label in rows], np.uint8).reshape(-1, len(CLASSES))
    card = {**CARD, "root": str(root), "excluded_eyes": excluded}
    return classification_dataset(NAME, CLASSES, True, paths, labels, options, card)
