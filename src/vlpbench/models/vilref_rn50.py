"""ViLReF's ResNet-50 release (T6Yang/ViLReF README: ViLReF_RN50, ResNet50 + RoBERTa-wwm-ext-base-
chinese): the Chinese-CLIP `CLIP` with a `ModifiedResNet` image tower (`models/_cnclip.py`), the
encoder of ViLReF Table VIII's ResNet50 rows."""

from __future__ import annotations

from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models._cnclip import ChineseClipFormat


@register_model(
    "vilref-rn50", description="ViLReF ResNet50 + RoBERTa-wwm-ext (Chinese prompts)",
    info=PluginInfo(title="ViLReF (RN50)", order=61, reference="Yang et al., ViLReF: An Expert Knowledge Enabled Vision-Language Retinal Foundation Model",
                    source="https://github.com/T6Yang/ViLReF (README: ViLReF_RN50 checkpoint link)",
                    licence="not stated in the code release; check the ViLReF README before use"),
)
class ViLReFResNet(ChineseClipFormat):
    """Both towers of ViLReF's RN50 `CLIP`."""

    image_tower = "resnet"
