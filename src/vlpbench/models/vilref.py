"""ViLReF (Yang et al.): the released ViLReF checkpoint itself, trained with the Chinese-CLIP code
base (T6Yang/ViLReF `ViLReF/clip/model.py`: the same `CLIP` class, `text_projection` a matrix),
so it loads with the Chinese-CLIP key map of `models/_cnclip.py`. The ViT-B/16 release; the RN50
release is `vilref-rn50`."""

from __future__ import annotations

from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models._cnclip import ChineseClipFormat


@register_model(
    "vilref", description="ViLReF ViT-B/16 + RoBERTa-wwm-ext (Chinese prompts)",
    info=PluginInfo(title="ViLReF (ViT)", order=60, reference="Yang et al., ViLReF: An Expert Knowledge Enabled Vision-Language Retinal Foundation Model",
                    source="https://github.com/T6Yang/ViLReF (README: checkpoint link)",
                    licence="not stated in the code release; check the ViLReF README before use"),
)
class ViLReF(ChineseClipFormat):
    """Both towers of ViLReF's `CLIP`."""
