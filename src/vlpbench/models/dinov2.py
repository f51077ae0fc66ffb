"""DINOv2 (Oquab et al. 2023), the natural-image self-supervised ViT, as a reference row.

Release layout (facebookresearch/dinov2 `hubconf` files, e.g. `dinov2_vitl14_pretrain.pth`): a
flat state dict in DINOv2's naming — `patch_embed.proj`, `cls_token`, `pos_embed` (518 px grid),
`mask_token`, `blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}`,
`norm` (`register_tokens` for the *_reg4 files). Converted by timm's own DINOv2 filter (position
embedding resampled to `img_size`). The giant model's SwiGLU MLP is not supported."""

from __future__ import annotations

from dataclasses import dataclass, field

import timm
import torch

from vlpbench.core.checks import at_least
from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models.base import ExternalImageEncoder, ExternalModel, ViTOptions, take, timm_vit_state


@dataclass
class Dinov2Options(ViTOptions):
    """The hub weights file and its ViT size (ViT-L/14 by default; `registers` 4 for *_reg4)."""

    patch_size: int = field(default=14, metadata=at_least(1))
    registers: int = field(default=0, metadata=at_least(0))


@register_model(
    "dinov2", description="DINOv2 natural-image ViT (LVD-142M), image tower only",
    info=PluginInfo(title="DINOv2", order=40, reference="Oquab et al., TMLR 2024",
                    source="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
                    licence="Apache-2.0"),
)
class Dinov2(ExternalModel):
    """DINOv2 backbone as timm's `vit_large_patch14_dinov2` built from the options."""

    Options = Dinov2Options
    visual_backbone = "ViT-L/14"
    wrappers = ()
    unused = (r"mask_token",)

    def build(self, state: dict[str, torch.Tensor]) -> None:
        o = self.options
        registers = {"reg_tokens": o.registers, "no_embed_class": True} if o.registers else {}
        backbone = timm.create_model("vit_large_patch14_dinov2", pretrained=False, num_classes=0, img_size=o.img_size,
                                     patch_size=o.patch_size, embed_dim=o.embed_dim, depth=o.depth, num_heads=o.heads,
                                     init_values=1e-5, **registers)
        self.image_encoder = ExternalImageEncoder(backbone, o.img_size, None, self.mean, self.std)

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        return {"image": timm_vit_state(take(state, "", self.unused), self.image_encoder.backbone)}
