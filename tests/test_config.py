"""Config: profiles, YAML and --set overrides, unknown keys, hashing."""

from __future__ import annotations

import pytest

from vlpbench.core.config import config_hash, grid_hash, resolve_config
from vlpbench.core.errors import VlpbenchError


def test_profiles_differ_and_paper_matches_vilref():
    paper = resolve_config("paper")
    assert paper.encoders.image.timm_name == "vit_base_patch16_224" and paper.encoders.image.img_size == 224
    assert paper.pretrain.batch_size == 256 and paper.encoders.proj_dim == 512
    assert paper.pretrain.lr == 3e-5 and paper.pretrain.betas == [0.9, 0.98] and paper.pretrain.eps == 1e-6
    assert paper.pretrain.weight_decay == 0.001 and paper.pretrain.temperature == 0.07 and paper.pretrain.amp
    assert paper.strategy["wsc"].momentum == 0.75 and paper.strategy["wsc"].queue_size == 768
    assert resolve_config("smoke").strategy["wsc"].queue_size == 64  # the plugin's own smoke override
    assert paper.task["seg"].image_size == 512 and paper.task["finetune"].epochs == 50
    assert resolve_config("smoke").pretrain.steps < resolve_config("quick").pretrain.steps


@pytest.mark.parametrize("strategy", ["wsc", "clip-be"])
def test_from_scratch_profiles_use_moco_momentum(strategy):
    """ViLReF's m = 0.75 fits fine-tuning CN-CLIP at lr 3e-5; from scratch (lr 1e-3) the queued keys
    go inconsistent and clip-be sat at chance, so quick/smoke use MoCo's 0.99 (wsc.py)."""
    assert resolve_config("paper").strategy[strategy].momentum == 0.75
    for profile in ("quick", "smoke"):
        config = resolve_config(profile)
        assert config.strategy[strategy].momentum == 0.99 and config.pretrain.lr >= 1e-3


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("pretrain:\n  steps: 11\n  lr: 0.5\neval:\n  fractions: [0.1, 1]\n")
    config = resolve_config("smoke", path, ["pretrain.steps=7", "corpus.target_mle=0.1"])
    assert config.pretrain.steps == 7 and config.pretrain.lr == 0.5
    assert config.eval.fractions == [0.1, 1.0] and config.corpus.target_mle == 0.1


def test_exponent_floats_without_a_dot_are_floats():
    # YAML 1.1 reads 3e-3 as a string; a float field still takes it
    config = resolve_config("smoke", None, ["task.seg.lr=3e-3", "pretrain.lr=1E-4", "pretrain.eps=2.5e+1"])
    assert (config.task["seg"].lr, config.pretrain.lr, config.pretrain.eps) == (0.003, 0.0001, 25.0)
    with pytest.raises(VlpbenchError, match=r"pretrain\.eps -25\.0: expected a number > 0"):  # read as a float, then range-checked
        resolve_config("smoke", None, ["pretrain.eps=-2.5e+1"])


@pytest.mark.parametrize("override, message", [
    ("pretrain.stepz=3", "unknown config key 'pretrain.stepz'"),
    ("pretrain.steps=abc", "'pretrain.steps' expects int"),
    ("task.seg.lr=3e", "'task.seg.lr' expects float"),
    ("task.seg.stepz=3", "unknown config key 'task.seg.stepz'"),
    ("strategy.wsk.momentum=0.5", "did you mean 'wsc'"),
    ("strategy.clip.x=1", "strategy 'clip' has no options"),
    ("strategy.medclip.similarity=jaccard", "strategy.medclip.similarity 'jaccard'"),
    ("pretrain=3", "'pretrain' is a section"),
    ("novalue", "expected KEY=VALUE"),
])
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(VlpbenchError, match=message):
        resolve_config("smoke", None, [override])


def test_unknown_profile_and_unreadable_file(tmp_path):
    with pytest.raises(VlpbenchError, match="unknown profile 'fast'"):
        resolve_config("fast")
    with pytest.raises(VlpbenchError, match="cannot read config file"):
        resolve_config("smoke", tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(VlpbenchError, match="not valid YAML"):
        resolve_config("smoke", bad)


def test_hash_is_stable_and_ignores_locations():
    a = resolve_config("smoke")
    b = resolve_config("smoke", None, ["runs_dir=/elsewhere", "results_dir=/other"])
    assert config_hash(a) == config_hash(b) and len(config_hash(a)) == 12
    assert config_hash(a) != config_hash(resolve_config("smoke", None, ["pretrain.steps=99"]))
    assert grid_hash(a) == grid_hash(resolve_config("smoke", None, ["eval.seeds=5", "eval.fractions=[0.1]"]))


def test_a_neutral_eval_setting_keeps_the_grid_key_and_any_other_value_changes_it():
    """eval.test_scale came after grids were published: at 1 it is left out of the grid hash (the
    shipped grids keep their key and their records stay current); any other value is a new grid."""
    base = resolve_config("quick")
    assert grid_hash(base) == grid_hash(resolve_config("quick", None, ["eval.test_scale=1"]))
    assert grid_hash(base) != grid_hash(resolve_config("quick", None, ["eval.test_scale=4"]))
