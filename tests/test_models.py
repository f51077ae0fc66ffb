"""External models (`vlpbench.models`): every family loads its tiny native-format fixture
(tests/model_fixtures.py) with all of its towers set, a wrong key or shape is a one-line error
naming it, the Chinese-CLIP key map reproduces the original `CLIP` forward, and `bench run
--model` evaluates the families through the task plugins into their own leaderboard section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from model_fixtures import (
    FAMILIES,
    HF_MEAN,
    HF_STD,
    IMG,
    RESNET_EMBED,
    RESNET_LAYERS,
    RESNET_WIDTH,
    chinese_clip,
    chinese_clip_state,
    flair,
    hf_clip_folder,
    modified_resnet,
    retfound_mae,
)
from vlpbench.app.cli import main
from vlpbench.core.config import resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import MODELS
from vlpbench.engine.grid import plan_jobs
from vlpbench.models.base import CLIP_MEAN, CLIP_STD, build_model, model_config, model_files, split_name

FAST_TASKS = "linear-probe,ood-zsc"
ALL_TASKS = "linear-probe,finetune,ood-zsc,seg"


def _model(name: str, folder: Path, extra: list[str] = ()):
    sets = FAMILIES[name][0](folder)
    return build_model(resolve_config("smoke", overrides=[*sets, *extra]), name)


def test_every_registered_family_has_a_native_fixture():
    assert set(MODELS.names()) == {split_name(name)[0] for name in FAMILIES}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_loads_its_native_fixture_whole(name, tmp_path):
    model = _model(name, tmp_path)
    towers = {entry["tower"]: entry["fraction"] for entry in model.loaded_fractions}
    assert towers == ({"image": 1.0, "text": 1.0} if FAMILIES[name][1] else {"image": 1.0})
    images = torch.randn(2, 3, IMG, IMG)
    assert torch.isfinite(model.image_features(images)).all()
    assert [m.shape[-1] for m in model.image_encoder.forward_multiscale(images)] == [IMG // s for s in (4, 8, 16, 32)]
    assert model.has_text_tower == FAMILIES[name][1]
    if model.has_text_tower:
        texts = model.text_embedding(["眼底出血", "normal fundus"])
        assert texts.shape == (2, model.image_embedding(images).shape[1])


def test_unused_release_tensors_are_counted(tmp_path):
    model = _model("retfound-mae", tmp_path)
    assert model.loaded_fractions[0]["unused_release_tensors"] > 10  # the MAE decoder


def _rewrite(path: Path, change) -> None:
    checkpoint = torch.load(path, weights_only=False)
    change(checkpoint)
    torch.save(checkpoint, path)


def test_a_renamed_key_names_itself_and_its_shape(tmp_path):
    sets = retfound_mae(tmp_path)
    path = tmp_path / "RETFound_mae_natureCFP.pth"
    _rewrite(path, lambda c: c["model"].__setitem__("blocks.0.attn.qkv_w.weight", c["model"].pop("blocks.0.attn.qkv.weight")))
    with pytest.raises(VlpbenchError) as error:
        build_model(resolve_config("smoke", overrides=sets), "retfound-mae")
    message = str(error.value)
    assert "\n" not in message and "blocks.0.attn.qkv" in message and "(96, 32)" in message


def test_a_wrong_shape_names_both_shapes(tmp_path):
    sets = retfound_mae(tmp_path)
    with pytest.raises(VlpbenchError, match=r"cls_token.*\(1, 1, 32\).*expects \(1, 1, 48\)"):
        build_model(resolve_config("smoke", overrides=[*sets, "model.retfound-mae.embed_dim=48"]), "retfound-mae")


def test_a_key_outside_the_key_map_is_refused(tmp_path):
    sets = flair(tmp_path)
    path = tmp_path / "flair_resnet.pth"
    _rewrite(path, lambda c: c.__setitem__("image_adapter.weight", torch.zeros(3, 4)))
    with pytest.raises(VlpbenchError, match=r"release tensor 'image_adapter.weight' \(shape \(3, 4\)\) is not in the flair key map"):
        build_model(resolve_config("smoke", overrides=sets), "flair")


class Opaque:
    """A class torch's weights-only loader refuses."""


def test_a_pickle_only_file_is_refused_with_the_conversion_command(tmp_path):
    sets = retfound_mae(tmp_path)
    path = tmp_path / "RETFound_mae_natureCFP.pth"
    _rewrite(path, lambda c: c.__setitem__("extra", Opaque()))
    with pytest.raises(VlpbenchError) as error:
        build_model(resolve_config("smoke", overrides=sets), "retfound-mae")
    message = str(error.value)
    assert "weights_only=True" in message and "st.save_file" in message and "Opaque" in message and "\n" not in message


