"""MESSIDOR (Decencière et al., 2014): 1,200 fundus images from three ophthalmology departments
in 12 folders Base11…Base34, each with an Excel annotation file; DR grade 0–3 (multi-class). No
official split: a documented fixed split stratified by grade."""

from __future__ import annotations

import numpy as np

from vlpbench.core.registry import PluginInfo, register_dataset
from vlpbench.datasets.base import ClassificationDataset, DatasetOptions
from vlpbench.datasets.files import first_existing, fixed_split, read_table, require_dir, require_values, split_file
from vlpbench.datasets.public._common import FRACTIONS, SPLIT_SEED, ClassTerm, classification_dataset, dataset_root

NAME = "messidor"
FOLDERS = ("MESSIDOR", "Messidor", "messidor")
BASES = tuple(f"Base{department}{part}" for department in (1, 2, 3) for part in (1, 2, 3, 4))
GRADE = "Retinopathy grade"
#: grade g is prompted as DR at Chinese stage g + 1 (as syn-messidor); grade 0 as a normal fundus
CLASSES = (
    ClassTerm("grade0", "normal"), ClassTerm("grade1", "dr", stage=2), ClassTerm("grade2", "dr", stage=3),
    ClassTerm("grade3", "dr", stage=4),
)

CARD = {
    "dataset": "MESSIDOR (original, 1,200 images)",
    "task": "DR grade 0–3, multi-class",
    "folder": "MESSIDOR",
    "layout": "MESSIDOR/Base11 … Base34 (12 folders) holding the .tif images and Annotation_BaseXX.xls "
              "(sheet 1; columns 'Image name', 'Ophthalmologic department', 'Retinopathy grade', "
              "'Risk of macular edema ' — header whitespace is ignored). The annotation file may also lie "
              "beside the Base folders; .xlsx copies are read too.",
    "split": f"fixed split stratified by grade, seed {SPLIT_SEED}, train/val/test {FRACTIONS}, saved to "
             ".vlpbench_split_messidor.json in the dataset folder on first use",
    "label_rule": "class = 'Retinopathy grade' (0–3); the published errata are not applied",
    "licence": "MESSIDOR program partners (https://www.adcis.net/en/third-party/messidor/): free for research, "
               "cite the paper below, no redistribution",
    "citation": "E. Decencière et al., Feedback on a publicly distributed image database: the Messidor "
                "database, Image Analysis & Stereology 33(3):231–234, 2014.",
}


@register_dataset(NAME, description="MESSIDOR DR grade 0–3 (real data, --data-root)",
                  info=PluginInfo(title="MESSIDOR", order=40, reference=CARD["citation"], tags=("public", "classification")))
def load_messidor(options: DatasetOptions) -> ClassificationDataset:
    """MESSIDOR from `data_root/MESSIDOR` (or `data_root` itself)."""
    root = dataset_root(options, NAME, FOLDERS, BASES)
    files, grades = [], []
    for base in BASES:
        folder = require_dir(root / base, f"MESSIDOR {base}")
        tables = [f"{where}Annotation_{base}.{suffix}" for where in (f"{base}/", "") for suffix in ("xls", "xlsx")]
        table_path = first_existing(root, tables, f"MESSIDOR {base} annotations")
        table = read_table(table_path, ("Image name", GRADE))
        grades.append(require_values(table, (GRADE,), (0, 1, 2, 3), table_path)[:, 0])
        files += [folder / str(name).strip() for name in table["Image name"]]
    grade = np.concatenate(grades)
    keys = [str(p.relative_to(root)) for p in files]
    assignment = fixed_split(keys, SPLIT_SEED, FRACTIONS, split_file(root, NAME), strata=grade.tolist())
    index = {key: i for i, key in enumerate(keys)}
    paths = {split: [files[index[k]] for k in members] for split, members in assignment.items()}
    labels = {split: grade[[index[k] for k in members]].astype(np.int64) for split, members in assignment.items()}
    return classification_dataset(NAME, CLASSES, False, paths, labels, options, {**CARD, "root": str(root)})
