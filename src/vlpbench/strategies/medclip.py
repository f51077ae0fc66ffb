"""MedCLIP: semantic matching with soft targets from label similarity (Wang et al., 2022)."""

from __future__ import annotations

import torch

from vlpbench.benchmark.distributed import gather_no_grad
from vlpbench.benchmark.errors import VlpbenchError
from vlpbench.benchmark.registry import register_strategy
from vlpbench.strategies.base import Batch, DualEncoderStrategy, StrategyContext
from vlpbench.strategies.losses import medclip_loss

SIMILARITIES = ("dot", "cosine")


@register_strategy(
    "medclip",
    description="semantic matching: soft CE to row-softmax of label similarity Y·Yᵀ",
    reference="Wang et al. 2022 (MedCLIP)",
)
class MedClip(DualEncoderStrategy):
    """Image–text contrastive learning whose targets are softmax(S) over the batch, S = Y Yᵀ
    (raw dot product, MedCLIP's code) or the label cosine (`strategy.medclip_similarity`)."""

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        similarity = self.config.strategy.medclip_similarity
        if similarity not in SIMILARITIES:
            raise VlpbenchError(f"strategy.medclip_similarity '{similarity}': expected one of {list(SIMILARITIES)}")

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        image, text = self.embed(batch)
        labels = gather_no_grad(batch.labels)
        loss = medclip_loss(image, text, labels, self.logit_scale(), similarity=self.config.strategy.medclip_similarity)
        return {"loss": loss, "logit_scale": self.logit_scale().detach()}
