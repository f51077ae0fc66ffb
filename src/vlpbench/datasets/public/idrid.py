"""IDRiD segmentation part (Porwal et al., Data 2018): 81 images with pixel masks, official
train/test 54/27. Haemorrhage, soft-exudate and hard-exudate masks are used (an image without a
mask file for a lesion has none of it); validation = a documented share of the training set."""

from __future__ import annotations

from vlpbench.core.registry import PluginInfo, register_dataset
from vlpbench.datasets.base import DatasetOptions, SegmentationDataset
from vlpbench.datasets.files import first_existing, fixed_split, split_file
from vlpbench.datasets.public._common import (
    LESIONS,
    SPLIT_SEED,
    VAL_FRACTIONS,
    dataset_root,
    image_files,
    segmentation_dataset,
)

NAME = "idrid"
FOLDERS = ("IDRiD", "idrid")
OFFICIAL = {"train": "a. Training Set", "test": "b. Testing Set"}
#: lesion (LESIONS order) → (ground-truth folder, file suffix)
MASKS = {
    "hemorrhage": ("2. Haemorrhages", "HE"),
    "cotton_wool_spot": ("4. Soft Exudates", "SE"),
    "hard_exudate": ("3. Hard Exudates", "EX"),
}

CARD = {
    "dataset": "IDRiD (Indian Diabetic Retinopathy Image Dataset), part A: segmentation",
    "task": "segmentation",
    "folder": "IDRiD",
    "layout": "IDRiD/A. Segmentation/1. Original Images/{a. Training Set,b. Testing Set}/IDRiD_NN.jpg; masks "
              "A. Segmentation/2. All Segmentation Groundtruths/<set>/2. Haemorrhages/IDRiD_NN_HE.tif, "
              "3. Hard Exudates/IDRiD_NN_EX.tif, 4. Soft Exudates/IDRiD_NN_SE.tif (microaneurysm and optic-disc "
              "masks are not used). --data-root may also point at IDRiD/ or at 'A. Segmentation' itself.",
    "split": f"official train/test (54/27); val = {VAL_FRACTIONS['val']:.0%} of the official train set, seed "
             f"{SPLIT_SEED}, saved to .vlpbench_split_idrid.json on first use",
    "label_rule": "soft exudates = cotton-wool spots; a pixel is a lesion when its largest channel is ≥ 128; "
                  "a missing mask file means no such lesion",
    "licence": "CC BY 4.0 (IEEE DataPort open access)",
    "citation": "P. Porwal et al., Indian diabetic retinopathy image dataset (IDRiD): a database for diabetic "
                "retinopathy screening research, Data 3(3):25, 2018.",
}


@register_dataset(NAME, description="IDRiD lesion segmentation HE/SE/EX (real data, --data-root)",
                  info=PluginInfo(title="IDRiD", order=60, reference=CARD["citation"], tags=("public", "segmentation")))
def load_idrid(options: DatasetOptions) -> SegmentationDataset:
    """IDRiD from `data_root/IDRiD` (or `data_root` itself)."""
    root = dataset_root(options, NAME, FOLDERS, ["A. Segmentation", "1. Original Images"])
    segmentation = first_existing(root, ["A. Segmentation", "."], "IDRiD segmentation part")
    files, masks = {}, {}
    for split, folder in OFFICIAL.items():
        files[split] = image_files(segmentation / "1. Original Images" / folder, f"IDRiD {split} images")
        truth = segmentation / "2. All Segmentation Groundtruths" / folder
        masks[split] = {p.stem: [truth / sub / f"{p.stem}_{suffix}.tif" for sub, suffix in (MASKS[l] for l in LESIONS)]
                        for p in files[split]}
    stems = [p.stem for p in files["train"]]
    assignment = fixed_split(stems, SPLIT_SEED, VAL_FRACTIONS, split_file(root, NAME))
    by_stem = {p.stem: p for p in files["train"]}
    images = {split: [by_stem[s] for s in assignment[split]] for split in ("train", "val")}
    images["test"] = files["test"]
    mask_lists = {split: [masks["test" if split == "test" else "train"][p.stem] for p in paths]
                  for split, paths in images.items()}
    return segmentation_dataset(NAME, images, mask_lists, options, {**CARD, "root": str(root)})
