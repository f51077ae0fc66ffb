"""Every bad input is a one-line VlpbenchError naming the file (or key) and what was expected; the
catalogue at the end covers config values, unreadable report numbers, markup, CSV round trips,
files or folders of the wrong kind, and caches keyed by content."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

import public_fixtures as fx
from vlpbench.app.cli import main
from vlpbench.core import fingerprint
from vlpbench.core.config import resolve_config, validate_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.fingerprint import INDEX_NAME, DigestIndex
from vlpbench.datasets.base import ClassificationSplit, DatasetOptions
from vlpbench.datasets.files import FileImageSource, FileMaskSource, read_table
from vlpbench.datasets.labels.converter import ReportConverter
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS, load_knowledge_base
from vlpbench.datasets.public import fgadr, fives, idrid, messidor, refuge, rfmid
from vlpbench.encoders.towers import ImageEncoder
from vlpbench.encoders.weights import load_checked, read_state_dict
from vlpbench.engine.grid import run_grid
from vlpbench.engine.input_digests import input_digests, refresh_input_digests
from vlpbench.engine.run_cache import Workspace, checkpoint_key
from vlpbench.tasks._features import feature_cache_path


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


# =============================================================================================
# The catalogue of "nothing a user types crashes it": every class of bad input, at least three
# inputs each, is a one-line VlpbenchError (or exit code 2 and one stderr line from the CLI)
# naming the key or the path.
# =============================================================================================


def cli_error(capsys, *argv: str) -> str:
    """Run `bench argv` in process: exit code 2 and exactly one stderr line, returned."""
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def run_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["run", "--strategy", "clip", "--task", "ood-zsc", "--profile", "smoke",
            "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"), *extra]


# --- 1. config values: ranges, choices, finiteness, cross-field rules, checked when the config resolves


@pytest.mark.parametrize("override, message", [
    ("pretrain.steps=0", "pretrain.steps 0: expected an integer >= 1"),
    ("pretrain.steps=-5", "pretrain.steps -5: expected an integer >= 1"),
    ("pretrain.batch_size=0", "pretrain.batch_size 0: expected an integer >= 1"),
    ("pretrain.warmup_steps=-1", "pretrain.warmup_steps -1: expected an integer >= 0"),
    ("pretrain.mlm_steps=-2", "pretrain.mlm_steps -2: expected an integer >= 0"),
    ("pretrain.seed=-3", "pretrain.seed -3: expected an integer in [0, 2**32)"),
    ("corpus.seed=4294967296", "corpus.seed 4294967296: expected an integer in [0, 2**32)"),
    ("corpus.size=0", "corpus.size 0: expected an integer >= 1"),
    ("eval.seeds=0", "eval.seeds 0: expected an integer >= 1"),
    ("eval.batch_size=-1", "eval.batch_size -1: expected an integer >= 1"),
    ("eval.pretrain_seeds=-1", "eval.pretrain_seeds -1: expected an integer >= 0"),
    ("workers=0", "workers 0: expected an integer >= 1"),
    ("threads=-1", "threads -1: expected an integer >= 0"),
    ("pretrain.lr=.nan", "pretrain.lr nan: expected a finite number"),
    ("pretrain.lr=.inf", "pretrain.lr inf: expected a finite number"),
    ("pretrain.lr=1e999", "pretrain.lr inf: expected a finite number"),
    ("pretrain.lr=0", "pretrain.lr 0.0: expected a number > 0"),
    ("pretrain.lr=-1e-3", "pretrain.lr -0.001: expected a number > 0"),
    ("pretrain.temperature=0", "pretrain.temperature 0.0: expected a number > 0"),
    ("pretrain.betas=[0.9]", "pretrain.betas [0.9]: expected 2 items, each a number in [0, 1) (got 1 items)"),
    ("pretrain.betas=[0.9, 1.0]", "pretrain.betas [0.9, 1.0]: expected 2 items, each a number in [0, 1) (1.0 is not)"),
    ("pretrain.betas=[0.9, .nan]", "pretrain.betas [0.9, nan]: expected finite numbers"),
    ("eval.fractions=[]", "eval.fractions []: expected a non-empty list"),
    ("eval.fractions=[0]", "eval.fractions [0.0]: expected a non-empty list, each a number in (0, 1]"),
    ("eval.fractions=[0.1, 1.5]", "(1.5 is not)"),
    ("eval.dataset_scale=0", "eval.dataset_scale 0.0: expected a number > 0"),
    ("corpus.normal_share=1.5", "corpus.normal_share 1.5: expected a number in [0, 1]"),
    ("corpus.normal_share=0.99", "corpus.others_share 0.03: expected at most 1 - corpus.normal_share"),
    ("corpus.target_mle=-0.1", "corpus.target_mle -0.1: expected null or a number > 0"),
    ("corpus.language=fr", "corpus.language 'fr': expected 'zh', 'en' or a knowledge-base .yaml file"),
    ("encoders.image.arch=convnext", "encoders.image.arch 'convnext': expected one of 'vit', 'resnet'"),
    ("encoders.image.img_size=30", "encoders.image.img_size 30: expected a multiple of encoders.image.patch_size (8)"),
    ("encoders.image.patch_size=5", "encoders.image.img_size 32: expected a multiple of encoders.image.patch_size (5)"),
    ("encoders.image.heads=3", "encoders.image.width 32: expected a multiple of encoders.image.heads (3)"),
    ("encoders.image.resnet_layers=[1, 1, 1]", "encoders.image.resnet_layers [1, 1, 1]: expected 4 items"),
    ("encoders.text.heads=5", "encoders.text.width 32: expected a multiple of encoders.text.heads (5)"),
    ("encoders.text.max_length=1", "encoders.text.max_length 1: expected an integer >= 3"),
    ("encoders.text.family=gpt", "encoders.text.family 'gpt': expected one of 'bert', 'roberta'"),
    ("encoders.proj_dim=0", "encoders.proj_dim 0: expected an integer >= 1"),
    ("eval.image_size=64", "eval.image_size 64: expected encoders.image.img_size (32), the side the ViT image tower is built for"),
    ("device=tpu", "device 'tpu': expected auto, cpu, cuda, cuda:N or mps"),
    ("device=cuda:99", "device 'cuda:99': expected auto, cpu, cuda, cuda:N or mps ("),
    ("device=gpu0", "device 'gpu0'"),
    ("strategy.wsc.momentum=1.5", "strategy.wsc.momentum 1.5: expected a number in [0, 1]"),
    ("strategy.wsc.queue_size=0", "strategy.wsc.queue_size 0: expected an integer >= 1"),
    ("strategy.deit.tau=0", "strategy.deit.tau 0.0: expected a number > 0"),
    ("strategy.deit.kind=medium", "strategy.deit.kind 'medium': expected one of 'hard', 'soft'"),
    ("strategy.mae.mask_ratio=1", "strategy.mae.mask_ratio 1.0: expected a number in [0, 1)"),
    ("strategy.mae.decoder_width=30", "strategy.mae.decoder_width 30: expected a positive multiple of 4"),
    ("strategy.mflag.orth_lambda=-1", "strategy.mflag.orth_lambda -1.0: expected a number >= 0"),
    ("task.seg.image_size=30", "task.seg.image_size 30: expected a positive multiple of 4"),
    ("task.seg.image_size=36", "task.seg.image_size 36: expected a multiple of encoders.image.patch_size (8) for the ViT tower"),
    ("task.seg.window=-4", "task.seg.window -4: expected 0 or a positive multiple of 4"),
    ("task.seg.steps=0", "task.seg.steps 0: expected an integer >= 1"),
    ("task.finetune.epochs=0", "task.finetune.epochs 0: expected an integer >= 1"),
    ("task.finetune.head_c_grid=[1, -1]", "task.finetune.head_c_grid [1.0, -1.0]: expected a non-empty list, each a number > 0"),
    ("task.linear-probe.c_grid=[]", "task.linear-probe.c_grid []"),
    ("task.ood-zsc.template=no placeholder", "task.ood-zsc.template 'no placeholder': expected text with exactly one '{}'"),
    ("task.ood-zsc.bootstrap=-1", "task.ood-zsc.bootstrap -1: expected an integer >= 0"),
    ("task.ood-zsc.protocol=magic", "task.ood-zsc.protocol 'magic': expected one of 'term'"),
])
def test_config_value_out_of_range_names_source_key_value_and_range(override, message):
    error = error_of(resolve_config, "smoke", None, [override])
    assert error.startswith(f"--set {override}: ") and message in error, error


def test_range_errors_name_the_file_the_value_came_from(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text("pretrain:\n  batch_size: -4\n", encoding="utf-8")
    assert error_of(resolve_config, "smoke", config) == f"{config}: pretrain.batch_size -4: expected an integer >= 1"
    config.write_text("encoders:\n  image:\n    patch_size: 6\n", encoding="utf-8")
    assert error_of(resolve_config, "smoke", config).startswith(f"{config}: encoders.image.img_size 32: expected a multiple")
    config.write_text("task:\n  seg:\n    lr: .nan\n", encoding="utf-8")
    assert error_of(resolve_config, "smoke", config) == f"{config}: task.seg.lr nan: expected a finite number"


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_profile_default_validates(profile):
    config = resolve_config(profile)
    validate_config(config)


def test_every_setting_declares_its_range_next_to_its_definition():
    """Every number and list setting (shared sections and every plugin's Options) has a rule in
    its field metadata; only free text and switches go without."""
    from vlpbench.core.checks import rule_of
    from vlpbench.core.config import _leaves

    undeclared = [key for key, value, metadata in _leaves(resolve_config("smoke"))
                  if rule_of(metadata) is None and not isinstance(value, (bool, str))]
    undeclared += [key for key, value, metadata in _leaves(resolve_config("smoke"))
                   if rule_of(metadata) is None and isinstance(value, str)
                   and key not in ("profile", "corpus.name", "encoders.image.timm_name")]
    assert undeclared == []


def test_a_valid_cross_field_combination_is_accepted():
    # a ResNet takes any evaluation size; a ViT from timm_name ignores the size fields' patch rule
    resolve_config("smoke", None, ["encoders.image.arch=resnet", "eval.image_size=64", "task.seg.image_size=36"])
    resolve_config("smoke", None, ["encoders.image.timm_name=resnet18", "eval.image_size=48"])


@pytest.mark.parametrize("argv, message", [
    (["--strategy", ","], "bench run: argument --strategy: expected one or more comma-separated names, got ','"),
    (["--task", " , "], "argument --task: expected one or more comma-separated names"),
    (["--dataset", ","], "argument --dataset: expected one or more comma-separated names"),
    (["--seeds", "0"], "--seeds: eval.seeds 0: expected an integer >= 1"),
    (["--seeds", "-2"], "--seeds: eval.seeds -2: expected an integer >= 1"),
    (["--seeds", "two"], "argument --seeds: invalid int value: 'two'"),
    (["--workers", "0"], "--workers: workers 0: expected an integer >= 1"),
    (["--fraction", "0"], "--fraction: eval.fractions [0.0]: expected a non-empty list, each a number in (0, 1]"),
    (["--fraction", "0.5,2"], "--fraction: eval.fractions [0.5, 2.0]"),
    (["--fraction", "nan"], "--fraction: eval.fractions [nan]: expected finite numbers"),
    (["--fraction", ","], "argument --fraction: expected comma-separated numbers"),
    (["--device", "tpu"], "--device: device 'tpu': expected auto, cpu, cuda, cuda:N or mps"),
    (["--device", "cuda:99"], "--device: device 'cuda:99'"),
    (["--profile", "fast"], "unknown profile 'fast'"),
    (["--set", "pretrain.steps=[1,"], "--set pretrain.steps=[1,: the value is not valid YAML"),
])
def test_cli_values_are_one_line_errors_before_any_work(argv, message, tmp_path, capsys):
    args = run_args(tmp_path)
    for flag, value in zip(argv[::2], argv[1::2]):  # replace a given option, else append it
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert message in cli_error(capsys, *args)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()  # nothing ran


def test_speed_steps_must_be_positive(capsys):
    for steps in ("0", "-3", "x"):
        assert "argument --steps: expected an integer >= 1" in cli_error(capsys, "speed", "--steps", steps)


def test_an_empty_name_list_is_an_error_in_the_library_too(tmp_path):
    config = resolve_config("smoke", None, [f"runs_dir={tmp_path / 'runs'}", f"results_dir={tmp_path / 'results'}"])
    assert "no strategy named" in error_of(run_grid, config, [], ["ood-zsc"])
    assert "no task named" in error_of(run_grid, config, ["clip"], [])
    assert "no dataset named" in error_of(run_grid, config, ["clip"], ["ood-zsc"], [])


# --- 2. the report converter never raises on numbers it cannot read


UNREADABLE_MEASUREMENTS = ["杯盘比1:0", "动静脉比0/0", "C/D " + "9" * 5000, "A:V 1:" + "0" * 5000, "C/D=0.6.7",
                           "动静脉比1:0.0", "cup-to-disc ratio 0/0"]


@pytest.mark.parametrize("report", UNREADABLE_MEASUREMENTS)
def test_unreadable_measurement_is_an_unmapped_phrase(report):
    for lang in ("zh", "en"):
        converter = ReportConverter(load_knowledge_base(lang))
        labels, stats = converter.convert_many([report, report + "，出血。hemorrhage"])
        assert labels[0].sum() == 0 and stats.unmapped_phrases >= 1
        assert labels[1][CATEGORY_KEYS.index("hemorrhage")] == 1  # the rest of the report still counts


def test_one_bad_report_never_fails_a_labels_csv(tmp_path, capsys):
    source = tmp_path / "reports.csv"
    reports = [*UNREADABLE_MEASUREMENTS, "青光眼，杯盘比0.8"]
    pd.DataFrame({"id": [f"r{i}" for i in range(len(reports))], "report": reports}).to_csv(source, index=False)
    assert main(["labels", str(source), "--out", str(tmp_path / "out.csv")]) == 0
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert out["id"].tolist() == [f"r{i}" for i in range(len(reports))]
    assert out.loc[len(reports) - 1, "large_optic_cup"] == "1" and (out.iloc[0][list(CATEGORY_KEYS)] == "0").all()
    assert "unmapped" in capsys.readouterr().out


# --- 3. user text is never read as terminal markup


MARKUP = ["[/b]", "[bold red]x[/]", "[/]", "[link=file:///etc]y[/link]"]


@pytest.mark.parametrize("markup", MARKUP)
def test_markup_in_reports_is_printed_as_written(markup, tmp_path, capsys):
    source = tmp_path / "reports.csv"
    pd.DataFrame({"report": [f"{markup}图像质量尚可", f"出血{markup}"]}).to_csv(source, index=False)
    out_csv = tmp_path / f"out{markup.replace('/', '_')}.csv"
    assert main(["labels", str(source), "--out", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert f"{markup}图像质量尚可" in printed
    assert "".join(f"wrote {out_csv}".split()) in "".join(printed.split())  # rich may wrap the path
    assert main(["labels", "--text", f"{markup}出血"]) == 0 and "hemorrhage" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["cfg[old].yaml", "[bold]cfg.yaml", "[red]dir[/red]/cfg.yaml"])
def test_file_names_with_brackets_are_printed_as_written(name, tmp_path, capsys):
    config = tmp_path / name
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("pretrain:\n  stepz: 3\n", encoding="utf-8")
    err = cli_error(capsys, *run_args(tmp_path, "--config", str(config)))
    assert f"{config}: unknown config key 'pretrain.stepz'" in err


def test_markup_in_a_manifest_report_does_not_break_its_card(tmp_path, capsys):
    from vlpbench.datasets.manifest import load_manifest_corpus

    names = [f"images/e{i}.png" for i in range(4)]
    for name in names:
        fx.image(tmp_path / name)
    manifest = tmp_path / "pairs[bold].csv"
    pd.DataFrame({"image": names, "report": ["[/b]图像质量尚可", "出血[/]", "[bold]青光眼", "正常"]}).to_csv(manifest, index=False)
    corpus = load_manifest_corpus(manifest, 8)
    assert corpus.labels[1, CATEGORY_KEYS.index("hemorrhage")] == 1
    assert "[/b]图像质量尚可" in capsys.readouterr().err


def test_control_characters_in_an_error_stay_on_one_line(tmp_path, capsys):
    for name in ("a\nb.csv", "a\rb.csv", "tab\there\x1b[31m.csv"):
        err = cli_error(capsys, "labels", str(tmp_path / name), "--out", str(tmp_path / "o.csv"))
        assert "does not exist" in err and "\\" in err


def test_rich_consoles_are_made_in_one_place():
    """Only core/console.py constructs a rich Console (markup off); every other module uses it."""
    source = Path(__file__).parents[1] / "src" / "vlpbench"
    offenders = [str(path.relative_to(source)) for path in sorted(source.rglob("*.py"))
                 if path.name != "console.py" and "Console(" in path.read_text(encoding="utf-8")]
    assert offenders == []


# --- 4. output that parses back: hostile text through `bench labels`, write → read


HOSTILE = ["bare\rcarriage return 出血", "line\nfeed", "crlf\r\nin the middle", 'a "quoted" word, and a comma',
           "tab\tseparated\tcells", "nul\x00byte", "\ufeffbom at the start", "line\u2028separator\u2029",
           "x" * 200_000, "", " leading and trailing ", "NA", "#comment", '"', "\r", "\\N", "=1+1", "a,b\r\nc,d"]


@pytest.mark.parametrize("text", HOSTILE, ids=[repr(t[:20]) for t in HOSTILE])
def test_hostile_text_round_trips_through_bench_labels(text, tmp_path):
    import csv

    source = tmp_path / "in.csv"
    rows = [("id0", "出血", "before"), ("id1", text, text), ("id2", "青光眼", "after")]
    with source.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, quoting=csv.QUOTE_ALL)
        writer.writerow(("id", "report", "note"))
        writer.writerows(rows)
    out = tmp_path / "out.csv"
    assert main(["labels", str(source), "--out", str(out)]) == 0
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back[["id", "report", "note"]].values.tolist() == [list(row) for row in rows]
    assert back.loc[0, "hemorrhage"] == "1" and back.loc[2, "glaucoma"] == "1"


# --- 5. files and folders of the wrong kind, checked before any work


def test_output_folder_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    for argv in (["data", "write", "--out", str(blocker), "--profile", "smoke"],
                 ["leaderboard", "--results", str(tmp_path), "--out", str(blocker)],
                 ["study", "label-entropy", "--out", str(blocker), "--profile", "smoke"],
                 ["new", "strategy", "x-y", "--tests", str(blocker)]):
        err = cli_error(capsys, *argv)
        assert f"--{argv[argv.index(str(blocker)) - 1].lstrip('-')} {blocker}: expected a folder, but it is a file" in err


def test_output_file_that_is_a_folder_or_under_a_file(tmp_path, capsys):
    source = tmp_path / "r.csv"
    pd.DataFrame({"report": ["出血"]}).to_csv(source, index=False)
    folder = tmp_path / "folder"
    folder.mkdir()
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert "--out " + str(folder) + ": expected a file, but it is a folder" in cli_error(
        capsys, "labels", str(source), "--out", str(folder))
    assert f"but {blocker} is a file" in cli_error(capsys, "labels", str(source), "--out", str(blocker / "sub" / "o.csv"))
    assert "--cards " + str(folder) + ": expected a file" in cli_error(capsys, "list", "datasets", "--cards", str(folder))
    assert "--out " + str(folder) + ": expected a file" in cli_error(
        capsys, "data", "preview", "--out", str(folder), "--profile", "smoke")
    assert "reports CSV " + str(folder) + ": expected a file" in cli_error(capsys, "labels", str(folder), "--out", str(tmp_path / "o.csv"))


@pytest.mark.parametrize("option, key", [("--results", "results_dir"), ("--runs", "runs_dir"), ("--data-root", "eval.data_root")])
def test_results_runs_or_data_folder_that_is_a_file(option, key, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    err = cli_error(capsys, *run_args(tmp_path, option, str(blocker)))
    assert f"{option}: {key} '{blocker}': expected a folder (it is a file)" in err


def test_leaderboard_results_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "results"
    blocker.write_text("")
    assert f"--results {blocker}: expected a folder, but it is a file" in cli_error(capsys, "leaderboard", "--results", str(blocker))


@pytest.mark.parametrize("encoding, text", [("latin-1", "# café\npretrain:\n  steps: 3\n"),
                                            ("utf-16", "pretrain:\n  steps: 3\n"),
                                            ("gbk", "# 糖尿病视网膜病变\npretrain:\n  steps: 3\n")])
def test_config_file_not_in_utf8(encoding, text, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_bytes(text.encode(encoding))
    assert f"config file {config} is not UTF-8 text" in error_of(resolve_config, "smoke", config)
    assert f"config file {config} is not UTF-8 text" in cli_error(capsys, *run_args(tmp_path, "--config", str(config)))
    knowledge = tmp_path / "site.yaml"  # a knowledge base as well (corpus.language may name one)
    knowledge.write_bytes(text.encode(encoding))
    assert f"{knowledge}: knowledge base is not UTF-8 text" in error_of(load_knowledge_base, knowledge)


def test_config_file_that_is_a_folder(tmp_path, capsys):
    assert f"config file {tmp_path}: expected a file, but it is a folder" in cli_error(
        capsys, *run_args(tmp_path, "--config", str(tmp_path)))


def bomb(path: Path) -> Path:
    """A PNG whose header claims 100,000 × 100,000 pixels (PIL's decompression-bomb guard)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_image_is_a_one_line_error_or_skipped(tmp_path):
    good, bad = fx.image(tmp_path / "good.png"), bomb(tmp_path / "bomb.png")
    message = error_of(FileImageSource([good, bad], 8).__getitem__, 1)
    assert str(bad) in message and "decompression bomb" in message
    skipping = FileImageSource([good, bad], 8, skip_bad=True)
    assert skipping.skipped == [bad] and len(skipping) == 1
    message = error_of(FileMaskSource([bad], [[None]], 8).__getitem__, 0)  # the image a mask is checked against
    assert str(bad) in message and "decompression bomb" in message
    message = error_of(FileMaskSource([good], [[bomb(tmp_path / "mask.png")]], 0).__getitem__, 0)
    assert str(tmp_path / "mask.png") in message and "decompression bomb" in message


def test_decompression_bomb_in_a_public_dataset(tmp_path):
    fx.make_refuge(tmp_path)
    bad = bomb(tmp_path / "REFUGE" / "Test400" / "T0002.jpg")  # any suffix: PIL reads the header
    test = refuge.load_refuge(options(tmp_path)).split("test")
    assert str(bad) in error_of(test.images.__getitem__, 1)


# --- 7. caches keyed by content: an edit in place gives new keys; a touched, unchanged file does not


def manifest_config(tmp_path: Path, *extra: str):
    """A smoke config whose corpus is a 12-pair manifest (images written by the public fixtures)."""
    names = []
    for i in range(12):
        fx.image(tmp_path / "images" / f"eye{i}.png", seed=i, size=(24, 24))
        names.append(f"images/eye{i}.png")
    reports = ["视网膜出血", "黄斑水肿", "视盘水肿", "未见明显异常"]
    manifest = tmp_path / "pairs.csv"
    pd.DataFrame({"image": names, "report": [reports[i % 4] for i in range(12)]}).to_csv(manifest, index=False)
    weights = tmp_path / "image.safetensors"
    save_file({"unused": torch.zeros(3)}, str(weights))
    return resolve_config("smoke", None, [f"corpus.manifest={manifest}", f"runs_dir={tmp_path / 'runs'}", *extra])


def rewrite_report(root: Path) -> None:
    table = pd.read_csv(root / "pairs.csv")
    table.loc[5, "report"] = "豹纹状眼底，视盘周围萎缩"  # new words: a new vocabulary for the built-in tokenizer
    table.to_csv(root / "pairs.csv", index=False)


def damage_image(root: Path) -> None:
    path = root / "images" / "eye7.png"
    path.write_bytes(path.read_bytes()[:40])


CONTENT_EDITS = {
    "manifest report rewritten": rewrite_report,
    "image overwritten": lambda root: fx.image(root / "images" / "eye3.png", seed=99, size=(24, 24)),
    "image damaged": damage_image,
    "weights file overwritten": lambda root: save_file({"unused": torch.ones(3)}, str(root / "image.safetensors")),
}


@pytest.mark.parametrize("edit", CONTENT_EDITS, ids=list(CONTENT_EDITS))
def test_checkpoint_and_warm_start_keys_follow_edits_in_place(edit, tmp_path):
    config = manifest_config(tmp_path, f"encoders.image.weights={tmp_path / 'image.safetensors'}")
    refresh_input_digests()
    before, inputs = checkpoint_key(config, "clip", 0), input_digests(config)
    CONTENT_EDITS[edit](tmp_path)
    refresh_input_digests()
    assert checkpoint_key(config, "clip", 0) != before
    assert input_digests(config) != inputs


def test_touched_but_unchanged_files_keep_their_keys(tmp_path):
    config = manifest_config(tmp_path, f"encoders.image.weights={tmp_path / 'image.safetensors'}")
    refresh_input_digests()
    before = checkpoint_key(config, "clip", 0)
    for path in tmp_path.rglob("*"):
        if path.is_file() and "runs" not in path.parts:
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    refresh_input_digests()
    assert checkpoint_key(config, "clip", 0) == before
    index = json.loads((tmp_path / "runs" / INDEX_NAME).read_text(encoding="utf-8"))
    image = str(tmp_path / "images" / "eye0.png")
    assert index[image][1] == (tmp_path / "images" / "eye0.png").stat().st_mtime_ns  # hashed again once, remembered


def test_unchanged_files_are_not_read_again(tmp_path, monkeypatch):
    index = DigestIndex(tmp_path / INDEX_NAME)
    paths = [fx.image(tmp_path / f"{i}.png", seed=i) for i in range(4)]
    first = index.files(paths)
    reads = []
    monkeypatch.setattr(fingerprint, "sha256_file", lambda path: reads.append(path) or "x")
    assert DigestIndex(tmp_path / INDEX_NAME).files(paths) == first and reads == []  # a stat each, from the saved index


def split_of(images, labels) -> ClassificationSplit:
    return ClassificationSplit(images=images, labels=np.asarray(labels))


@pytest.mark.parametrize("source", ["files", "arrays"])
def test_feature_cache_key_sees_every_image_and_label(source, tmp_path):
    """The old key hashed only the first and last image: a middle one overwritten or damaged was hidden."""
    paths = [fx.image(tmp_path / f"{i}.png", seed=i, size=(12, 12)) for i in range(5)]
    arrays = np.stack([np.asarray(FileImageSource(paths, 12)[i]) for i in range(5)])
    images = FileImageSource(paths, 12) if source == "files" else arrays.copy()
    index = DigestIndex(tmp_path / INDEX_NAME)

    def key(images, labels=(0, 1, 0, 1, 0)) -> Path:
        return feature_cache_path(tmp_path, "ckpt", "set", "test", split_of(images, labels), 12, index)

    before = key(images)
    assert key(images) == before
    assert key(images, (0, 1, 1, 1, 0)) != before
    if source == "files":
        fx.image(paths[2], seed=42, size=(12, 12))
        assert key(FileImageSource(paths, 12)) != before
        damage = paths[3].read_bytes()[:30]
        paths[3].write_bytes(damage)
        assert key(FileImageSource(paths, 12)) != before
    else:
        images[2, 0, 0, 0] ^= 1
        assert key(images) != before


def test_a_manifest_edited_in_place_retrains_instead_of_crashing(tmp_path):
    """Before: the cached MLM warm start (built for the old vocabulary) was loaded into a text
    encoder sized for the new one, and the clip checkpoint trained on the old pairs was reused."""
    config = manifest_config(tmp_path, "pretrain.steps=2", "pretrain.mlm_steps=2", "pretrain.batch_size=4")
    refresh_input_digests()
    first = Workspace(config).checkpoint("clip", 0)
    rewrite_report(tmp_path)
    refresh_input_digests()
    workspace = Workspace(config)
    second = workspace.checkpoint("clip", 0)
    assert second.directory != first.directory and second.directory.name in workspace.computed
    assert len(list((tmp_path / "runs" / "smoke").glob("text-mlm-*"))) == 2
