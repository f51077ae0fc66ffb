"""Chinese-CLIP (CN-CLIP) checkpoints as vlpbench encoders: ViLReF starts every strategy from
CN-CLIP's ViT-B/16 and RoBERTa-wwm-ext towers.

A local Hugging Face `ChineseCLIPModel` directory is read with transformers; its vision tower is
converted to timm's CLIP ViT naming (pre-norm, QuickGELU, so the image encoder stays a timm
model), its BERT-style text tower to a transformers `BertModel`, and the two projections to the
encoders' `proj`. CLIP's pixel normalisation is folded into the patch embedding, so the encoder
takes images normalised the vlpbench way (`datasets.transforms`) and still equals CN-CLIP.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import timm
import torch
import transformers
from timm.layers import LayerNorm, resample_abs_pos_embed
from torch import nn

from vlpbench.core.errors import VlpbenchError
from vlpbench.encoders.preprocessing import MEAN, STD

if TYPE_CHECKING:
    from transformers import ChineseCLIPConfig, ChineseCLIPVisionConfig, CLIPVisionConfig

TIMM_ARCH = "vit_base_patch16_clip_quickgelu_224"  # overridden by the checkpoint's own sizes
_ACTIVATIONS = {"quick_gelu": "quick_gelu", "gelu": "gelu"}


def _config(directory: str | Path) -> ChineseCLIPConfig:
    path = Path(directory)
    file = path / "config.json"
    if not file.is_file():
        raise VlpbenchError(f"Chinese-CLIP directory {path}: expected config.json and model weights (save_pretrained)")
    try:
        model_type = json.loads(file.read_text(encoding="utf-8")).get("model_type")
    except (ValueError, AttributeError) as error:
        raise VlpbenchError(f"{file}: not a JSON object ({error})") from None
    if model_type != "chinese_clip":
        raise VlpbenchError(f"{file}: model_type is '{model_type}', expected 'chinese_clip' (a ChineseCLIPModel directory)")

    return transformers.ChineseCLIPConfig.from_pretrained(str(path), local_files_only=True)


def build_vision_backbone(directory: str | Path, img_size: int | None = None) -> nn.Module:
    """The timm ViT with the checkpoint's vision sizes (no head), at `img_size` (default: its own)."""

    return vit_from_vision_config(_config(directory).vision_config, img_size)


def vit_from_vision_config(vision: ChineseCLIPVisionConfig | CLIPVisionConfig, img_size: int | None = None) -> nn.Module:
    """The timm CLIP ViT of a Hugging Face (Chinese-)CLIP vision config (no head), at `img_size`
    (default: its own); `vision_to_timm` gives its state."""
    if vision.hidden_act not in _ACTIVATIONS:
        raise VlpbenchError(f"CLIP vision activation '{vision.hidden_act}': expected one of {list(_ACTIVATIONS)}")
    return timm.create_model(
        TIMM_ARCH, pretrained=False, num_classes=0, img_size=img_size or vision.image_size,
        patch_size=vision.patch_size, embed_dim=vision.hidden_size, depth=vision.num_hidden_layers,
        num_heads=vision.num_attention_heads, mlp_ratio=vision.intermediate_size / vision.hidden_size,
        norm_layer=partial(LayerNorm, eps=vision.layer_norm_eps), act_layer=_ACTIVATIONS[vision.hidden_act],
    )


def build_text_backbone(directory: str | Path) -> nn.Module:
    """A transformers `BertModel` (no pooler) with the checkpoint's text sizes."""

    text = _config(directory).text_config
    fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
              "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id")
    return transformers.BertModel(transformers.BertConfig(**{name: getattr(text, name) for name in fields}), add_pooling_layer=False)


