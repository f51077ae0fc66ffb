"""FGADR Seg-set (Zhou et al., IEEE TMI 2021): 1,842 images at 1280×1280 with pixel masks for six
lesions; haemorrhage, soft-exudate and hard-exudate masks are used. No official split: a
documented fixed split (one image per patient)."""

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

NAME = "fgadr"
FOLDERS = ("FGADR", "FGADR-Seg-set_Release")
#: lesion (LESIONS order) → mask folder (the release spells haemorrhage "Hemohedge")
MASKS = {"hemorrhage": "Hemohedge_Masks", "cotton_wool_spot": "SoftExudate_Masks", "hard_exudate": "HardExudate_Masks"}

CARD = {
    "dataset": "FGADR (Fine-Grained Annotated Diabetic Retinopathy), Seg-set",
    "task": "segmentation",
    "folder": "FGADR",
    "layout": "FGADR/Seg-set/Original_Images/<id>.png with same-named masks in Seg-set/Hemohedge_Masks/ (sic), "
              "SoftExudate_Masks/, HardExudate_Masks/ (Microaneurysms_Masks/, IRMA_Masks/, "
              "Neovascularization_Masks/ and DR_Seg_Grading_Label.csv are not used); the release folder "
              "FGADR-Seg-set_Release/ and a data root at Seg-set/ itself are also found",
    "split": f"fixed split by image (one per patient), seed {SPLIT_SEED}, train/val/test {FRACTIONS}, saved to "
             ".vlpbench_split_fgadr.json on first use",
    "label_rule": "soft exudates = cotton-wool spots; masks have anti-aliased edges, a pixel is a lesion when its "
                  "largest channel is ≥ 128; a missing mask file means no such lesion",
    "licence": "non-commercial research use on request (FGADR data agreement); no redistribution",
    "citation": "Y. Zhou, B. Wang, L. Huang, S. Cui, L. Shao, A benchmark for studying diabetic retinopathy: "
                "segmentation, grading, and transferability, IEEE Transactions on Medical Imaging 40(3):818–828, 2021.",
}


@register_dataset(NAME, description="FGADR Seg-set segmentation HE/SE/EX (real data, --data-root)",
                  info=PluginInfo(title="FGADR", order=80, reference=CARD["citation"], tags=("public", "segmentation")))
def load_fgadr(options: DatasetOptions) -> SegmentationDataset:
    """FGADR from `data_root/FGADR` (or `data_root` itself)."""
    root = dataset_root(options, NAME, FOLDERS, ["Seg-set", "Original_Images"])
    seg_set = first_existing(root, ["FGADR-Seg-set_Release/Seg-set/Original_Images", "Seg-set/Original_Images",
                                    "Original_Images"], "FGADR Seg-set images").parent
    files = image_files(seg_set / "Original_Images", "FGADR images")
    assignment = fixed_split([p.name for p in files], SPLIT_SEED, FRACTIONS, split_file(root, NAME))
    by_name = {p.name: p for p in files}
    images = {split: [by_name[n] for n in members] for split, members in assignment.items()}
    masks = {split: [[seg_set / MASKS[lesion] / p.name for lesion in LESIONS] for p in paths]
             for split, paths in images.items()}
    return segmentation_dataset(NAME, images, masks, options, {**CARD, "root": str(root)})
