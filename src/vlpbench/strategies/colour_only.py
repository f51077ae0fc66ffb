"""`colour-only`: no network at all — fixed colour statistics of the pixels the encoders see.

Classification tasks fit their logistic regression on `datasets.colour_statistics` of each
image (78 numbers: channel means and SDs, 8-bin histograms, a 4 × 4 grid of mean colours);
segmentation fits a per-pixel logistic regression on each pixel's 3 × 3 RGB neighbourhood (27
numbers). It answers "does the task need a representation at all?" as `random-init` answers
"does pretraining help?": a strategy at or below it has learnt nothing colour cannot tell.
Tasks that need a network (Grad-CAM maps, latent geometry) and zero-shot (no text tower) are n/a."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.datasets.colour_statistics import colour_statistics, neighbourhood_features
from vlpbench.encoders.preprocessing import MEAN, STD
from vlpbench.strategies.base import Batch, Strategy, StrategyContext


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Normalised (n, 3, H, W) tensors (`encoders.preprocessing.load_batch`) back to (n, H, W, 3) uint8."""
    pixels = (images.detach().float().cpu() * STD + MEAN).clamp(0, 1).mul(255).round()
    return pixels.to(torch.uint8).permute(0, 2, 3, 1).numpy()


@register_strategy(
    "colour-only", description="reference row: linear models on colour statistics of the pixels (no network)",
    info=PluginInfo(title="colour only (no representation)", order=0, reference="reference row",
                    tags=("reference", "image-only")),
)
class ColourOnly(Strategy):
    """No parameters, no pretraining: `image_features` are the 78 colour statistics of each image,
    `pixel_features` the 27 values of each pixel's 3 × 3 RGB neighbourhood."""

    has_text_tower = False
    pretrains: ClassVar[bool] = False
    hand_crafted: ClassVar[bool] = True

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.image_encoder = None
        self.text_encoder = None

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise RuntimeError("colour-only is never trained (pretrains = False)")

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(colour_statistics(to_uint8(images))).float().to(images.device)

    def pixel_features(self, images: torch.Tensor) -> torch.Tensor:
        features = neighbourhood_features(to_uint8(images))  # (n, H, W, 27)
        return torch.from_numpy(features).permute(0, 3, 1, 2).to(images.device)

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("colour-only has no embedding space (hand_crafted = True)")
