"""VisionFM (Qiu et al., NEJM AI 2024): the fundus ViT-B/16 of the ophthalmic foundation model,
pretrained with iBOT-style self-distillation. Image-only.

Release layout (ABILab-CUHK/VisionFM, `utils.load_pretrained_weights` with `checkpoint_key
teacher`): `{"teacher": …, "student": …, …}`, the teacher's tensors `backbone.`-prefixed in
DINO/timm ViT naming plus the `head.` projection head. Fundus pixel statistics from its
`utils.get_stats("Fundus")`."""

from __future__ import annotations

from dataclasses import dataclass, field

import timm
import torch

from vlpbench.core.checks import at_least
from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models.base import ExternalImageEncoder, ExternalModel, ViTOptions, take, timm_vit_state


@dataclass
class VisionFMOptions(ViTOptions):
    """The fundus weights file and its ViT-B/16 architecture."""

    embed_dim: int = field(default=768, metadata=at_least(1))
    depth: int = field(default=12, metadata=at_least(1))
    heads: int = field(default=12, metadata=at_least(1))


@register_model(
    "visionfm", description="VisionFM fundus ViT-B/16 (teacher backbone), image tower only",
    info=PluginInfo(title="VisionFM (fundus)", order=30, reference="Qiu et al., NEJM AI 1(12) 2024",
                    source="https://github.com/ABILab-CUHK/VisionFM (README: per-modality weights, fundus file)",
                    licence="not stated in the code release; check the VisionFM README before use"),
)
class VisionFM(ExternalModel):
    """Teacher backbone as a timm ViT-B/16; projection head and student unused."""

    Options = VisionFMOptions
    visual_backbone = "ViT-B/16"
    mean = (0.423737496137619, 0.2609460651874542, 0.128403902053833)
    std = (0.29482534527778625, 0.20167365670204163, 0.13668020069599152)
    wrappers = ("teacher",)
    unused = (r"head\..*",)

    def build(self, state: dict[str, torch.Tensor]) -> None:
        o = self.options
        backbone = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=0, img_size=o.img_size,
                                     patch_size=o.patch_size, embed_dim=o.embed_dim, depth=o.depth, num_heads=o.heads)
        self.image_encoder = ExternalImageEncoder(backbone, o.img_size, None, self.mean, self.std)

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        return {"image": timm_vit_state(take(state, "backbone."), self.image_encoder.backbone)}
