"""`hf-clip:<dir>`: any local Hugging Face CLIP-style folder — a transformers `CLIPModel` or
`ChineseCLIPModel` saved with `save_pretrained` (config.json `model_type` "clip" or
"chinese_clip", model.safetensors or pytorch_model.bin, tokenizer files, preprocessor_config.json)
— scored with both towers: the escape hatch for a CLIP no family covers. `<dir>` is a folder name
under `model.hf-clip.root`, so several such rows can run in one grid.

Image tower: the HF vision transformer as timm's CLIP ViT (`encoders.chinese_clip.vision_to_timm`,
the same conversion as `encoders.clip_checkpoint`, without folding the normalisation in), class
token after `post_layernorm` → `visual_projection`; input side, mean and std from the folder's
image processor (crop size, else size, else the vision config's). Text tower: the folder's own
tokenizer and text model — `CLIPTextModel` pooled at the end-of-text token (`pooler_output`), or
`ChineseCLIPTextModel`'s [CLS] state — → `text_projection`, as `get_text_features` does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn

from vlpbench.core.checks import at_least, folder, one_of
from vlpbench.core.config import TextEncoderConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.encoders.chinese_clip import vision_to_timm, vit_from_vision_config
from vlpbench.encoders.tokenizer import HFTokenizer
from vlpbench.encoders.towers import TextEncoder, trim_padding
from vlpbench.models.base import CLIP_MEAN, CLIP_STD, ExternalImageEncoder, ExternalModel, Inputs, take, vit_name

#: config.json `model_type` → (config class, prompt language, default text length)
KINDS = {"clip": ("CLIPConfig", "en", 77), "chinese_clip": ("ChineseCLIPConfig", "zh", 52)}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass
class HfClipOptions:
    """The folder holding the `<dir>` folders; the input side (0: the image processor's), the prompt
    language ("": en for clip, zh for chinese_clip) and the text length (0: 77 for clip, CN-CLIP's
    52 for chinese_clip; at most the text position table)."""

    root: str = field(default=".", metadata=folder)
    img_size: int = field(default=0, metadata=at_least(0))
    language: str = field(default="", metadata=one_of("", "en", "zh"))
    max_length: int = field(default=0, metadata=at_least(0))


class EosPooledTextEncoder(TextEncoder):
    """CLIP's text feature: the final-layer-normed state at the end-of-text token (`pooler_output`)."""

    def forward_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        input_ids, attention_mask = trim_padding(input_ids, attention_mask)
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask).pooler_output


class _Reads(dict):
    """A state dict that records which keys were read (what `vision_to_timm` used)."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__(state)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> torch.Tensor:
        self.read.add(key)
        return super().__getitem__(key)


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise VlpbenchError(f"{path}: not a readable JSON object ({error})") from None
    if not isinstance(value, dict):
        raise VlpbenchError(f"{path}: expected a JSON object")
    return value


def model_dir(options: HfClipOptions, argument: str) -> Path:
    """`root/<dir>`, checked to hold a config.json of a CLIP-style model."""
    directory = Path(options.root) / argument
    config = directory / "config.json"
    if not config.is_file():
        raise VlpbenchError(f"hf-clip:{argument}: {config} does not exist (expected a save_pretrained CLIPModel or "
                            f"ChineseCLIPModel folder named '{argument}' under model.hf-clip.root {options.root})")
    kind = _json(config).get("model_type")
    if kind not in KINDS:
        raise VlpbenchError(f"{config}: model_type is {kind!r}, expected one of {list(KINDS)}")
    return directory


def _processor(directory: Path) -> dict[str, Any]:
    """The folder's image processor config ({} without one: CLIP's statistics, the vision config's side)."""
    path = directory / "preprocessor_config.json"
    return _json(path) if path.is_file() else {}


def _side(value: Any) -> int:
    """An image processor size entry (int, {"height", "width"} or {"shortest_edge"}) → its side (0: none)."""
    if isinstance(value, dict):
        value = value.get("height", value.get("shortest_edge", 0))
    return value if isinstance(value, int) else 0