def load_chinese_clip(
    directory: str | Path, img_size: int | None = None, input_mean: float | None = None, input_std: float | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], Path]:
    """(image_state, text_state, tokenizer_dir) for `ImageEncoder` / `TextEncoder` whose backbones
    come from `build_vision_backbone` / `build_text_backbone`.

    image_state keys are `backbone.<timm ViT key>` and `proj.weight` (visual_projection); text_state
    keys `backbone.<BertModel key>` and `proj.weight` (text_projection). `img_size` resamples the
    position embedding; inputs are expected normalised with `input_mean`/`input_std` (default: the
    vlpbench transforms), CLIP's own normalisation being folded into the patch embedding.
    """
    path = Path(directory)
    config = _config(path)


    try:
        model = transformers.ChineseCLIPModel.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as error:
        raise VlpbenchError(f"Chinese-CLIP directory {path}: {str(error).strip().splitlines()[0]}") from None
    state = {key: value.detach().float().clone() for key, value in model.state_dict().items()}
    mean, std = _clip_normalisation(path)
    image = vision_to_timm(state, config.vision_config, img_size,
                           MEAN if input_mean is None else input_mean, STD if input_std is None else input_std, mean, std)
    image_state = {f"backbone.{key}": value for key, value in image.items()}
    image_state["proj.weight"] = state["visual_projection.weight"]
    text_state = {f"backbone.{key[len('text_model.'):]}": value for key, value in state.items()
                  if key.startswith("text_model.") and not key.startswith("text_model.pooler.")}
    text_state["proj.weight"] = state["text_projection.weight"]
    return image_state, text_state, path


def vision_to_timm(
    state: dict[str, torch.Tensor], vision: ChineseCLIPVisionConfig | CLIPVisionConfig, img_size: int | None, input_mean: float, input_std: float,
    clip_mean: list[float], clip_std: list[float],
) -> dict[str, torch.Tensor]:
    """HF CLIP vision tower (`vision_model.*`) → timm ViT keys, with the input normalisation folded in:
    for x_ours = (p − input_mean)/input_std, CLIP sees (p − m_c)/s_c = a_c·x_ours + b_c, so the patch
    weights are scaled by a_c and Σ W·b_c is added to the patch positions of the position embedding."""

    v = "vision_model."
    out: dict[str, torch.Tensor] = {}
    weight = state[f"{v}embeddings.patch_embedding.weight"]
    scale = torch.tensor([input_std / s for s in clip_std])
    shift = torch.tensor([(input_mean - m) / s for m, s in zip(clip_mean, clip_std)])
    out["patch_embed.proj.weight"] = weight * scale[None, :, None, None]
    patch_bias = (weight * shift[None, :, None, None]).sum(dim=(1, 2, 3))
    out["cls_token"] = state[f"{v}embeddings.class_embedding"].reshape(1, 1, -1)
    pos_embed = state[f"{v}embeddings.position_embedding.weight"][None]
    grid = vision.image_size // vision.patch_size
    if img_size and img_size != vision.image_size:
        new_grid = img_size // vision.patch_size
        pos_embed = resample_abs_pos_embed(pos_embed, new_size=(new_grid, new_grid), old_size=(grid, grid),
                                           num_prefix_tokens=1)
    pos_embed = pos_embed.clone()
    pos_embed[:, 1:] += patch_bias
    out["pos_embed"] = pos_embed
    for ours, theirs in (("norm_pre", "pre_layrnorm"), ("norm", "post_layernorm")):
        for part in ("weight", "bias"):
            out[f"{ours}.{part}"] = state[f"{v}{theirs}.{part}"]
    for i in range(vision.num_hidden_layers):
        layer, block = f"{v}encoder.layers.{i}.", f"blocks.{i}."
        for part in ("weight", "bias"):
            out[f"{block}attn.qkv.{part}"] = torch.cat(
                [state[f"{layer}self_attn.{p}_proj.{part}"] for p in ("q", "k", "v")], dim=0)
            for ours, theirs in (("attn.proj", "self_attn.out_proj"), ("norm1", "layer_norm1"), ("norm2", "layer_norm2"),
                                 ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
                out[f"{block}{ours}.{part}"] = state[f"{layer}{theirs}.{part}"]
    return out


def _clip_normalisation(directory: Path) -> tuple[list[float], list[float]]:
    """The checkpoint's pixel mean/std (preprocessor_config.json), else OpenAI CLIP's."""

    path = directory / "preprocessor_config.json"
    if path.is_file():
        try:
            processor = json.loads(path.read_text(encoding="utf-8"))
            return list(processor["image_mean"]), list(processor["image_std"])
        except (ValueError, KeyError) as error:
            raise VlpbenchError(f"{path}: expected image_mean and image_std ({error})") from None
    return list(transformers.image_utils.OPENAI_CLIP_MEAN), list(transformers.image_utils.OPENAI_CLIP_STD)
