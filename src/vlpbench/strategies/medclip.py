"""MedCLIP: semantic matching with soft targets from label similarity (Wang et al., 2022)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vlpbench.core.checks import one_of
from vlpbench.core.distributed import gather_no_grad
from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.strategies.base import Batch, DualEncoderStrategy
from vlpbench.strategies.losses import medclip_loss

SIMILARITIES = ("dot", "cosine")


@dataclass
class MedClipOptions:
    """`similarity`: S = Y Yᵀ ("dot", MedCLIP's code) or the label cosine ("cosine")."""

    similarity: str = field(default="dot", metadata=one_of(*SIMILARITIES))


@register_strategy(
    "medclip",
    description="semantic matching: soft CE to row-softmax of label similarity Y·Yᵀ",
    info=PluginInfo(title="MedCLIP", order=40, reference="Wang et al. 2022 (MedCLIP)", tags=("contrastive",),
                    bibtex="@inproceedings{wang2022medclip, title={MedCLIP: Contrastive Learning from Unpaired Medical Images and Text}, "
                           "author={Wang, Zifeng and others}, booktitle={EMNLP}, year={2022}}"),
)
class MedClip(DualEncoderStrategy):
    """Image–text contrastive learning whose targets are softmax(S) over the batch, S = Y Yᵀ
    (raw dot product, MedCLIP's code) or the label cosine (`strategy.medclip.similarity`)."""

    Options = MedClipOptions

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        image, text = self.embed(batch)
        labels = gather_no_grad(batch.labels)
        loss = medclip_loss(image, text, labels, self.logit_scale(), similarity=self.options.similarity)
        return {"loss": loss, "logit_scale": self.logit_scale().detach()}
