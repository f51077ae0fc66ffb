"""UniCL: unified contrastive learning, pairs with identical label vectors are positives
(Yang et al., 2022)."""

from __future__ import annotations

import torch

from vlpbench.core.distributed import gather_no_grad
from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.strategies.base import Batch, DualEncoderStrategy
from vlpbench.strategies.losses import unicl_loss


@register_strategy(
    "unicl",
    description="bidirectional soft CE; positives = pairs whose label vectors are identical",
    info=PluginInfo(title="UniCL", order=50, reference="Yang et al. 2022 (UniCL)", tags=("contrastive",),
                    bibtex="@inproceedings{yang2022unicl, title={Unified Contrastive Learning in Image-Text-Label Space}, "
                           "author={Yang, Jianwei and others}, booktitle={CVPR}, year={2022}}"),
)
class UniCl(DualEncoderStrategy):
    """Image–text contrastive learning with T_ij = 1 iff y_i = y_j, row-normalised targets."""

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        image, text = self.embed(batch)
        labels = gather_no_grad(batch.labels)
        loss = unicl_loss(image, text, labels, self.logit_scale())
        return {"loss": loss, "logit_scale": self.logit_scale().detach()}
