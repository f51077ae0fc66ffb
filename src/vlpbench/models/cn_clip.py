"""CN-CLIP (Yang et al. 2022): Chinese CLIP, the starting point of ViLReF, as a reference row;
original checkpoint format (`clip_cn_vit-b-16.pt`), see `models/_cnclip.py` for the key map; the
RN50 release is `cn-clip-rn50`."""

from __future__ import annotations

from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models._cnclip import ChineseClipFormat


@register_model(
    "cn-clip", description="Chinese-CLIP ViT-B/16 + RoBERTa-wwm-ext (Chinese prompts)",
    info=PluginInfo(title="CN-CLIP", order=50, reference="Yang et al., arXiv:2211.01335",
                    source="https://github.com/OFA-Sys/Chinese-CLIP (clip_cn_vit-b-16.pt, README download table)",
                    licence="MIT"),
)
class ChineseClip(ChineseClipFormat):
    """Both towers of CN-CLIP's `CLIP`."""
