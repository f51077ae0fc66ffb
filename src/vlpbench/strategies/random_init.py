"""`random-init`: the shared encoders exactly as every strategy starts from them (random image
tower, MLM-warm-started text tower, random projections), with no pretraining at all. The floor
of every leaderboard: a pretraining strategy below it learnt nothing the task can use."""

from __future__ import annotations

from typing import ClassVar

import torch

from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.strategies.base import Batch, DualEncoderStrategy


@register_strategy(
    "random-init", description="reference row: the shared encoders untrained (no pretraining steps)",
    info=PluginInfo(title="random init (floor)", order=1, reference="reference row", tags=("reference", "floor")),
)
class RandomInit(DualEncoderStrategy):
    """Zero pretraining steps; its checkpoint is the initial weights."""

    pretrains: ClassVar[bool] = False

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise RuntimeError("random-init is never trained (pretrains = False)")
