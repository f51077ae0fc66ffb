"""Loaders of the public datasets on fixture trees in their published layouts: counts, labels,
splits, prompts (knowledge-base terms) and data cards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import public_fixtures as fx
from vlpbench.core.registry import DATASETS
from vlpbench.datasets.base import ClassificationDataset, DatasetOptions, SegmentationDataset
from vlpbench.datasets.files import FileImageSource, fixed_split
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.datasets.public import fgadr, fives, idrid, messidor, odir, refuge, retinal_lesions, rfmid

SIZE = 8
CARD_FIELDS = ("dataset", "folder", "layout", "split", "licence", "citation", "labels", "counts", "skipped_images")


LOADERS = {
    "rfmid": rfmid.load_rfmid, "odir": odir.load_odir, "refuge": refuge.load_refuge, "messidor": messidor.load_messidor,
    "fives": fives.load_fives, "idrid": idrid.load_idrid, "retinal-lesions": retinal_lesions.load_retinal_lesions,
    "fgadr": fgadr.load_fgadr,
}


def load(name: str, root: Path, **options):
    options = {"image_size": SIZE, **options}
    return LOADERS[name](DatasetOptions(data_root=root, **options))


def check_card(dataset, root: Path) -> None:
    for field in CARD_FIELDS:
        assert dataset.card.get(field) not in (None, ""), field
    names = dataset.class_names if isinstance(dataset, ClassificationDataset) else dataset.lesion_names
    assert list(dataset.card["labels"]) == names
    assert all(entry["zh"] and entry["en"] for entry in dataset.card["labels"].values())
    assert dataset.card["counts"] == {s: len(dataset.splits[s].images) for s in ("train", "val", "test")}
    assert dataset.card["skipped_images"] == 0


def check_images(split) -> None:
    first = split.images[0]
    assert first.shape == (SIZE, SIZE, 3) and first.dtype == np.uint8


def test_every_public_dataset_is_registered():
    for name, loader in LOADERS.items():
        assert DATASETS.get(name) is loader


def test_rfmid_official_splits_and_riadd_labels(tmp_path):
    diseases = fx.make_rfmid(tmp_path)
    dataset = load("rfmid", tmp_path)
    assert dataset.multilabel and len(dataset.class_names) == 28 and dataset.class_names[-1] == "OTHER"
    for split, raw in diseases.items():
        labels = dataset.split(split).labels
        assert labels.shape == (3, 28) and labels.dtype == np.uint8
        np.testing.assert_array_equal(labels[:, :27], raw[:, :27])
        np.testing.assert_array_equal(labels[:, 27], raw[:, 27:].max(axis=1))
        assert [p.name for p in dataset.split(split).images.paths][0].endswith(".png")
    assert dataset.card["zero_shot_exclude"] == ["OTHER"]
    check_images(dataset.split("val"))
    check_card(dataset, tmp_path)


def test_data_root_may_point_at_the_dataset_folder(tmp_path):
    fx.make_rfmid(tmp_path)
    fx.make_fgadr(tmp_path)
    assert len(load("rfmid", tmp_path / "RFMiD").split("test").images) == 3
    assert sum(len(s.images) for s in load("fgadr", tmp_path / "FGADR").splits.values()) == 10


def test_odir_per_eye_labels_from_keywords():
    label = lambda words: [c.name for c, on in zip(odir.CLASSES, odir.eye_labels(words)) if on]
    assert label("normal fundus") == ["N"]
    assert label("moderate non proliferative retinopathy，hypertensive retinopathy") == ["D", "H"]
    assert label("normal fundus，lens dust") == ["N"]
    assert label("suspected glaucoma，laser spot") == ["G", "O"]
    assert label("wet age-related macular degeneration") == ["A"]
    assert label("myopia retinopathy") == ["M"]
    assert label("epiretinal membrane, normal fundus") == ["O"]  # an abnormal finding removes N
    assert odir.eye_labels("anterior segment image") is None
    assert odir.eye_labels("lens dust，low image quality") is None
    assert odir.eye_labels(float("nan")) is None


def test_odir_split_by_patient_and_saved(tmp_path):
    patients = fx.make_odir(tmp_path)
    dataset = load("odir", tmp_path)
    assert dataset.multilabel and dataset.class_names == ["N", "D", "G", "C", "A", "H", "M", "O"]
    assert dataset.card["excluded_eyes"] == 2  # one anterior-segment image, one lens-dust-only eye
    total = sum(len(s.images) for s in dataset.splits.values())
    assert total == 2 * patients - 2
    owners = {split: {p.name.split("_")[0] for p in dataset.split(split).images.paths} for split in ("train", "val", "test")}
    assert not (owners["train"] & owners["test"]) and not (owners["train"] & owners["val"])
    stored = json.loads((tmp_path / "ODIR-5K" / ".vlpbench_split_odir.json").read_text())
    assert sorted(sum(stored["splits"].values(), [])) == sorted(str(p) for p in range(patients))
    position = [p.name for p in dataset.split("train").images.paths + dataset.split("val").images.paths
                + dataset.split("test").images.paths].index("1_left.jpg")
    labels = np.concatenate([dataset.split(s).labels for s in ("train", "val", "test")])
    assert labels[position].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]  # cataract
    assert dataset.card["zero_shot_exclude"] == ["O"]
    check_card(dataset, tmp_path)


def test_refuge_official_splits(tmp_path):
    expected = fx.make_refuge(tmp_path)
    dataset = load("refuge", tmp_path)
    assert not dataset.multilabel and dataset.class_names == ["non-glaucoma", "glaucoma"]
    for split, labels in expected.items():
        assert dataset.split(split).labels.tolist() == labels
    assert dataset.split("test").images.paths[0].name == "T0001.jpg"
    check_images(dataset.split("test"))
    check_card(dataset, tmp_path)


def test_messidor_grades_and_stratified_saved_split(tmp_path):
    grades = fx.make_messidor(tmp_path)
    first = load("messidor", tmp_path)
    assert first.class_names == ["grade0", "grade1", "grade2", "grade3"] and not first.multilabel
    assert sum(len(s.images) for s in first.splits.values()) == len(grades) == 24
    assert sorted(np.concatenate([s.labels for s in first.splits.values()]).tolist()) == sorted(grades.tolist())
    store = tmp_path / "MESSIDOR" / ".vlpbench_split_messidor.json"
    assert store.is_file()
    again = load("messidor", tmp_path)
    for split in ("train", "val", "test"):
        assert again.split(split).images.paths == first.split(split).images.paths
    assert set(first.split("test").labels.tolist()) == {0, 1, 2, 3}  # stratified: every grade is tested
    check_images(first.split("train"))
    check_card(first, tmp_path)


def test_fives_classes_from_suffix_and_val_from_train(tmp_path):
    files = fx.make_fives(tmp_path)
    dataset = load("fives", tmp_path)
    assert dataset.class_names == ["N", "D", "G", "A"]
    assert len(dataset.split("test").images) == len(files["test"]) == 8
    assert len(dataset.split("train").images) + len(dataset.split("val").images) == 20
    assert len(dataset.split("val").images) == 4 and sorted(dataset.split("val").labels.tolist()) == [0, 1, 2, 3]
    for split in ("train", "val", "test"):
        for path, label in zip(dataset.split(split).images.paths, dataset.split(split).labels):
            assert "NDGA"[label] == path.stem[-1]
    check_card(dataset, tmp_path)


def test_idrid_masks_per_lesion(tmp_path):
    fx.make_idrid(tmp_path)
    dataset = load("idrid", tmp_path, image_size=0)
    assert isinstance(dataset, SegmentationDataset)
    assert dataset.lesion_names == ["hemorrhage", "cotton_wool_spot", "hard_exudate"]
    assert len(dataset.split("test").images) == 2 and len(dataset.split("train").images) == 4
    test = dataset.split("test")
    assert test.images[0].shape == (10, 12, 3)
    masks = test.masks[0]  # IDRiD_06 (even): no soft-exudate file
    assert masks.shape == (3, 10, 12) and masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 1}
    assert masks[0].sum() == 16 and masks[1].sum() == 0 and masks[2].sum() == 30
    assert test.masks[1][1].sum() == 30  # IDRiD_07 has soft exudates
    check_card(dataset, tmp_path)


def test_segmentation_masks_resize_with_images(tmp_path):
    fx.make_idrid(tmp_path)
    dataset = load("idrid", tmp_path)
    masks = dataset.split("train").masks[0]
    assert masks.shape == (3, SIZE, SIZE) and masks.max() == 1


def test_retinal_lesions_split_by_patient_and_127_is_background(tmp_path):
    ids = fx.make_retinal_lesions(tmp_path)
    dataset = load("retinal-lesions", tmp_path, image_size=0)
    paths = {s: [p.stem for p in dataset.split(s).images.paths] for s in ("train", "val", "test")}
    assert sorted(sum(paths.values(), [])) == sorted(ids)
    patients = {s: {i.rsplit("_", 1)[0] for i in v} for s, v in paths.items()}
    assert not (patients["train"] & patients["test"]) and not (patients["val"] & patients["test"])
    masks = dataset.split("train").masks[0]
    assert masks[0].sum() == 30 and masks[1].sum() == 0 and masks[2].sum() == 0
    check_card(dataset, tmp_path)


def test_fgadr_release_layout(tmp_path):
    names = fx.make_fgadr(tmp_path)
    dataset = load("fgadr", tmp_path, image_size=0)
    assert sorted(p.name for s in dataset.splits.values() for p in s.images.paths) == names
    assert [len(dataset.split(s).images) for s in ("train", "val", "test")] == [7, 1, 2]
    masks = dataset.split("test").masks[0]
    assert [int(m.sum()) for m in masks] == [9, 9, 9]
    check_card(dataset, tmp_path)


@pytest.mark.parametrize("module", ["rfmid", "odir", "refuge", "messidor", "fives"])
def test_prompts_are_knowledge_base_terms(module):
    import importlib

    from vlpbench.datasets.public._common import STAGE_FORMAT, class_prompts

    classes = importlib.import_module(f"vlpbench.datasets.public.{module}").CLASSES
    prompts = class_prompts(classes)
    for language in ("zh", "en"):
        kb = load_knowledge_base(language)
        assert len(prompts[language]) == len(classes) and len(set(prompts[language])) == len(classes)
        for c, prompt in zip(classes, prompts[language]):
            if c.key is None:
                assert prompt == (c.zh if language == "zh" else c.en) and prompt
            elif c.stage is None:
                assert prompt == kb.term(c.key)
            else:
                assert prompt == STAGE_FORMAT[language].format(term=kb.term(c.key), stage=c.stage)
    assert rfmid.CLASSES[0].key == "dr"


def test_skip_bad_images_counts_instead_of_failing(tmp_path):
    fx.make_fgadr(tmp_path)
    (tmp_path / "FGADR" / "Seg-set" / "Original_Images" / "0003_1.png").write_bytes(b"not a png")
    dataset = load("fgadr", tmp_path, skip_bad_images=True)
    assert dataset.card["skipped_images"] == 1
    assert dataset.card["skipped_files"][0].endswith("0003_1.png")
    assert sum(len(s.images) for s in dataset.splits.values()) == 9
    for split in dataset.splits.values():
        assert len(split.masks) == len(split.images)


def test_file_image_source_resizes_and_keeps_native_size(tmp_path):
    path = fx.image(tmp_path / "a.jpg", size=(40, 20))
    assert FileImageSource([path], 16)[0].shape == (16, 16, 3)
    assert FileImageSource([path], 0)[0].shape == (20, 40, 3)
    cached, uncached = FileImageSource([path], 16), FileImageSource([path], 16, cache=False)
    assert cached[0] is cached[0] and not cached[0].flags.writeable
    assert uncached[0] is not uncached[0]
    np.testing.assert_array_equal(cached[0], uncached[0])


def test_fixed_split_is_seeded_and_read_back(tmp_path):
    ids = [f"id{i}" for i in range(50)]
    store = tmp_path / "split.json"
    first = fixed_split(ids, 3, {"train": 0.7, "val": 0.1, "test": 0.2}, store)
    assert [len(first[s]) for s in ("train", "val", "test")] == [35, 5, 10]
    assert fixed_split(ids, 3, {"train": 0.7, "val": 0.1, "test": 0.2}) == first
    assert fixed_split(ids, 4, {"train": 0.7, "val": 0.1, "test": 0.2}) != first
    assert fixed_split(ids, 99, {"train": 0.5, "test": 0.5}, store) == first  # the saved split wins
    assert fixed_split(ids[:-1], 3, {"train": 0.7, "val": 0.1, "test": 0.2}, store)["test"] == [
        i for i in first["test"] if i != "id49"]


def test_masks_coded_0_1_and_0_255_and_missing(tmp_path):
    from vlpbench.datasets.files import FileMaskSource

    picture = fx.image(tmp_path / "a.png")
    ones = fx.mask(tmp_path / "ones.png", (0, 0, 2, 3), value=1)
    edges = fx.mask(tmp_path / "edges.png", (0, 0, 4, 4), value=200)
    faint = fx.mask(tmp_path / "faint.png", (0, 0, 4, 4), value=100)
    masks = FileMaskSource([picture], [[ones, edges, faint, tmp_path / "absent.png", None]], 0)[0]
    assert [int(m.sum()) for m in masks] == [6, 16, 0, 0, 0]
