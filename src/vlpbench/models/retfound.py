"""RETFound (Zhou et al., Nature 2023): the colour-fundus ViT-L/16 pretrained with MAE, and the
later DINOv2 variant (ViT-L/14). Image-only, so `ood-zsc` is n/a.

Release layout (rmaphoh/RETFound_MAE, `main_finetune.py`): the MAE file is
`{"model": MAE state dict, "args": Namespace}` — encoder tensors in timm ViT naming
(`patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.N.*`, `norm`) next to the MAE decoder
(`mask_token`, `decoder_*`); the DINOv2 file is `{"teacher": …}` with `backbone.`-prefixed
DINOv2 tensors (`blocks.N.ls1.gamma`, …) and the `dino_head.`/`ibot_head.` projection heads.
Features: the class token after the final norm (MAE's linear-probe protocol; the finetune
recipe's global pooling would need a freshly initialised `fc_norm`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import timm
import torch

from vlpbench.core.checks import at_least
from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models.base import ExternalImageEncoder, ExternalModel, ViTOptions, take, timm_vit_state


@dataclass
class RetfoundOptions(ViTOptions):
    """The release's weights file and its ViT-L/16 architecture (smaller sizes only for tests)."""



@register_model(
    "retfound-mae", description="RETFound colour-fundus ViT-L/16 (MAE), image tower only",
    info=PluginInfo(title="RETFound (CFP)", order=10, reference="Zhou et al., Nature 622 (2023)",
                    source="https://huggingface.co/YukunZhou/RETFound_mae_natureCFP (RETFound_mae_natureCFP.pth)",
                    licence="CC BY-NC 4.0"),
)
class RetfoundMae(ExternalModel):
    """MAE encoder as a timm ViT; the decoder and mask token are unused."""

    Options = RetfoundOptions
    visual_backbone = "ViT-L/16"
    wrappers = ("model",)
    unused = (r"mask_token", r"decoder_.*")
    timm_arch = "vit_large_patch16_224"
    timm_kwargs: dict = {}

    def build(self, state: dict[str, torch.Tensor]) -> None:
        o = self.options
        backbone = timm.create_model(self.timm_arch, pretrained=False, num_classes=0, img_size=o.img_size, patch_size=o.patch_size,
                                     embed_dim=o.embed_dim, depth=o.depth, num_heads=o.heads, **self.timm_kwargs)
        self.image_encoder = ExternalImageEncoder(backbone, o.img_size, None, self.mean, self.std)

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        return {"image": timm_vit_state(take(state, "", self.unused), self.image_encoder.backbone)}


@dataclass
class RetfoundDinov2Options(RetfoundOptions):
    """As RETFound's, with DINOv2's patch 14."""

    patch_size: int = field(default=14, metadata=at_least(1))


@register_model(
    "retfound-dinov2", description="RETFound colour-fundus ViT-L/14 (DINOv2), image tower only",
    info=PluginInfo(title="RETFound-DINOv2 (CFP)", order=11, reference="Zhou et al., Nature 622 (2023); RETFound_MAE README",
                    source="https://huggingface.co/YukunZhou/RETFound_dinov2_meh (RETFound_dinov2_meh.pth)",
                    licence="CC BY-NC 4.0"),
)
class RetfoundDinov2(RetfoundMae):
    """DINOv2 teacher backbone as timm's `vit_large_patch14_dinov2` (layer scale); heads unused."""

    Options = RetfoundDinov2Options
    visual_backbone = "ViT-L/14"
    wrappers = ("teacher",)
    unused = (r"dino_head\..*", r"ibot_head\..*", r"backbone\.mask_token")
    timm_arch = "vit_large_patch14_dinov2"
    timm_kwargs = {"init_values": 1e-5}

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        return {"image": timm_vit_state(take(state, "backbone.", self.unused), self.image_encoder.backbone)}