@register_model(
    "hf-clip", description="any local Hugging Face CLIPModel / ChineseCLIPModel folder, both towers (hf-clip:<dir>)",
    info=PluginInfo(title="HF CLIP", order=91, reference="transformers CLIPModel / ChineseCLIPModel",
                    source="the user's save_pretrained folder", licence="that of the weights used"),
)
class HfClip(ExternalModel):
    """Both towers of a `CLIPModel` or `ChineseCLIPModel` folder; `logit_scale` is unused."""

    Options = HfClipOptions
    takes_argument = True
    has_text_tower = True
    wrappers = ()
    unused = (r"logit_scale", r"(text|vision)_model\.embeddings\.(position_ids|token_type_ids)", r"text_model\.pooler\..*")

    @classmethod
    def inputs(cls, options: HfClipOptions, argument: str) -> Inputs:
        directory = model_dir(options, argument)
        config = _json(directory / "config.json")
        vision = config.get("vision_config") or {}
        processor = _processor(directory)
        side = options.img_size or _side(processor.get("crop_size")) or _side(processor.get("size")) or vision.get("image_size", 224)
        language = options.language or KINDS[config["model_type"]][1]
        return Inputs(side, language, vision.get("patch_size", 32), f"{directory / 'config.json'} vision_config.patch_size")

    @classmethod
    def files(cls, options: HfClipOptions, argument: str) -> dict[str, Path]:
        return {"dir": model_dir(options, argument)}

    def weights_file(self) -> Path:
        directory = model_dir(self.options, self.argument)
        found = [directory / name for name in WEIGHT_FILES if (directory / name).is_file()]
        if not found:
            raise VlpbenchError(f"hf-clip:{self.argument}: no weights in {directory} (expected one of {list(WEIGHT_FILES)}; "
                                "a sharded checkpoint must be saved as one file)")
        return found[0]

    def build(self, state: dict[str, torch.Tensor]) -> None:
        directory = self.weights_path.parent
        kind = _json(directory / "config.json")["model_type"]
        class_name, _, default_length = KINDS[kind]
        self.hf_config = getattr(transformers, class_name).from_pretrained(str(directory), local_files_only=True)
        inputs = self.inputs(self.options, self.argument)
        self.language = inputs.language
        processor = _processor(directory)
        mean, std = tuple(processor.get("image_mean", CLIP_MEAN)), tuple(processor.get("image_std", CLIP_STD))
        vision, text = self.hf_config.vision_config, self.hf_config.text_config
        backbone = vit_from_vision_config(vision, inputs.img_size)
        self.visual_backbone = vit_name(vision.hidden_size, vision.patch_size)
        embed = self.hf_config.projection_dim
        self.image_encoder = ExternalImageEncoder(backbone, inputs.img_size, nn.Linear(vision.hidden_size, embed, bias=False), mean, std)
        length = min(self.options.max_length or default_length, text.max_position_embeddings)
        if kind == "clip":
            model, encoder = transformers.CLIPTextModel(text), EosPooledTextEncoder
        else:
            model, encoder = transformers.ChineseCLIPTextModel(text, add_pooling_layer=False), TextEncoder
        config = TextEncoderConfig(max_length=length, pooling="cls", language=self.language)  # cls: ChineseCLIP's [CLS]
        self.text_encoder = encoder(config, embed, HFTokenizer(directory), backbone=model)

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        vision = _Reads({f"vision_model.{k}": v for k, v in take(state, "vision_model.", self.unused).items()})
        # no normalisation folded in (identity statistics): ExternalImageEncoder converts the pixels
        image = {f"backbone.{k}": v for k, v in vision_to_timm(vision, self.hf_config.vision_config, self.input_size,
                                                               0.0, 1.0, [0.0] * 3, [1.0] * 3).items()}
        state |= {key: value for key, value in vision.items() if key not in vision.read}  # refused by `load` as unmapped
        image |= {"proj.weight": state.pop("visual_projection.weight")} if "visual_projection.weight" in state else {}
        nested = any(key.startswith("text_model.") for key in self.text_encoder.backbone.state_dict())  # transformers < 5 nests it
        prefix = "text_model." if nested else ""
        text = {f"backbone.{prefix}{k}": v for k, v in take(state, "text_model.", self.unused).items()}
        text |= {"proj.weight": state.pop("text_projection.weight")} if "text_projection.weight" in state else {}
        return {"image": image, "text": text}
