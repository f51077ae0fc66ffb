"""The original Chinese-CLIP checkpoint format (OFA-Sys/Chinese-CLIP `cn_clip/clip/model.py`),
shared by CN-CLIP, RET-CLIP and ViLReF, which all train that code base's `CLIP` class.

Release layout: `{"epoch", "step", "name", "state_dict": …}` (DDP `module.` prefix) with
`visual.*`, `bert.*` (BERT naming: embeddings, `encoder.layer.N.*`, pooler), `text_projection`
and `logit_scale`. `visual.*` is one of its two image towers:

- `VisualTransformer` (ViT-B/16, …): OpenAI-CLIP naming (`conv1`, `class_embedding`,
  `positional_embedding`, `ln_pre`, `transformer.resblocks.N.{attn.in_proj_weight,…,ln_1,
  mlp.c_fc,mlp.c_proj,ln_2}`, `ln_post`, `proj` (width × embed)); heads = width / 64. Built as
  timm's CLIP ViT, loaded through timm's OpenAI-CLIP filter; `proj` is the encoder's projection.
- `ModifiedResNet` (RN50): 3-conv stem (`conv1-3`, `bn1-3`) + avg-pool, `layerN.M.{conv1-3,
  bn1-3,downsample.{0,1}}` bottlenecks with avg-pool anti-aliased strides, `attnpool.{positional_
  embedding,q_proj,k_proj,v_proj,c_proj}` attention pooling (heads = width·32 / 64). Built as
  timm's `resnet50_clip` ByobNet (the same blocks; timm converts OpenAI's RN50 with the filter
  used here) with the depths and widths read off the tensors; its attention pool without
  `c_proj` is the backbone's pooled feature (what probes use), `c_proj` the projection.

The architecture is read off the tensors (text heads from the options, not inferable). Text
tower: a transformers BertModel, [CLS] state → `text_projection` (its `encode_text`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import timm
import torch
import transformers
from timm.models import byobnet
from torch import nn

from vlpbench.core.checks import at_least, file, folder
from vlpbench.core.config import TextEncoderConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.encoders.chinese_clip import TIMM_ARCH
from vlpbench.encoders.tokenizer import HFTokenizer
from vlpbench.encoders.towers import TextEncoder
from vlpbench.models.base import CLIP_MEAN, CLIP_STD, ExternalImageEncoder, ExternalModel, take, timm_vit_state, vit_name

#: the tensor that marks a `ModifiedResNet` image tower
RESNET_KEY = "visual.attnpool.c_proj.weight"
#: (depths, width) → the name ViLReF's tables use
RESNETS = {((3, 4, 6, 3), 64): "ResNet50", ((3, 4, 23, 3), 64): "ResNet101"}
TOWERS = {"vit": "VisualTransformer (ViT)", "resnet": "ModifiedResNet (RN50)"}


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
    #: the image tower this row expects: "vit" (`VisualTransformer`) or "resnet" (`ModifiedResNet`)
    image_tower: ClassVar[str] = "vit"

    def build(self, state: dict[str, torch.Tensor]) -> None:
        o = self.options
        if "visual.conv1.weight" not in state or "bert.embeddings.word_embeddings.weight" not in state:
            raise VlpbenchError(f"{self.registered_name} weights {self.weights_path}: expected Chinese-CLIP tensors "
                                "'visual.conv1.weight' and 'bert.embeddings.word_embeddings.weight'")
        if not o.tokenizer:
            raise VlpbenchError(f"model.{self.registered_name}.tokenizer is not set: expected a local folder with the "
                                "Chinese BERT vocabulary (vocab.txt + tokenizer_config.json)")
        tower = "resnet" if RESNET_KEY in state else "vit"
        if tower != self.image_tower:
            raise VlpbenchError(f"{self.registered_name} weights {self.weights_path}: a {TOWERS[tower]} checkpoint, expected a "
                                f"{TOWERS[self.image_tower]} one — is it the other version of the release (docs/models.md)?")
        self.image_encoder = self.resnet_tower(state) if tower == "resnet" else self.vit_tower(state)
        embed = self.image_encoder.proj.out_features
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

    def vit_tower(self, state: dict[str, torch.Tensor]) -> ExternalImageEncoder:
        """timm's CLIP ViT with the `VisualTransformer`'s sizes; `proj` (width × embed) as the projection."""
        conv = state["visual.conv1.weight"]
        width, patch = conv.shape[0], conv.shape[-1]
        depth = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
        backbone = timm.create_model(TIMM_ARCH, pretrained=False, num_classes=0, img_size=self.options.img_size, patch_size=patch,
                                     embed_dim=width, depth=depth, num_heads=max(width // 64, 1))
        self.visual_backbone = vit_name(width, patch)
        proj = nn.Linear(width, state["visual.proj"].shape[1], bias=False)
        return ExternalImageEncoder(backbone, self.options.img_size, proj, self.mean, self.std)

    def resnet_tower(self, state: dict[str, torch.Tensor]) -> ExternalImageEncoder:
        """timm's CLIP ResNet (`resnet50_clip` blocks) with the `ModifiedResNet`'s depths and width; its
        attention pool (position embedding for the release's resolution, resampled for others) without
        `c_proj`, which is the projection."""
        width = state["visual.conv3.weight"].shape[0]  # the stem's last conv: the ResNet width (64 for RN50)
        depths = tuple(len({k.split(".")[2] for k in state if k.startswith(f"visual.layer{i}.")}) for i in range(1, 5))
        grid = round((state["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
        base = byobnet.model_cfgs["resnet50_clip"]
        blocks = tuple(dataclasses.replace(b, d=d, c=width * 4 * 2**i) for i, (b, d) in enumerate(zip(base.blocks, depths)))
        cfg = dataclasses.replace(base, blocks=blocks, stem_chs=(width // 2, width // 2, width))
        backbone = byobnet.ByobNet(cfg, num_classes=0, img_size=grid * 32)
        self.visual_backbone = RESNETS.get((depths, width), f"ModifiedResNet{list(depths)} w{width}")
        proj = nn.Linear(backbone.num_features, state[RESNET_KEY].shape[0])
        return ExternalImageEncoder(backbone, self.options.img_size, proj, self.mean, self.std)

    def text_head(self, hidden: int, embed: int) -> nn.Module:
        """The text projection: `text_projection` (hidden × embed), applied as x @ P."""
        return nn.Linear(hidden, embed, bias=False)

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        visual, backbone = {f"visual.{k}": v for k, v in take(state, "visual.").items()}, self.image_encoder.backbone
        if isinstance(backbone, byobnet.ByobNet):  # timm's filter: attnpool.c_proj → head.proj, absent without classes
            image = {f"backbone.{k}": v for k, v in byobnet.checkpoint_filter_fn(visual, backbone).items()}
            image |= {f"proj.{part}": image.pop(f"backbone.head.proj.{part}") for part in ("weight", "bias")}
        else:  # timm's filter: visual.proj → head (transposed)
            image = timm_vit_state(visual, backbone)
            image["proj.weight"] = image.pop("backbone.head.weight")
            image.pop("backbone.head.bias")
        text = {f"backbone.{k}": v for k, v in take(state, "bert.", self.unused).items()}
        text |= self.text_projection(state)
        return {"image": image, "text": text}

    def text_projection(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"proj.weight": state.pop("text_projection").t()} if "text_projection" in state else {}
