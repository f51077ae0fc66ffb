"""MAE: masked autoencoder, image only (He et al., 2022).

Per sample, a random `r = strategy.mae.mask_ratio` of the L patches is masked (`len_keep =
int(L·(1 − r))`, argsort of uniform noise as in MAE's `random_masking`). The shared ViT
encodes the visible patches only (+ its class token); a light transformer decoder
(`strategy.mae.decoder_width`, `strategy.mae.decoder_depth` timm Blocks with 32-wide heads, or one
head when the width is not a multiple of 32; a learned mask token; fixed 2-D sin-cos
positions as in MAE) predicts every patch's pixels (patch_size² × 3, MAE's (p, q, c) order);
the loss is the per-patch MSE on masked patches only (`strategy.mae.norm_pix` normalises each
target patch). No text tower: text tasks report n/a.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from timm.layers import build_sincos2d_pos_embed
from timm.models.vision_transformer import Block
from torch import nn

from vlpbench.core.checks import at_least, between, multiple_of
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.encoders.towers import build_image_encoder
from vlpbench.strategies.base import Batch, Strategy, StrategyContext
from vlpbench.strategies.losses import mae_loss

DECODER_HEAD_DIM = 32


@dataclass
class MaeOptions:
    """MAE's paper defaults: mask ratio 0.75, per-patch normalised targets off, a light decoder."""

    mask_ratio: float = field(default=0.75, metadata=between(0.0, 1.0, high_open=True))
    norm_pix: bool = False
    decoder_width: int = field(default=64, metadata=multiple_of(4))  # sin-cos positions need a multiple of 4
    decoder_depth: int = field(default=1, metadata=at_least(0))


def keep_count(num_patches: int, mask_ratio: float) -> int:
    """len_keep = int(L·(1 − r)), as in MAE."""
    return int(num_patches * (1 - mask_ratio))


def random_masking(tokens: torch.Tensor, mask_ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample random masking by argsort of uniform noise (MAE's `random_masking`).

    tokens (B, L, D) → kept tokens (B, len_keep, D), mask (B, L) with 1 = masked, and
    ids_restore (B, L) that undoes the shuffle.
    """
    batch, length, dim = tokens.shape
    len_keep = keep_count(length, mask_ratio)
    noise = torch.rand(batch, length, device=tokens.device)
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    kept = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).expand(-1, -1, dim))
    mask = torch.ones(batch, length, device=tokens.device)
    mask[:, :len_keep] = 0
    return kept, torch.gather(mask, 1, ids_restore), ids_restore


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, 3, H, W) → (B, L, patch_size²·3), pixels in (p, q, c) order as in MAE."""
    batch, channels, height, width = images.shape
    h, w = height // patch_size, width // patch_size
    x = images.reshape(batch, channels, h, patch_size, w, patch_size)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(batch, h * w, patch_size * patch_size * channels)


@register_strategy(
    "mae",
    description="masked autoencoder: ViT on visible patches, light decoder, MSE on masked patches",
    info=PluginInfo(title="MAE", order=10, reference="He et al. 2022 (MAE)", tags=("image-only",),
                    profiles={"smoke": {"decoder_width": 32}},
                    bibtex="@inproceedings{he2022mae, title={Masked Autoencoders Are Scalable Vision Learners}, "
                           "author={He, Kaiming and others}, booktitle={CVPR}, year={2022}}"),
)
class Mae(Strategy):
    """Image-only masked-image modelling with the shared ViT as the encoder."""

    has_text_tower = False
    Options = MaeOptions

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        image = self.config.encoders.image
        if image.arch != "vit":
            raise VlpbenchError(f"strategy mae: encoders.image.arch '{image.arch}': MAE masks ViT patches, expected 'vit'")
        strategy = self.options
        self.image_encoder = build_image_encoder(self.config.encoders)
        self.text_encoder = None
        backbone = self.image_encoder.backbone
        if backbone.num_prefix_tokens != 1 or backbone.cls_token is None or backbone.no_embed_class:
            raise VlpbenchError(
                f"strategy mae: encoders.image.timm_name '{image.timm_name}': "
                "expected a ViT with one class token in pos_embed"
            )
        grid = tuple(backbone.patch_embed.grid_size)
        self.num_patches = grid[0] * grid[1]
        self.patch_size = backbone.patch_embed.patch_size[0]
        if not 0 < keep_count(self.num_patches, strategy.mask_ratio) < self.num_patches:
            raise VlpbenchError(
                f"strategy.mae.mask_ratio {strategy.mask_ratio}: "
                f"must keep at least one and mask at least one of {self.num_patches} patches"
            )
        width = strategy.decoder_width
        heads = width // DECODER_HEAD_DIM if width % DECODER_HEAD_DIM == 0 else 1
        self.decoder_embed = nn.Linear(self.image_encoder.feature_dim, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        positions = build_sincos2d_pos_embed(list(grid), dim=width)
        positions = torch.cat([torch.zeros(1, width), positions]).unsqueeze(0)  # class token: zeros
        self.register_buffer("decoder_pos_embed", positions, persistent=False)
        self.decoder_blocks = nn.Sequential(
            *(Block(width, heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(strategy.decoder_depth))
        )
        self.decoder_norm = nn.LayerNorm(width)
        self.decoder_pred = nn.Linear(width, self.patch_size**2 * 3)
        self._init_decoder()

    def _init_decoder(self) -> None:
        """MAE's initialisation: normal(0.02) mask token, xavier-uniform linears, unit LayerNorms."""
        nn.init.normal_(self.mask_token, std=0.02)
        for module in [self.decoder_embed, self.decoder_blocks, self.decoder_norm, self.decoder_pred]:
            for sub in module.modules():
                if isinstance(sub, nn.Linear):
                    nn.init.xavier_uniform_(sub.weight)
                    if sub.bias is not None:
                        nn.init.zeros_(sub.bias)
                elif isinstance(sub, nn.LayerNorm):
                    nn.init.ones_(sub.weight)
                    nn.init.zeros_(sub.bias)

    def forward_encoder(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode the visible patches: (latent (B, 1 + len_keep, D), mask (B, L), ids_restore)."""
        backbone = self.image_encoder.backbone
        x = backbone.patch_embed(images) + backbone.pos_embed[:, 1:]
        x, mask, ids_restore = random_masking(x, self.options.mask_ratio)
        cls = (backbone.cls_token + backbone.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = backbone.norm_pre(backbone.pos_drop(torch.cat([cls, x], dim=1)))
        return backbone.norm(backbone.blocks(x)), mask, ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Pixel predictions for every patch (B, L, patch_size²·3)."""
        x = self.decoder_embed(latent)
        batch, width = x.shape[0], x.shape[-1]
        mask_tokens = self.mask_token.expand(batch, self.num_patches + 1 - x.shape[1], -1)
        patches = torch.cat([x[:, 1:], mask_tokens], dim=1)
        patches = torch.gather(patches, 1, ids_restore.unsqueeze(-1).expand(-1, -1, width))
        x = torch.cat([x[:, :1], patches], dim=1) + self.decoder_pos_embed
        return self.decoder_pred(self.decoder_norm(self.decoder_blocks(x)))[:, 1:]

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        latent, mask, ids_restore = self.forward_encoder(batch.images)
        pred = self.forward_decoder(latent, ids_restore)
        target = patchify(batch.images, self.patch_size)
        return {"loss": mae_loss(pred, target, mask, norm_pix=self.options.norm_pix)}
