"""REFUGE (MICCAI 2018 glaucoma challenge; Orlando et al., MedIA 2020): 1,200 fundus images,
official train/val/test 400/400/400, glaucoma vs non-glaucoma (10 % glaucoma in each split)."""

from __future__ import annotations

import numpy as np

from vlpbench.core.registry import PluginInfo, register_dataset
from vlpbench.datasets.base import ClassificationDataset, DatasetOptions
from vlpbench.datasets.files import first_existing, read_table, require_values
from vlpbench.datasets.public._common import ClassTerm, classification_dataset, dataset_root, image_files

NAME = "refuge"
FOLDERS = ("REFUGE", "Refuge")
TRAIN = ["REFUGE-Training400/Training400", "Training400"]
#: split → (image-folder candidates, label-file candidates, label column) as the GT zips ship them
LABELLED = {
    "val": (["REFUGE-Validation400/REFUGE-Validation400", "REFUGE-Validation400"],
            ["REFUGE-Validation400-GT/Fovea_locations.xlsx"], "Glaucoma Label"),
    "test": (["REFUGE-Test400/Test400", "Test400"],
             ["REFUGE-Test-GT/Glaucoma_label_and_Fovea_location.xlsx"], "Label(Glaucoma=1)"),
}
CLASSES = (ClassTerm("non-glaucoma", "normal"), ClassTerm("glaucoma", "glaucoma"))

CARD = {
    "dataset": "REFUGE (Retinal Fundus Glaucoma Challenge, 2018)",
    "task": "glaucoma vs non-glaucoma",
    "folder": "REFUGE",
    "layout": "REFUGE/Training400/Glaucoma/g0001.jpg… and Training400/Non-Glaucoma/n0001.jpg… (label from the "
              "folder); REFUGE-Validation400/V0001.jpg… with REFUGE-Validation400-GT/Fovea_locations.xlsx "
              "(columns ImgName, Glaucoma Label); Test400/T0001.jpg… with "
              "REFUGE-Test-GT/Glaucoma_label_and_Fovea_location.xlsx (columns ImgName, Label(Glaucoma=1)). "
              "The zips' extra top folders (REFUGE-Training400/, REFUGE-Test400/) are also read.",
    "split": "official train/val/test (400/400/400; 40 glaucoma each)",
    "licence": "REFUGE challenge data (grand-challenge.org): research use under the challenge terms, no redistribution",
    "citation": "J. I. Orlando et al., REFUGE challenge: a unified framework for evaluating automated methods "
                "for glaucoma assessment from fundus photographs, Medical Image Analysis 59:101570, 2020.",
}


@register_dataset(NAME, description="REFUGE glaucoma vs non-glaucoma (real data, --data-root)",
                  info=PluginInfo(title="REFUGE", order=30, reference=CARD["citation"], tags=("public", "classification")))
def load_refuge(options: DatasetOptions) -> ClassificationDataset:
    """REFUGE from `data_root/REFUGE` (or `data_root` itself)."""
    root = dataset_root(options, NAME, FOLDERS, ["Training400", "REFUGE-Training400"])
    train = first_existing(root, TRAIN, "REFUGE training images")
    positives = image_files(train / "Glaucoma", "REFUGE training images")
    negatives = image_files(train / "Non-Glaucoma", "REFUGE training images")
    paths = {"train": positives + negatives}
    labels = {"train": np.array([1] * len(positives) + [0] * len(negatives), np.int64)}
    for split, (folders, tables, column) in LABELLED.items():
        folder = first_existing(root, folders, f"REFUGE {split} images")
        table_path = first_existing(root, tables, f"REFUGE {split} labels")
        table = read_table(table_path, ("ImgName", column))
        labels[split] = require_values(table, (column,), (0, 1), table_path)[:, 0]
        paths[split] = [folder / str(name).strip() for name in table["ImgName"]]
    return classification_dataset(NAME, CLASSES, False, paths, labels, options, {**CARD, "root": str(root)})