def test_the_converted_safetensors_file_loads_like_the_release(tmp_path):
    from safetensors.torch import save_file

    sets = retfound_mae(tmp_path)
    release = torch.load(tmp_path / "RETFound_mae_natureCFP.pth", weights_only=False)["model"]
    save_file(release, str(tmp_path / "converted.safetensors"))
    original = build_model(resolve_config("smoke", overrides=sets), "retfound-mae")
    converted = build_model(resolve_config("smoke", overrides=[*sets[1:], f"model.retfound-mae.weights={tmp_path / 'converted.safetensors'}"]),
                            "retfound-mae")
    images = torch.randn(2, 3, IMG, IMG)
    torch.testing.assert_close(converted.image_features(images), original.image_features(images))


def test_torchvision_and_timm_resnet50_share_parameter_names():
    import timm
    import torchvision

    with torch.device("meta"):
        assert set(torchvision.models.resnet50().state_dict()) == set(timm.create_model("resnet50").state_dict())


def _reference_clip_image(state: dict[str, torch.Tensor], pixels: torch.Tensor, heads: int) -> torch.Tensor:
    """Chinese-CLIP's `VisualTransformer.forward`, transcribed with torch modules."""
    x = F.conv2d(pixels, state["visual.conv1.weight"], stride=state["visual.conv1.weight"].shape[-1]).flatten(2).transpose(1, 2)
    x = torch.cat([state["visual.class_embedding"].expand(x.shape[0], 1, -1), x], dim=1) + state["visual.positional_embedding"]
    width = x.shape[-1]

    def norm(y, name):
        return F.layer_norm(y, (width,), state[f"{name}.weight"], state[f"{name}.bias"])

    x = norm(x, "visual.ln_pre").transpose(0, 1)
    for i in range(sum(k.endswith("attn.in_proj_weight") for k in state)):
        p = f"visual.transformer.resblocks.{i}."
        attention = torch.nn.MultiheadAttention(width, heads)
        attention.load_state_dict({"in_proj_weight": state[f"{p}attn.in_proj_weight"], "in_proj_bias": state[f"{p}attn.in_proj_bias"],
                                   "out_proj.weight": state[f"{p}attn.out_proj.weight"], "out_proj.bias": state[f"{p}attn.out_proj.bias"]})
        y = norm(x, f"{p}ln_1")
        x = x + attention(y, y, y, need_weights=False)[0]
        h = F.linear(norm(x, f"{p}ln_2"), state[f"{p}mlp.c_fc.weight"], state[f"{p}mlp.c_fc.bias"])
        x = x + F.linear(h * torch.sigmoid(1.702 * h), state[f"{p}mlp.c_proj.weight"], state[f"{p}mlp.c_proj.bias"])
    return norm(x.transpose(0, 1)[:, 0], "visual.ln_post") @ state["visual.proj"]


