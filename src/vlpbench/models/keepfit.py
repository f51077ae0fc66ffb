"""KeepFIT (Wu et al., MICCAI 2024, "MM-Retinal"): FLAIR's architecture (ResNet-50 +
BioClinicalBERT, linear projection heads) trained with expert knowledge from fundus textbooks.

Release layout (lxirich/MM-Retinal, `KeepFIT/KeepFIT-CFP/keepfit/modeling/model.py`):
`torch.save(model.state_dict())` of `KeepFITModel` — FLAIR's `vision_model.*`, `text_model.*`
and `logit_scale`, plus the knowledge-reference attention `attention.W_{q,k,v,o}.weight` used
only in pretraining. Same preprocessing as FLAIR (pixels in [0, 1], 512 px); its tokenizer's
`model_max_length` is 256."""

from __future__ import annotations

from dataclasses import dataclass, field

from vlpbench.core.checks import at_least
from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models.flair import Flair, FlairOptions


@dataclass
class KeepFITOptions(FlairOptions):
    """FLAIR's options with KeepFIT's text length."""

    max_length: int = field(default=256, metadata=at_least(3))


@register_model(
    "keepfit", description="KeepFIT (CFP) ResNet-50 + BioClinicalBERT (English prompts)",
    info=PluginInfo(title="KeepFIT (CFP)", order=21, reference="Wu et al., MICCAI 2024 (MM-Retinal)",
                    source="https://github.com/lxirich/MM-Retinal (KeepFIT CFP weights, README link)",
                    licence="not stated in the code release; check the MM-Retinal README before use"),
)
class KeepFIT(Flair):
    """FLAIR's towers; the pretraining-only attention is unused."""

    Options = KeepFITOptions
    unused = (*Flair.unused, r"attention\.W_[qkvo]\.weight")
