"""`supervised`: the shared image encoder trained on the corpus labels alone (the 33-dim
multi-hot vectors the report converter extracts) with binary cross-entropy through a linear
head — what label supervision buys without any image–text objective. Image-only, so zero-shot
is n/a, as for MAE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS
from vlpbench.encoders.towers import build_image_encoder
from vlpbench.strategies.base import Batch, Strategy, StrategyContext


@register_strategy(
    "supervised", description="reference row: image encoder + linear head trained with BCE on the corpus labels",
    info=PluginInfo(title="supervised (labels, BCE)", order=2, reference="reference row", tags=("reference", "image-only")),
)
class Supervised(Strategy):
    """L = mean over the batch and the 33 categories of BCE(head(f(x)), y)."""

    has_text_tower = False

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.image_encoder = build_image_encoder(self.config.encoders)
        self.text_encoder = None
        self.head = nn.Linear(self.image_encoder.feature_dim, len(CATEGORY_KEYS))

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.head(self.image_encoder.forward_features(batch.images))
        return {"loss": F.binary_cross_entropy_with_logits(logits, batch.labels.float())}
