"""The original Chinese-CLIP checkpoint format (OFA-Sys/Chinese-CLIP `cn_clip/clip/model.py`),
shared by CN-CLIP, RET-CLIP and ViLReF, which all train that code base's `CLIP` class.

Release layout: `{"epoch", "step", "name", "state_dict": …}` (DDP `module.` prefix) with
`visual.*` — OpenAI-CLIP `VisualTransformer` naming (`conv1`, `class_embedding`,
`positional_embedding`, `ln_pre`, `transformer.resblocks.N.{attn.in_proj_weight,…,ln_1,mlp.c_fc,
mlp.c_proj,ln_2}`, `ln_post`, `proj` (width × embed)) — `bert.*` (BERT naming: embeddings,
`encoder.layer.N.*`, pooler), `text_projection` and `logit_scale`. The architecture is read off
the tensors (vision heads = width / 64 as in its `CLIP.__init__`; text heads from the options,
not inferable). Image tower: timm's CLIP ViT through timm's OpenAI-CLIP filter; the text tower a
transformers BertModel, [CLS] state → `text_projection` (its `encode_text`). ModifiedResNet
(RN50) checkpoints are refused: not supported yet."""

from __future__ import annotations

from dataclasses import dataclass, field

import timm
import torch
import transformers
from torch import nn

from vlpbench.core.checks import at_least, file, folder
from vlpbench.core.config import TextEncoderConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.encoders.chinese_clip import TIMM_ARCH
from vlpbench.encoders.tokenizer import HFTokenizer
from vlpbench.encoders.towers import TextEncoder
from vlpbench.models.base import CLIP_MEAN, CLIP_STD, ExternalImageEncoder, ExternalModel, take, timm_vit_state


@dataclass
class ChineseClipOptions:
    """The checkpoint, a local tokenizer folder with the Chinese BERT vocabulary (e.g.
    hfl/chinese-roberta-wwm-ext saved locally), the input size and the text head count."""

    weights: str = field(default="", metadata=file)
    tokenizer: str = field(default="", metadata=folder)
    img_size: int = field(default=224, metadata=at_least(1))
    max_length: int = field(default=52, metadata=at_least(3))  # its `tokenize(context_length=52)`
    text_heads: int = field(default=12, metadata=at_least(1))


class ChineseClipFormat(ExternalModel):
    """Both towers of a Chinese-CLIP-format `CLIP`; subclasses name the release."""

    Options = ChineseClipOptions
    visual_backbone = "ViT-B/16"
    has_text_tower = True
    mean, std = CLIP_MEAN, CLIP_STD
    language = "zh"
    wrappers = ("state_dict",)
    unused = (r"logit_scale", r"bert\.pooler\..*", r"bert\.embeddings\.position_ids")

    def build(self, state: dict[str, torch.Tensor]) -> None:
        o = self.options
        if any(key.startswith("visual.attnpool.") for key in state):
            raise VlpbenchError(f"{self.registered_name} weights {self.weights_path}: a ModifiedResNet (RN50) checkpoint; "
                                "only the ViT versions of Chinese-CLIP-format checkpoints are supported")
        if "visual.conv1.weight" not in state or "bert.embeddings.word_embeddings.weight" not in state:
            raise VlpbenchError(f"{self.registered_name} weights {self.weights_path}: expected Chinese-CLIP tensors "
                                "'visual.conv1.weight' and 'bert.embeddings.word_embeddings.weight'")
        if not o.tokenizer:
            raise VlpbenchError(f"model.{self.registered_name}.tokenizer is not set: expected a local folder with the "
                                "Chinese BERT vocabulary (vocab.txt + tokenizer_config.json)")
        conv = state["visual.conv1.weight"]
        width, patch = conv.shape[0], conv.shape[-1]
        depth = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
        backbone = timm.create_model(TIMM_ARCH, pretrained=False, num_classes=0, img_size=o.img_size, patch_size=patch,
                                     embed_dim=width, depth=depth, num_heads=max(width // 64, 1))
        self.visual_backbone = f"ViT-{'B' if width == 768 else 'L' if width == 1024 else f'd{width}'}/{patch}"
        embed = state["visual.proj"].shape[1]
        self.image_encoder = ExternalImageEncoder(backbone, o.img_size, nn.Linear(width, embed, bias=False), self.mean, self.std)
        words, positions = state["bert.embeddings.word_embeddings.weight"], state["bert.embeddings.position_embeddings.weight"]
        layers = len({k.split(".")[3] for k in state if k.startswith("bert.encoder.layer.")})
        hidden = words.shape[1]
        bert = transformers.BertModel(transformers.BertConfig(
            vocab_size=words.shape[0], hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=o.text_heads,
            intermediate_size=state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
            max_position_embeddings=positions.shape[0], type_vocab_size=state["bert.embeddings.token_type_embeddings.weight"].shape[0],
            layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        ), add_pooling_layer=False)
        config = TextEncoderConfig(max_length=o.max_length, pooling="cls", language=self.language)
        self.text_encoder = TextEncoder(config, embed, HFTokenizer(o.tokenizer), backbone=bert)
        self.text_encoder.proj = self.text_head(hidden, embed)

    def text_head(self, hidden: int, embed: int) -> nn.Module:
        """The text projection: `text_projection` (hidden × embed), applied as x @ P."""
        return nn.Linear(hidden, embed, bias=False)

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        image = timm_vit_state({f"visual.{k}": v for k, v in take(state, "visual.").items()}, self.image_encoder.backbone)
        image["proj.weight"] = image.pop("backbone.head.weight")  # timm's filter: visual.proj → head (transposed)
        image.pop("backbone.head.bias")
        text = {f"backbone.{k}": v for k, v in take(state, "bert.", self.unused).items()}
        text |= self.text_projection(state)
        return {"image": image, "text": text}

    def text_projection(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"proj.weight": state.pop("text_projection").t()} if "text_projection" in state else {}
