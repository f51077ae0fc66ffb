"""Every bad input is a one-line VlpbenchError naming the file and what was expected."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

import public_fixtures as fx
from vlpbench.core.config import resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.base import DatasetOptions
from vlpbench.datasets.files import FileMaskSource, read_table
from vlpbench.datasets.public import fgadr, fives, idrid, messidor, refuge, rfmid
from vlpbench.encoders.towers import ImageEncoder
from vlpbench.encoders.weights import load_checked, read_state_dict


class Unpicklable:
    """A custom class: a checkpoint holding one needs full unpickling."""

    def __init__(self) -> None:
        self.weights = torch.zeros(2)


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(VlpbenchError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def options(root: Path | None, **extra) -> DatasetOptions:
    return DatasetOptions(image_size=8, data_root=root, **extra)


def test_no_data_root_names_the_option():
    assert "--data-root" in error_of(rfmid.load_rfmid, options(None))


def test_missing_root_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    assert str(missing) in error_of(refuge.load_refuge, options(missing))


def test_missing_dataset_folder_names_the_expected_one(tmp_path):
    message = error_of(messidor.load_messidor, options(tmp_path))
    assert str(tmp_path / "MESSIDOR") in message and "Base11" in message


def test_missing_sub_folder_is_named(tmp_path):
    fx.make_rfmid(tmp_path)
    for path in sorted((tmp_path / "RFMiD" / "Test_Set" / "Test").iterdir()):
        path.unlink()
    (tmp_path / "RFMiD" / "Test_Set" / "Test").rmdir()
    message = error_of(rfmid.load_rfmid, options(tmp_path))
    assert "RFMiD test images" in message and str(tmp_path / "RFMiD" / "Test_Set" / "Test") in message


def test_missing_messidor_base_is_named(tmp_path):
    fx.make_messidor(tmp_path)
    for path in (tmp_path / "MESSIDOR" / "Base23").iterdir():
        path.unlink()
    (tmp_path / "MESSIDOR" / "Base23").rmdir()
    assert str(tmp_path / "MESSIDOR" / "Base23") in error_of(messidor.load_messidor, options(tmp_path))


def test_csv_missing_a_column_names_file_and_column(tmp_path):
    fx.make_rfmid(tmp_path)
    table = tmp_path / "RFMiD" / "Evaluation_Set" / "RFMiD_Validation_Labels.csv"
    pd.read_csv(table).drop(columns=["TSLN"]).to_csv(table, index=False)
    message = error_of(rfmid.load_rfmid, options(tmp_path))
    assert str(table) in message and "'TSLN'" in message


def test_xls_missing_a_column_names_file_and_column(tmp_path):
    fx.make_messidor(tmp_path)
    table = fx.write_xls(tmp_path / "MESSIDOR" / "Base12" / "Annotation_Base12.xls",
                         ["Image name", "Ophthalmologic department", "Risk of macular edema "], [["a.tif", "x", 0]])
    message = error_of(messidor.load_messidor, options(tmp_path))
    assert str(table) in message and "'Retinopathy grade'" in message


def test_xlsx_missing_a_column_names_file_and_column(tmp_path):
    fx.make_refuge(tmp_path)
    table = tmp_path / "REFUGE" / "REFUGE-Test-GT" / "Glaucoma_label_and_Fovea_location.xlsx"
    pd.DataFrame({"ImgName": ["T0001.jpg"], "Glaucoma Label": [1]}).to_excel(table, index=False)
    message = error_of(refuge.load_refuge, options(tmp_path))
    assert str(table) in message and "'Label(Glaucoma=1)'" in message


def test_unreadable_table_is_named(tmp_path):
    table = tmp_path / "broken.xlsx"
    table.write_bytes(b"PK\x03\x04 not really a zip")
    assert str(table) in error_of(read_table, table, ["a"])


def test_label_value_outside_the_label_space(tmp_path):
    fx.make_rfmid(tmp_path)
    table = tmp_path / "RFMiD" / "Training_Set" / "RFMiD_Training_Labels.csv"
    frame = pd.read_csv(table)
    frame.loc[1, "DR"] = 2
    frame.to_csv(table, index=False)
    message = error_of(rfmid.load_rfmid, options(tmp_path))
    assert str(table) in message and "'DR'" in message and "[0, 1]" in message


def test_grade_outside_the_label_space(tmp_path):
    fx.make_messidor(tmp_path)
    table = fx.write_xls(tmp_path / "MESSIDOR" / "Base31" / "Annotation_Base31.xls", fx.MESSIDOR_COLUMNS,
                         [["x.tif", "CHU de St Etienne", 4, 0]])
    message = error_of(messidor.load_messidor, options(tmp_path))
    assert str(table) in message and "[0, 1, 2, 3]" in message


def test_fives_suffix_outside_the_label_space(tmp_path):
    fx.make_fives(tmp_path)
    bad = fx.image(tmp_path / "FIVES" / "test" / "Original" / "99_X.png")
    message = error_of(fives.load_fives, options(tmp_path))
    assert str(bad) in message and "'_X'" in message


def test_undecodable_image_is_named_and_skip_bad_counts_it(tmp_path):
    fx.make_refuge(tmp_path)
    bad = tmp_path / "REFUGE" / "Test400" / "T0002.jpg"
    bad.write_bytes(b"\xff\xd8 truncated jpeg")
    dataset = refuge.load_refuge(options(tmp_path))
    test = dataset.split("test")
    message = error_of(test.images.__getitem__, 1)
    assert str(bad) in message and "does not decode" in message
    skipping = refuge.load_refuge(options(tmp_path, skip_bad_images=True))
    assert skipping.card["skipped_images"] == 1 and len(skipping.split("test").images) == 3
    assert skipping.split("test").labels.tolist() == [1, 0, 0]


def test_listed_image_missing_on_disk_is_named(tmp_path):
    fx.make_rfmid(tmp_path)
    missing = tmp_path / "RFMiD" / "Training_Set" / "Training" / "2.png"
    missing.unlink()
    message = error_of(rfmid.load_rfmid, options(tmp_path))
    assert str(missing) in message and "does not exist" in message


def test_mask_size_differing_from_its_image_names_both(tmp_path):
    fx.make_idrid(tmp_path)
    truth = tmp_path / fx.IDRID_SEG / "2. All Segmentation Groundtruths" / "b. Testing Set" / "3. Hard Exudates"
    bad = fx.mask(truth / "IDRiD_06_EX.tif", (0, 0, 2, 2), size=(20, 20), rgb=True)
    dataset = idrid.load_idrid(options(tmp_path))
    message = error_of(dataset.split("test").masks.__getitem__, 0)
    assert str(bad) in message and "IDRiD_06.jpg" in message and "20×20" in message and "12×10" in message


def test_mask_source_checks_sizes_directly(tmp_path):
    image = fx.image(tmp_path / "a.png")
    small = fx.mask(tmp_path / "m.png", (0, 0, 1, 1), size=(6, 5))
    message = error_of(FileMaskSource([image], [[small, None]], 0).__getitem__, 0)
    assert str(small) in message and str(image) in message


def test_empty_split_is_an_error(tmp_path):
    fx.make_rfmid(tmp_path)
    table = tmp_path / "RFMiD" / "Test_Set" / "RFMiD_Testing_Labels.csv"
    pd.read_csv(table).iloc[:0].to_csv(table, index=False)
    message = error_of(rfmid.load_rfmid, options(tmp_path))
    assert "'rfmid'" in message and "'test'" in message and "no images" in message


def test_all_images_undecodable_leaves_an_empty_split(tmp_path):
    fx.make_fgadr(tmp_path, n=3)
    for path in (tmp_path / "FGADR" / "Seg-set" / "Original_Images").iterdir():
        path.write_bytes(b"broken")
    message = error_of(fgadr.load_fgadr, options(tmp_path, skip_bad_images=True))
    assert "no images" in message and "undecodable" in message


def test_checkpoint_not_fitting_the_encoder_names_key_and_shapes():
    config = resolve_config("smoke").encoders
    encoder = ImageEncoder(config.image, config.proj_dim)
    state = {key: value.clone() for key, value in encoder.state_dict().items()}
    state["proj.weight"] = torch.zeros(7, 3)
    message = error_of(load_checked, encoder, state, "weights file w.safetensors")
    expected = tuple(encoder.state_dict()["proj.weight"].shape)
    assert "w.safetensors" in message and "'proj.weight'" in message and "(7, 3)" in message and str(expected) in message


def test_checkpoint_missing_keys_is_refused():
    config = resolve_config("smoke").encoders
    encoder = ImageEncoder(config.image, config.proj_dim)
    state = {key: value for key, value in encoder.state_dict().items() if key != "proj.weight"}
    assert "missing 'proj.weight'" in error_of(load_checked, encoder, state, "ckpt")


def test_pickle_only_checkpoint_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"model": Unpicklable(), "weight": torch.zeros(2)}, path)
    message = error_of(read_state_dict, path)
    assert str(path) in message and "weights_only" in message and "safetensors" in message
    plain = tmp_path / "plain.pth"  # tensors only: the refusal is about pickled objects, not .pth
    torch.save({"weight": torch.ones(2)}, plain)
    assert read_state_dict(plain)["weight"].tolist() == [1.0, 1.0]


def test_missing_chinese_clip_directory_is_named(tmp_path):
    from vlpbench.encoders.chinese_clip import load_chinese_clip

    assert str(tmp_path / "cn-clip") in error_of(load_chinese_clip, tmp_path / "cn-clip")
