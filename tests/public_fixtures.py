"""Tiny fixture trees in the published layout of each public dataset (file names, folder names,
label-table columns exactly as the datasets ship them), for the loader tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vlpbench.datasets.public import rfmid

IMAGE_SIZE = (12, 10)  # width, height of every fixture image


def image(path: Path, seed: int = 0, size: tuple[int, int] = IMAGE_SIZE) -> Path:
    """A small random RGB image; the format follows the suffix (png, jpg, tif)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def mask(path: Path, box: tuple[int, int, int, int], size: tuple[int, int] = IMAGE_SIZE, rgb: bool = False,
         value: int = 255) -> Path:
    """A binary mask with `value` inside box (x0, y0, x1, y1); red-only RGB like IDRiD's tifs when `rgb`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((size[1], size[0]), np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = value
    if rgb:
        pixels = np.stack([pixels, np.zeros_like(pixels), np.zeros_like(pixels)], axis=2)
    Image.fromarray(pixels).save(path)
    return path


def write_xls(path: Path, header: list[str], rows: list[list], sheet: str = "Feuil1") -> Path:
    """A legacy .xls file (as MESSIDOR ships), written with xlwt."""
    import xlwt

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlwt.Workbook()
    table = book.add_sheet(sheet)
    for column, name in enumerate(header):
        table.write(0, column, name)
    for r, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            table.write(r, column, value)
    book.save(str(path))
    return path


# -- RFMiD ---------------------------------------------------------------------------------------
RFMID_SPLITS = {
    "train": ("Training_Set", "RFMiD_Training_Labels.csv", "Training"),
    "val": ("Evaluation_Set", "RFMiD_Validation_Labels.csv", "Validation"),
    "test": ("Test_Set", "RFMiD_Testing_Labels.csv", "Test"),
}
RFMID_COLUMNS = ["ID", "Disease_Risk", *rfmid.DISEASE_COLUMNS]


def make_rfmid(root: Path, per_split: int = 3) -> dict[str, np.ndarray]:
    """RFMiD/Training_Set/Training/<ID>.png + RFMiD_Training_Labels.csv, …; returns the 45-column labels."""
    labels = {}
    next_id = 1
    for split, (folder, table, images) in RFMID_SPLITS.items():
        rows = []
        diseases = np.zeros((per_split, 45), np.int64)
        for i in range(per_split):
            diseases[i, (next_id * 7) % 45] = 1  # one disease each, covering frequent and rare columns
            if i == 0:
                diseases[i, 0] = 1  # DR too
            rows.append([next_id, int(diseases[i].any()), *diseases[i]])
            image(root / "RFMiD" / folder / images / f"{next_id}.png", seed=next_id)
            next_id += 1
        pd.DataFrame(rows, columns=RFMID_COLUMNS).to_csv(root / "RFMiD" / folder / table, index=False)
        labels[split] = diseases
    return labels


# -- ODIR-5K -------------------------------------------------------------------------------------
ODIR_COLUMNS = ["ID", "Patient Age", "Patient Sex", "Left-Fundus", "Right-Fundus", "Left-Diagnostic Keywords",
                "Right-Diagnostic Keywords", "N", "D", "G", "C", "A", "H", "M", "O"]
ODIR_KEYWORDS = [
    ("normal fundus", "moderate non proliferative retinopathy，hypertensive retinopathy"),
    ("cataract", "normal fundus"),
    ("glaucoma", "suspected glaucoma，lens dust"),
    ("dry age-related macular degeneration", "pathological myopia"),
    ("laser spot，moderate non proliferative retinopathy", "anterior segment image"),
    ("lens dust", "epiretinal membrane"),
    ("normal fundus", "normal fundus"),
    ("proliferative diabetic retinopathy", "wet age-related macular degeneration"),
    ("myopia retinopathy", "branch retinal vein occlusion"),
    ("normal fundus", "cataract"),
]


def make_odir(root: Path) -> int:
    """ODIR-5K/ODIR-5K_Training_Annotations(Updated)_V2.xlsx + ODIR-5K_Training_Images/ODIR-5K_Training_Dataset/."""
    folder = root / "ODIR-5K"
    rows = []
    for patient, (left, right) in enumerate(ODIR_KEYWORDS):
        rows.append([patient, 60, "Female", f"{patient}_left.jpg", f"{patient}_right.jpg", left, right,
                     0, 0, 0, 0, 0, 0, 0, 0])
        for eye in ("left", "right"):
            image(folder / "ODIR-5K_Training_Images" / "ODIR-5K_Training_Dataset" / f"{patient}_{eye}.jpg", seed=patient)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=ODIR_COLUMNS).to_excel(folder / "ODIR-5K_Training_Annotations(Updated)_V2.xlsx", index=False)
    return len(rows)


# -- REFUGE --------------------------------------------------------------------------------------
def make_refuge(root: Path) -> dict[str, list[int]]:
    """REFUGE/Training400/{Glaucoma,Non-Glaucoma}/, REFUGE-Validation400/ + -GT xlsx, Test400/ + REFUGE-Test-GT xlsx."""
    folder = root / "REFUGE"
    for i in (1, 2):
        image(folder / "Training400" / "Glaucoma" / f"g{i:04d}.jpg", seed=i)
    for i in (1, 2, 3):
        image(folder / "Training400" / "Non-Glaucoma" / f"n{i:04d}.jpg", seed=10 + i)
    labels = {"train": [1, 1, 0, 0, 0], "val": [0, 1, 0], "test": [1, 0, 0, 0]}
    for split, images, table, column, letter in (
        ("val", "REFUGE-Validation400", "REFUGE-Validation400-GT/Fovea_locations.xlsx", "Glaucoma Label", "V"),
        ("test", "Test400", "REFUGE-Test-GT/Glaucoma_label_and_Fovea_location.xlsx", "Label(Glaucoma=1)", "T"),
    ):
        names = [f"{letter}{i + 1:04d}.jpg" for i in range(len(labels[split]))]
        for i, name in enumerate(names):
            image(folder / images / name, seed=20 + i)
        (folder / table).parent.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame({"ID": range(1, len(names) + 1), "ImgName": names, column: labels[split],
                              "Fovea_X": 5.0, "Fovea_Y": 5.0})
        frame.to_excel(folder / table, index=False)
    return labels


# -- MESSIDOR ------------------------------------------------------------------------------------
MESSIDOR_COLUMNS = ["Image name", "Ophthalmologic department", "Retinopathy grade", "Risk of macular edema "]


def make_messidor(root: Path) -> np.ndarray:
    """MESSIDOR/Base11 … Base34 with .tif images and Annotation_BaseXX.xls (xlwt) in each."""
    grades = []
    for b, base in enumerate(f"Base{d}{p}" for d in (1, 2, 3) for p in (1, 2, 3, 4)):
        rows = []
        for i in range(2):
            name = f"20051019_{b:02d}{i}_0100_PP.tif"
            grade = (b + i) % 4
            image(root / "MESSIDOR" / base / name, seed=b * 2 + i)
            rows.append([name, "Service Ophtalmologie Lariboisière", grade, 0])
            grades.append(grade)
        write_xls(root / "MESSIDOR" / base / f"Annotation_{base}.xls", MESSIDOR_COLUMNS, rows)
    return np.array(grades)


# -- FIVES ---------------------------------------------------------------------------------------
def make_fives(root: Path, per_class: dict[str, int] | None = None) -> dict[str, list[str]]:
    """FIVES/{train,test}/Original/<n>_<X>.png (+ Ground truth/ vessel masks, unused)."""
    per_class = per_class or {"train": 5, "test": 2}
    files: dict[str, list[str]] = {}
    n = 1
    for split, count in per_class.items():
        files[split] = []
        for letter in "ADGN":
            for _ in range(count):
                name = f"{n}_{letter}.png"
                image(root / "FIVES" / split / "Original" / name, seed=n)
                mask(root / "FIVES" / split / "Ground truth" / name, (1, 1, 4, 4))
                files[split].append(name)
                n += 1
    return files


# -- IDRiD ---------------------------------------------------------------------------------------
IDRID_SEG = Path("IDRiD") / "A. Segmentation"
IDRID_TRUTH = {"HE": "2. Haemorrhages", "EX": "3. Hard Exudates", "SE": "4. Soft Exudates", "MA": "1. Microaneurysms"}


def make_idrid(root: Path, n_train: int = 5, n_test: int = 2) -> None:
    """IDRiD/A. Segmentation/1. Original Images/<set>/IDRiD_NN.jpg + 2. All Segmentation Groundtruths/<set>/…_HE.tif."""
    number = 1
    for folder, count in (("a. Training Set", n_train), ("b. Testing Set", n_test)):
        for _ in range(count):
            stem = f"IDRiD_{number:02d}"
            image(root / IDRID_SEG / "1. Original Images" / folder / f"{stem}.jpg", seed=number)
            truth = root / IDRID_SEG / "2. All Segmentation Groundtruths" / folder
            mask(truth / IDRID_TRUTH["HE"] / f"{stem}_HE.tif", (0, 0, 4, 4), rgb=True)
            mask(truth / IDRID_TRUTH["EX"] / f"{stem}_EX.tif", (6, 5, 12, 10), rgb=True)
            mask(truth / IDRID_TRUTH["MA"] / f"{stem}_MA.tif", (2, 2, 3, 3), rgb=True)
            if number % 2:  # soft exudates only on some images, as in IDRiD
                mask(truth / IDRID_TRUTH["SE"] / f"{stem}_SE.tif", (0, 5, 6, 10), rgb=True)
            number += 1


# -- Retinal-Lesions -----------------------------------------------------------------------------
def make_retinal_lesions(root: Path, patients: int = 6) -> list[str]:
    """Retinal-Lesions/retinal-lesions-v20191227/images_896x896/<id>.jpg + lesion_segs_896x896/<id>/<lesion>.png."""
    folder = root / "Retinal-Lesions" / "retinal-lesions-v20191227"
    ids = []
    for p in range(patients):
        for eye in ("left", "right") if p % 2 else ("left",):
            image_id = f"{100 + p}_{eye}"
            image(folder / "images_896x896" / f"{image_id}.jpg", seed=p)
            segs = folder / "lesion_segs_896x896" / image_id
            mask(segs / "retinal_hemorrhage.png", (0, 0, 6, 5))
            mask(segs / "hard_exudate.png", (6, 5, 12, 10), value=127)  # not AAO-compliant: background
            mask(segs / "microaneurysm.png", (1, 1, 2, 2))
            ids.append(image_id)
    return ids


# -- FGADR ---------------------------------------------------------------------------------------
def make_fgadr(root: Path, n: int = 10) -> list[str]:
    """FGADR/Seg-set/Original_Images/<id>.png + Hemohedge_Masks/, SoftExudate_Masks/, HardExudate_Masks/."""
    seg = root / "FGADR" / "Seg-set"
    names = []
    for i in range(n):
        name = f"{i + 1:04d}_1.png"
        image(seg / "Original_Images" / name, seed=i)
        mask(seg / "Hemohedge_Masks" / name, (0, 0, 3, 3))
        mask(seg / "SoftExudate_Masks" / name, (3, 3, 6, 6))
        mask(seg / "HardExudate_Masks" / name, (6, 6, 9, 9))
        mask(seg / "Microaneurysms_Masks" / name, (9, 1, 10, 2))
        names.append(name)
    return names
