"""RFMiD (Pachade et al., Data 2021): 3,200 fundus images, official train/val/test 1920/640/640,
45 disease columns. Label space = the RIADD challenge's 28 classes: the 27 frequent diseases
plus OTHER (any of the 18 rare columns); ViLReF leaves OTHER out of zero-shot prompts."""

from __future__ import annotations

import numpy as np

from vlpbench.core.registry import PluginInfo, register_dataset
from vlpbench.datasets.base import ClassificationDataset, DatasetOptions
from vlpbench.datasets.files import first_existing, read_table, require_values
from vlpbench.datasets.public._common import ClassTerm, classification_dataset, dataset_root

NAME = "rfmid"
FOLDERS = ("RFMiD", "A. RFMiD_All_Classes_Dataset")
#: split → (label-file candidates, image-folder candidates); IEEE DataPort/Kaggle and RIADD zips
LAYOUT = {
    "train": (["Training_Set/Training_Set/RFMiD_Training_Labels.csv", "Training_Set/RFMiD_Training_Labels.csv",
               "2. Groundtruths/a. RFMiD_Training_Labels.csv"],
              ["Training_Set/Training_Set/Training", "Training_Set/Training", "1. Original Images/a. Training Set"]),
    "val": (["Evaluation_Set/Evaluation_Set/RFMiD_Validation_Labels.csv", "Evaluation_Set/RFMiD_Validation_Labels.csv",
             "2. Groundtruths/b. RFMiD_Validation_Labels.csv"],
            ["Evaluation_Set/Evaluation_Set/Validation", "Evaluation_Set/Validation", "1. Original Images/b. Validation Set"]),
    "test": (["Test_Set/Test_Set/RFMiD_Testing_Labels.csv", "Test_Set/RFMiD_Testing_Labels.csv",
              "2. Groundtruths/c. RFMiD_Testing_Labels.csv"],
             ["Test_Set/Test_Set/Test", "Test_Set/Test", "1. Original Images/c. Testing Set"]),
}
FREQUENT = (
    ClassTerm("DR", "dr"),
    ClassTerm("ARMD", "amd"),
    ClassTerm("MH", zh="屈光间质混浊", en="media haze"),
    ClassTerm("DN", "drusen"),
    ClassTerm("MYA", "pathologic_myopia"),
    ClassTerm("BRVO", zh="视网膜分支静脉阻塞", en="branch retinal vein occlusion"),
    ClassTerm("TSLN", "tessellation"),
    ClassTerm("ERM", "macular_pucker"),
    ClassTerm("LS", "laser_spots"),
    ClassTerm("MS", zh="黄斑瘢痕", en="macular scar"),
    ClassTerm("CSR", zh="中心性浆液性脉络膜视网膜病变", en="central serous chorioretinopathy"),
    ClassTerm("ODC", "large_optic_cup"),
    ClassTerm("CRVO", zh="视网膜中央静脉阻塞", en="central retinal vein occlusion"),
    ClassTerm("TV", zh="视网膜血管迂曲", en="tortuous retinal vessels"),
    ClassTerm("AH", zh="星状玻璃体变性", en="asteroid hyalosis"),
    ClassTerm("ODP", "optic_disc_pallor"),
    ClassTerm("ODE", "optic_disc_edema"),
    ClassTerm("ST", zh="视睫状分流血管", en="optociliary shunt vessels"),
    ClassTerm("AION", zh="前部缺血性视神经病变", en="anterior ischemic optic neuropathy"),
    ClassTerm("PT", zh="黄斑旁毛细血管扩张症", en="parafoveal telangiectasia"),
    ClassTerm("RT", zh="视网膜牵拉", en="retinal traction"),
    ClassTerm("RS", zh="视网膜炎", en="retinitis"),
    ClassTerm("CRS", zh="脉络膜视网膜炎", en="chorioretinitis"),
    ClassTerm("EDN", zh="视网膜渗出", en="retinal exudation"),
    ClassTerm("RPEC", "pigment_disorder"),
    ClassTerm("MHL", "macular_hole"),
    ClassTerm("RP", zh="视网膜色素变性", en="retinitis pigmentosa"),
)
RARE = ("CWS", "CB", "ODPM", "PRH", "MNF", "HR", "CRAO", "TD", "CME", "PTCR", "CF", "VH", "MCA", "VS",
        "BRAO", "PLQ", "HPED", "CL")
CLASSES = (*FREQUENT, ClassTerm("OTHER", "others"))
DISEASE_COLUMNS = tuple(c.name for c in FREQUENT) + RARE

CARD = {
    "dataset": "RFMiD (Retinal Fundus Multi-disease Image Dataset) 1.0",
    "task": "multi-label",
    "folder": "RFMiD",
    "layout": "RFMiD/Training_Set/Training/<ID>.png + Training_Set/RFMiD_Training_Labels.csv; "
              "Evaluation_Set/Validation/ + Evaluation_Set/RFMiD_Validation_Labels.csv; Test_Set/Test/ + "
              "Test_Set/RFMiD_Testing_Labels.csv (Kaggle's doubled Training_Set/Training_Set/ and the RIADD "
              "'1. Original Images/a. Training Set' + '2. Groundtruths/a. RFMiD_Training_Labels.csv' also read). "
              "Columns: ID, Disease_Risk, then 45 disease columns (0/1).",
    "split": "official train/val/test (1920/640/640)",
    "label_rule": "RIADD 28-class protocol: the 27 frequent disease columns as they are; OTHER = any of "
                  + ", ".join(RARE) + ". Disease_Risk is not a class.",
    "zero_shot_exclude": ["OTHER"],
    "licence": "CC BY 4.0 (IEEE DataPort open access); cite the paper below",
    "citation": "S. Pachade et al., Retinal fundus multi-disease image dataset (RFMiD): a dataset for "
                "multi-disease detection research, Data 6(2):14, 2021.",
}


@register_dataset(NAME, description="RFMiD, RIADD 28-class multi-label (real data, --data-root)",
                  info=PluginInfo(title="RFMiD", order=10, reference=CARD["citation"], tags=("public", "classification")))
def load_rfmid(options: DatasetOptions) -> ClassificationDataset:
    """RFMiD from `data_root/RFMiD` (or `data_root` itself)."""
    root = dataset_root(options, NAME, FOLDERS, ["Training_Set", "2. Groundtruths"])
    paths, labels = {}, {}
    for split, (tables, folders) in LAYOUT.items():
        table_path = first_existing(root, tables, f"RFMiD {split} labels")
        folder = first_existing(root, folders, f"RFMiD {split} images")
        table = read_table(table_path, ("ID", *DISEASE_COLUMNS))
        diseases = require_values(table, DISEASE_COLUMNS, (0, 1), table_path)
        frequent, rare = diseases[:, : len(FREQUENT)], diseases[:, len(FREQUENT):]
        labels[split] = np.concatenate([frequent, rare.max(axis=1, keepdims=True)], axis=1).astype(np.uint8)
        paths[split] = [folder / f"{image_id}.png" for image_id in table["ID"].astype(str)]
    return classification_dataset(NAME, CLASSES, True, paths, labels, options, {**CARD, "root": str(root)})