@torch.no_grad()
def test_chinese_clip_key_map_reproduces_the_original_forward(tmp_path):
    from transformers import BertConfig, BertModel

    model = _model("cn-clip", tmp_path)
    state, _ = chinese_clip_state(tmp_path)  # the same seeded tensors the fixture file holds
    pixels = torch.rand(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(0))
    clip_input = (pixels - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]
    expected = F.normalize(_reference_clip_image(state, clip_input, heads=1), dim=-1)  # width 32: width // 64, at least 1
    torch.testing.assert_close(model.image_embedding((pixels - 0.5) / 0.5), expected, atol=1e-4, rtol=1e-4)
    bert = BertModel(BertConfig.from_pretrained(tmp_path / "bert"))
    bert.load_state_dict({k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")})
    bert.eval()
    ids, mask = model.text_encoder.tokenize(["眼底出血", "视盘水肿"])
    expected_text = F.normalize(bert(ids, attention_mask=mask)[0][:, 0] @ state["text_projection"], dim=-1)
    torch.testing.assert_close(model.text_embedding(["眼底出血", "视盘水肿"]), expected_text, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_chinese_clip_resnet_key_map_reproduces_the_original_modified_resnet(tmp_path):
    model = _model("vilref-rn50", tmp_path)
    reference = modified_resnet()  # the same seeded module the fixture file holds
    pixels = torch.rand(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(0))
    clip_input = (pixels - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]
    expected = F.normalize(reference(clip_input), dim=-1)
    torch.testing.assert_close(model.image_embedding((pixels - 0.5) / 0.5), expected, atol=1e-4, rtol=1e-4)
    assert model.describe() == f"ModifiedResNet{RESNET_LAYERS} w{RESNET_WIDTH} ({RESNET_WIDTH * 32}-d) @{IMG}px"
    bigger = torch.rand(1, 3, 2 * IMG, 2 * IMG)  # the attention pool's position embedding is resampled
    assert model.image_embedding(bigger).shape == (1, RESNET_EMBED)


def test_a_vit_file_for_a_resnet_row_and_back_is_refused(tmp_path):
    (tmp_path / "vit").mkdir()
    wrong = [s.replace("model.vilref.", "model.vilref-rn50.") for s in chinese_clip(tmp_path / "vit", "vilref")]
    with pytest.raises(VlpbenchError, match=r"vilref-rn50 weights .*: a VisualTransformer \(ViT\) checkpoint, expected a ModifiedResNet"):
        build_model(resolve_config("smoke", overrides=wrong), "vilref-rn50")
    resnet = chinese_clip(tmp_path, "cn-clip-rn50", tower="resnet")
    back = [s.replace("model.cn-clip-rn50.", "model.cn-clip.") for s in resnet]
    with pytest.raises(VlpbenchError, match=r"cn-clip weights .*: a ModifiedResNet \(RN50\) checkpoint, expected a VisualTransformer"):
        build_model(resolve_config("smoke", overrides=back), "cn-clip")


def _features(output) -> torch.Tensor:
    """transformers 5 returns an output object from get_*_features, earlier versions the tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


@torch.no_grad()
@pytest.mark.parametrize("kind", ["clip", "chinese_clip"])
def test_hf_clip_equals_the_transformers_model(kind, tmp_path):
    reference = hf_clip_folder(tmp_path / "m", kind)
    model = build_model(resolve_config("smoke", overrides=[f"model.hf-clip.root={tmp_path}"]), "hf-clip:m")
    pixels = torch.rand(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(0))
    hf_pixels = (pixels - torch.tensor(HF_MEAN)[:, None, None]) / torch.tensor(HF_STD)[:, None, None]  # its processor's statistics
    expected = F.normalize(_features(reference.get_image_features(pixel_values=hf_pixels)), dim=-1)
    torch.testing.assert_close(model.image_embedding((pixels - 0.5) / 0.5), expected, atol=1e-4, rtol=1e-4)
    texts = ["a normal fundus photograph", "glaucoma"] if kind == "clip" else ["眼底出血", "视盘水肿"]
    ids, mask = model.text_encoder.tokenize(texts)
    assert model.text_encoder.tokenizer.unk_id not in ids[:, 1:3].tolist()  # the folder's own tokenizer knows the words
    expected_text = F.normalize(_features(reference.get_text_features(input_ids=ids, attention_mask=mask)), dim=-1)
    torch.testing.assert_close(model.text_embedding(texts), expected_text, atol=1e-4, rtol=1e-4)
    assert model.language == ("en" if kind == "clip" else "zh") and model.input_size == IMG


def test_hf_clip_row_settings_come_from_its_folder(tmp_path):
    hf_clip_folder(tmp_path / "en-model")
    hf_clip_folder(tmp_path / "zh-model", "chinese_clip")
    config = resolve_config("smoke", overrides=[f"model.hf-clip.root={tmp_path}"])
    assert model_config(config, "hf-clip:en-model").encoders.text.language == "en"
    assert model_config(config, "hf-clip:zh-model").encoders.text.language == "zh"
    assert model_config(config, "hf-clip:zh-model").eval.image_size == IMG
    assert set(model_files(config, "hf-clip:en-model")) == {"dir"}
    assert model_files(config, "hf-clip:en-model") != model_files(config, "hf-clip:zh-model")
    odd = resolve_config("smoke", overrides=[f"model.hf-clip.root={tmp_path}", "model.hf-clip.img_size=36"])
    with pytest.raises(VlpbenchError, match=r"model.hf-clip.img_size 36: expected a multiple of .*en-model/config.json vision_config.patch_size \(8\)"):
        plan_jobs(odd, [], ["seg"], None, ["hf-clip:en-model"])
    with pytest.raises(VlpbenchError, match=r"hf-clip:nothing: .*nothing/config.json does not exist"):
        plan_jobs(config, [], ["linear-probe"], None, ["hf-clip:nothing"])
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(VlpbenchError, match=r"model_type is 'bert', expected one of \['clip', 'chinese_clip'\]"):
        plan_jobs(config, [], ["linear-probe"], None, ["hf-clip:bert"])


def test_a_model_row_is_planned_like_a_strategy_and_once_on_deterministic_tasks(tmp_path):
    config = resolve_config("smoke", overrides=retfound_mae(tmp_path))
    jobs = plan_jobs(config, ["clip"], ["linear-probe", "ood-zsc"], ["syn-fives"], ["retfound-mae"])
    rows: dict[tuple[str, str], list[int]] = {}
    for job in jobs:
        rows.setdefault((job.task, job.strategy), []).append(job.seed)
    assert rows[("linear-probe", "retfound-mae")] == rows[("linear-probe", "clip")] == [0, 1]
    assert rows[("ood-zsc", "retfound-mae")] == [0] and rows[("ood-zsc", "clip")] == [0, 1]


def test_model_names_are_checked_before_any_work(tmp_path):
    config = resolve_config("smoke", overrides=retfound_mae(tmp_path))
    with pytest.raises(VlpbenchError, match="did you mean 'retfound-mae'"):
        plan_jobs(config, [], ["linear-probe"], None, ["retfound-ma"])
    with pytest.raises(VlpbenchError, match="takes no ':argument'"):
        plan_jobs(config, [], ["linear-probe"], None, ["flair:x"])
    coarse = [*retfound_mae(tmp_path), "model.retfound-mae.patch_size=16", "task.seg.image_size=40"]
    with pytest.raises(VlpbenchError, match=r"task.seg.image_size 40: expected a multiple of model.retfound-mae.patch_size \(16\)"):
        plan_jobs(resolve_config("smoke", overrides=coarse), [], ["seg"], None, ["retfound-mae"])


def test_missing_weights_option_is_one_line(tmp_path, capsys):
    code = main(["run", "--profile", "smoke", "--model", "dinov2", "--task", "linear-probe", "--runs", str(tmp_path / "r"),
                 "--results", str(tmp_path / "x")])
    assert code == 2
    assert "model.dinov2.weights is not set" in capsys.readouterr().err


def _run(name: str, tasks: str, tmp_path: Path, datasets: list[str] = ()) -> list[dict]:
    sets = FAMILIES[name][0](tmp_path)
    argv = ["run", "--profile", "smoke", "--model", name, "--task", tasks, "--runs", str(tmp_path / "runs"),
            "--results", str(tmp_path / "results"), *(a for s in sets for a in ("--set", s))]
    assert main([*argv, *(["--dataset", ",".join(datasets)] if datasets else [])]) == 0
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "results").rglob("seed*.json"))]


def test_cli_scores_a_model_and_the_leaderboard_gives_it_its_own_section(tmp_path):
    records = _run("retfound-mae", FAST_TASKS, tmp_path, ["syn-fives"])
    assert {r["status"] for r in records if r["task"] == "ood-zsc"} == {"n/a"}
    probe = [r for r in records if r["task"] == "linear-probe"]
    assert len(probe) == 2 and all(r["status"] == "ok" and r["weights_loaded"][0]["fraction"] == 1.0 for r in probe)
    assert probe[0]["external"]["licence"] and probe[0]["config"]["eval"]["image_size"] == IMG
    out = tmp_path / "lb"
    assert main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(out)]) == 0
    text = (out / "linear-probe.md").read_text()
    assert "Released foundation models" in text and "`retfound-mae`" in text and "CC BY-NC 4.0" in text
    assert "Table VI layout" not in (out / "foundation-models.md").read_text()  # no finetune records
    assert "RETFound (CFP)" in (out / "foundation-models.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILIES))
def test_cli_runs_every_family_through_every_task(name, tmp_path):
    records = _run(name, ALL_TASKS, tmp_path)
    by_task = {task: {r["status"] for r in records if r["task"] == task} for task in ALL_TASKS.split(",")}
    assert by_task == {**{t: {"ok"} for t in ("linear-probe", "finetune", "seg")},
                       "ood-zsc": {"ok"} if FAMILIES[name][1] else {"n/a"}}
    out = tmp_path / "lb"
    assert main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(out)]) == 0
    tables = (out / "foundation-models.md").read_text()
    assert all(caption in tables for caption in ("Table VI layout", "Table VII layout", "Table VIII layout"))
