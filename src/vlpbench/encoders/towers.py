"""Shared encoders, identical for every strategy: a timm image tower and a transformers text
tower, each with pooled backbone features (what probes use) and a linear projection head."""

from __future__ import annotations

from typing import Any

import timm
import torch
import torch.nn.functional as F
import transformers
from torch import nn

from vlpbench.core.config import EncoderConfig, ImageEncoderConfig, TextEncoderConfig
from vlpbench.core.console import make_console, print_warning
from vlpbench.core.errors import VlpbenchError
from vlpbench.encoders.chinese_clip import build_text_backbone, build_vision_backbone, load_chinese_clip
from vlpbench.encoders.tokenizer import Tokenizer
from vlpbench.encoders.weights import load_checked, read_state_dict

SEG_STRIDES = (4, 8, 16, 32)


class ImageEncoder(nn.Module):
    """timm backbone → pooled features (B, feature_dim) → `proj` (B, proj_dim).

    `forward_multiscale` gives four maps at strides 4/8/16/32 for segmentation: ResNet stages,
    or evenly spaced ViT blocks (shallow → fine) on the patch grid, average-pooled to the coarser
    strides and upsampled to the finer ones (a patch-4 ViT has its stride-4 map natively).
    """

    #: the user weights file that initialised this tower and the fraction of parameters it set
    weights_loaded: dict | None = None

    def __init__(self, config: ImageEncoderConfig, proj_dim: int, distilled: bool = False, clip_checkpoint: str = "",
                 backbone: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.arch = "vit" if clip_checkpoint or (backbone is not None and hasattr(backbone, "blocks")) else config.arch
        if backbone is not None:  # a timm model built by an external-model family (vlpbench.models)
            self.backbone = backbone
        else:
            self.backbone = build_vision_backbone(clip_checkpoint, config.img_size) if clip_checkpoint else _build_timm(config, distilled)
        self.feature_dim: int = self.backbone.num_features
        self.proj = nn.Linear(self.feature_dim, proj_dim, bias=False)
        if self.arch == "vit":
            depth = len(self.backbone.blocks)
            self._seg_indices = sorted({max(0, round(depth * k / 4) - 1) for k in (1, 2, 3, 4)})
            self.multiscale_channels = [self.feature_dim] * 4
        else:
            self._seg_indices = [1, 2, 3, 4]
            self.multiscale_channels = [info["num_chs"] for info in self.backbone.feature_info[1:5]]

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features before the projection (B, feature_dim; `image.pool`)."""
        return self.pool_tokens(self.backbone.forward_features(images))

    @property
    def pools_patches(self) -> bool:
        """Whether the pooled features are the average / maximum over a ViT's patch tokens
        (`image.pool` avg or max) rather than timm's head pooling."""
        return self.arch == "vit" and self.config.pool != "default"

    def pool_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """`image.pool` of the backbone's output: timm's head pooling ("default", and every
        ResNet, whose pooling timm builds), or the average / maximum over a ViT's patch tokens
        (its class and distillation tokens left out)."""
        if not self.pools_patches:
            return self.backbone.forward_head(tokens, pre_logits=True)
        patches = tokens[:, self.backbone.num_prefix_tokens:]
        return patches.amax(1) if self.config.pool == "max" else patches.mean(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Projected (un-normalised) embedding (B, proj_dim)."""
        return self.proj(self.forward_features(images))

    def forward_multiscale(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Four feature maps at strides 4, 8, 16, 32 (channels `multiscale_channels`)."""
        maps = self.backbone.forward_intermediates(
            images, indices=self._seg_indices, intermediates_only=True
        )
        if self.arch != "vit":
            return list(maps)
        while len(maps) < 4:  # shallow ViTs repeat their last block
            maps = [*maps, maps[-1]]
        height, width = images.shape[-2:]
        return [_to_size(fmap, (height // stride, width // stride)) for fmap, stride in zip(maps, SEG_STRIDES)]


def trim_padding(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the padding columns every text of the batch has (right padding): the attention mask
    already hides them, so the result is the same at a fraction of the cost for short batches."""
    length = int(attention_mask.sum(1).max()) if attention_mask.numel() else 0
    return input_ids[:, : max(length, 1)], attention_mask[:, : max(length, 1)]


def _to_size(fmap: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A ViT patch-grid map at another stride (ViTDet's simple pyramid): average-pooled when
    coarser, so each coarse cell summarises its patches, bilinearly upsampled when finer."""
    if tuple(fmap.shape[-2:]) == size:
        return fmap
    if fmap.shape[-2] >= size[0] and fmap.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(fmap, size)
    return F.interpolate(fmap, size=size, mode="bilinear", align_corners=False)


class TextEncoder(nn.Module):
    """transformers BERT/RoBERTa → pooled features (B, feature_dim; `text.pooling`) → `proj` (B, proj_dim)."""

    def __init__(self, config: TextEncoderConfig, proj_dim: int, tokenizer: Tokenizer, clip_checkpoint: str = "",
                 backbone: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        if backbone is not None:  # a transformers model built by an external-model family (vlpbench.models)
            self.backbone = backbone
        else:
            self.backbone = build_text_backbone(clip_checkpoint) if clip_checkpoint else _build_transformer(config, tokenizer)
        self.feature_dim: int = self.backbone.config.hidden_size
        self.proj = nn.Linear(self.feature_dim, proj_dim, bias=False)
        # ids mean pooling leaves out ([CLS], [SEP], …; [UNK] is content); not part of the weights
        pooled_out = [i for i in tokenizer.special_ids if i != tokenizer.unk_id]
        self.register_buffer("pooled_out_ids", torch.tensor(pooled_out, dtype=torch.long), persistent=False)

    def forward_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[CLS] state, or the mean over content tokens (`text.pooling`): padding and special
        tokens ([CLS], [SEP], …) are left out, so a two-character prompt is its two characters,
        not half special tokens."""
        input_ids, attention_mask = trim_padding(input_ids, attention_mask)
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.config.pooling == "cls":
            return hidden[:, 0]
        content = attention_mask.bool() & ~torch.isin(input_ids, self.pooled_out_ids.to(input_ids.device))
        weights = content.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.proj(self.forward_features(input_ids, attention_mask))

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokenizer.encode(texts, self.config.max_length)


def build_image_encoder(config: EncoderConfig, distilled: bool = False, **backbone_options: Any) -> ImageEncoder:
    """The configured image tower; a Chinese-CLIP checkpoint (`clip_checkpoint`) initialises it
    (and its projection) from the checkpoint's vision tower, else `image.weights` if given.
    `backbone_options` go to timm's constructor as they are (e.g. a ResNet's `output_stride`)."""
    if config.clip_checkpoint:
        if distilled:
            raise VlpbenchError("encoders.clip_checkpoint: a Chinese-CLIP vision tower has no distillation token (DeiT)")
        encoder = ImageEncoder(config.image, config.proj_dim, clip_checkpoint=config.clip_checkpoint)
        image_state, _, _ = load_chinese_clip(config.clip_checkpoint, config.image.img_size)
        load_checked(encoder, image_state, f"Chinese-CLIP checkpoint {config.clip_checkpoint}")
        return encoder
    backbone = _build_timm(config.image, distilled, **backbone_options) if backbone_options else None
    encoder = ImageEncoder(config.image, config.proj_dim, distilled, backbone=backbone)
    if config.image.weights:
        state = read_state_dict(config.image.weights)
        fraction = load_checked(encoder.backbone, state, f"image weights {config.image.weights}", strict=False)
        encoder.weights_loaded = {"tower": "image", "file": config.image.weights, "fraction": round(fraction, 4)}
        message = f"image weights {config.image.weights}: set {fraction:.1%} of the image encoder's parameters"
        if fraction < 1:
            print_warning(message)
        else:
            make_console().print(message, soft_wrap=True)
    return encoder


def build_text_encoder(config: EncoderConfig, tokenizer: Tokenizer) -> TextEncoder:
    """The configured text tower; initialised from `clip_checkpoint`'s text tower when given."""
    encoder = TextEncoder(config.text, config.proj_dim, tokenizer, config.clip_checkpoint)
    if config.clip_checkpoint:
        _, text_state, _ = load_chinese_clip(config.clip_checkpoint, config.image.img_size)
        load_checked(encoder, text_state, f"Chinese-CLIP checkpoint {config.clip_checkpoint}")
    return encoder


def describe_encoders(config: EncoderConfig) -> dict[str, str]:
    """Short human-readable encoder descriptions for records and leaderboard headers."""
    image, text = config.image, config.text
    image_name = image.timm_name or (
        f"vit d={image.width} depth={image.depth} patch={image.patch_size}"
        if image.arch == "vit"
        else f"resnet layers={image.resnet_layers} channels={image.resnet_channels}"
    )
    text_name = text.hf_dir or f"{text.family} d={text.width} layers={text.layers}"
    return {"image": f"{image_name} @{image.img_size}px", "text": text_name, "proj_dim": str(config.proj_dim)}


def _build_timm(config: ImageEncoderConfig, distilled: bool, **extra: Any) -> nn.Module:
    if config.timm_name:
        name = config.timm_name
        kwargs: dict = {"img_size": config.img_size} if "vit" in name or "deit" in name else {}
    elif config.arch == "vit":
        name = "deit_tiny_distilled_patch16_224" if distilled else "vit_tiny_patch16_224"
        kwargs = {
            "img_size": config.img_size, "patch_size": config.patch_size, "embed_dim": config.width,
            "depth": config.depth, "num_heads": config.heads,
        }
    elif config.arch == "resnet":
        name = "resnet18"
        kwargs = {
            "layers": list(config.resnet_layers), "channels": tuple(config.resnet_channels),
            "stem_width": config.resnet_channels[0] // 2 or 1,
            "global_pool": "avg" if config.pool == "default" else config.pool,
        }
    else:
        raise VlpbenchError(f"encoders.image.arch '{config.arch}': expected 'vit' or 'resnet'")
    if distilled and "distilled" not in name:
        raise VlpbenchError(f"a distillation token needs a DeiT-style ViT, not '{name}'")
    return timm.create_model(name, pretrained=False, num_classes=0, **kwargs, **extra)


def _build_transformer(config: TextEncoderConfig, tokenizer: Tokenizer) -> nn.Module:
    if config.hf_dir:
        try:
            return transformers.AutoModel.from_pretrained(config.hf_dir, local_files_only=True, add_pooling_layer=False)
        except OSError as error:
            raise VlpbenchError(f"text encoder directory {config.hf_dir}: {str(error).splitlines()[0]}") from None
    if config.pooling not in ("cls", "mean"):
        raise VlpbenchError(f"encoders.text.pooling '{config.pooling}': expected 'cls' or 'mean'")
    families = {"bert": (transformers.BertConfig, transformers.BertModel),
                "roberta": (transformers.RobertaConfig, transformers.RobertaModel)}
    if config.family not in families:
        raise VlpbenchError(f"encoders.text.family '{config.family}': expected one of {list(families)}")
    config_class, model_class = families[config.family]
    hf_config = config_class(
        vocab_size=tokenizer.vocab_size, hidden_size=config.width, num_hidden_layers=config.layers,
        num_attention_heads=config.heads, intermediate_size=config.intermediate,
        max_position_embeddings=config.max_length + 2, pad_token_id=tokenizer.pad_id,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    return model_class(hf_config, add_pooling_layer=False)
