"""RET-CLIP (Du et al., MICCAI 2024): a binocular retinal CLIP trained with the Chinese-CLIP code
base. Release layout (sStonemason/RET-CLIP `RET_CLIP/clip/model.py`): Chinese-CLIP's `visual.*`
and `bert.*`, but `text_projection` is an MLP (`text_projection.{0,2}.*`: Linear-ReLU-Linear),
with per-eye copies (`text_projection_left/right`), per-eye scales and the binocular feature
mappings (`global/left/right_feature_mapping`). One image is scored as its monocular
`encode_image(img, None)` — `visual` alone — against the global `text_projection`; the per-eye
heads and mappings are unused."""

from __future__ import annotations

import torch
from torch import nn

from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models._cnclip import ChineseClipFormat


@register_model(
    "ret-clip", description="RET-CLIP ViT-B/16 + RoBERTa-wwm-ext (Chinese prompts)",
    info=PluginInfo(title="RET-CLIP", order=55, reference="Du et al., MICCAI 2024",
                    source="https://github.com/sStonemason/RET-CLIP (README: ViT-B-16 checkpoint link)",
                    licence="not stated in the code release; check the RET-CLIP README before use"),
)
class RetClip(ChineseClipFormat):
    """Chinese-CLIP towers with RET-CLIP's MLP text head."""

    unused = (*ChineseClipFormat.unused, r"logit_scale_(left|right)", r"text_projection_(left|right)\..*",
              r"(global|left|right)_feature_mapping\.weight")

    def text_head(self, hidden: int, embed: int) -> nn.Module:
        return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, embed))

    def text_projection(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        keys = [f"{index}.{part}" for index in (0, 2) for part in ("weight", "bias")]
        return {f"proj.{key}": state.pop(f"text_projection.{key}") for key in keys if f"text_projection.{key}" in state}
