"""CN-CLIP RN50 (Yang et al. 2022; `clip_cn_rn50.pt`, ResNet50 + RBT3): the Chinese-CLIP `CLIP`
with a `ModifiedResNet` image tower (`models/_cnclip.py`), the ResNet counterpart of `cn-clip`."""

from __future__ import annotations

from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models._cnclip import ChineseClipFormat


@register_model(
    "cn-clip-rn50", description="Chinese-CLIP ResNet50 + RBT3 (Chinese prompts)",
    info=PluginInfo(title="CN-CLIP (RN50)", order=51, reference="Yang et al., arXiv:2211.01335",
                    source="https://github.com/OFA-Sys/Chinese-CLIP (clip_cn_rn50.pt, README download table)",
                    licence="MIT"),
)
class ChineseClipResNet(ChineseClipFormat):
    """Both towers of CN-CLIP's RN50 `CLIP`."""

    image_tower = "resnet"
