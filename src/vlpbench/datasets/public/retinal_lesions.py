"""Retinal-Lesions (Wei et al., ICPR 2020): 1,593 Kaggle-EyePACS images at 896×896 with per-image
lesion masks. Intraretinal haemorrhage, cotton-wool spots and hard exudates are used. No official
split: a documented fixed split by patient (ids are "<patient>_<eye>")."""

from __future__ import annotations

from vlpbench.core.registry import PluginInfo, register_dataset
from vlpbench.datasets.base import DatasetOptions, SegmentationDataset
from vlpbench.datasets.files import first_existing, fixed_split, split_file
from vlpbench.datasets.public._common import (
    FRACTIONS,
    LESIONS,
    SPLIT_SEED,
    dataset_root,
    image_files,
    segmentation_dataset,
)

NAME = "retinal-lesions"
FOLDERS = ("Retinal-Lesions/retinal-lesions-v20191227", "Retinal-Lesions",
           "retinal-lesions-v20191227/retinal-lesions-v20191227", "retinal-lesions-v20191227")
#: lesion (LESIONS order) → mask file name inside lesion_segs_896x896/<id>/
MASKS = {"hemorrhage": "retinal_hemorrhage.png", "cotton_wool_spot": "cotton_wool_spots.png",
         "hard_exudate": "hard_exudate.png"}

CARD = {
    "dataset": "Retinal-Lesions v20191227",
    "task": "segmentation",
    "folder": "Retinal-Lesions",
    "layout": "Retinal-Lesions/images_896x896/<id>.jpg and lesion_segs_896x896/<id>/<lesion>.png with lesion ∈ "
              "{retinal_hemorrhage, cotton_wool_spots, hard_exudate, microaneurysm, vitreous_hemorrhage, "
              "preretinal_hemorrhage, neovascularization, fibrous_proliferation}; the release folder "
              "retinal-lesions-v20191227/ (possibly doubled) is also found",
    "split": f"fixed split by patient (id before the last '_'), seed {SPLIT_SEED}, train/val/test {FRACTIONS}, "
             "saved to .vlpbench_split_retinal-lesions.json on first use",
    "label_rule": "hemorrhage = retinal_hemorrhage only (vitreous and preretinal haemorrhages are not merged); "
                  "value 255 is a lesion, 127 (annotations the authors mark as not following the AAO guideline "
                  "and exclude) is background (threshold 128); a missing mask file means no such lesion",
    "licence": "free for research on request (Google form in github.com/WeiQijie/retinal-lesions); no redistribution",
    "citation": "Q. Wei et al., Learn to segment retinal lesions and beyond, International Conference on "
                "Pattern Recognition (ICPR), 2020.",
}


@register_dataset(NAME, description="Retinal-Lesions segmentation HE/SE/EX (real data, --data-root)",
                  info=PluginInfo(title="Retinal-Lesions", order=70, reference=CARD["citation"], tags=("public", "segmentation")))
def load_retinal_lesions(options: DatasetOptions) -> SegmentationDataset:
    """Retinal-Lesions from `data_root/Retinal-Lesions` (or `data_root` itself)."""
    root = dataset_root(options, NAME, FOLDERS, ["images_896x896"])
    files = image_files(first_existing(root, ["images_896x896"], "Retinal-Lesions images"), "Retinal-Lesions images")
    segs = first_existing(root, ["lesion_segs_896x896"], "Retinal-Lesions masks")
    patients = sorted({p.stem.rsplit("_", 1)[0] for p in files})
    assignment = fixed_split(patients, SPLIT_SEED, FRACTIONS, split_file(root, NAME))
    split_of = {patient: split for split, members in assignment.items() for patient in members}
    images = {split: [p for p in files if split_of[p.stem.rsplit("_", 1)[0]] == split] for split in assignment}
    masks = {split: [[segs / p.stem / MASKS[lesion] for lesion in LESIONS] for p in paths]
             for split, paths in images.items()}
    return segmentation_dataset(NAME, images, masks, options, {**CARD, "root": str(root)})
