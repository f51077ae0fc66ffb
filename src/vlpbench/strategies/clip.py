"""CLIP: symmetric InfoNCE between image and report embeddings (Radford et al., 2021)."""

from __future__ import annotations

import torch

from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.strategies.base import Batch, DualEncoderStrategy
from vlpbench.strategies.losses import clip_loss


@register_strategy(
    "clip", description="symmetric InfoNCE (CE over rows and columns of z/τ)",
    info=PluginInfo(title="CLIP", order=20, reference="Radford et al. 2021", tags=("baseline", "contrastive", "ablation:wsc"),
                    bibtex="@inproceedings{radford2021clip, title={Learning Transferable Visual Models From Natural Language Supervision}, "
                           "author={Radford, Alec and others}, booktitle={ICML}, year={2021}}"),
)
class Clip(DualEncoderStrategy):
    """Image–text contrastive learning with the diagonal as the only positives."""

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        image, text = self.embed(batch)
        loss = clip_loss(image, text, self.logit_scale())
        return {"loss": loss, "logit_scale": self.logit_scale().detach()}
