"""The strategy interface. The generic loop calls `training_step` and `after_step` for every
strategy and never branches on a strategy's name."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import torch
from torch import nn

from vlpbench.core.config import RunConfig
from vlpbench.core.distributed import gather_with_grad
from vlpbench.encoders.tokenizer import Tokenizer
from vlpbench.encoders.towers import ImageEncoder, TextEncoder, build_image_encoder


@dataclass
class Batch:
    """One pretraining batch: normalised images, tokenised reports, 33-dim multi-hot labels."""

    images: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device) -> "Batch":
        return Batch(*(t.to(device, non_blocking=True) for t in (self.images, self.input_ids, self.attention_mask, self.labels)))


@dataclass
class StrategyContext:
    """What a strategy is built from: the config, the shared tokenizer, a factory for the shared
    (warm-started) text encoder, and `pretrained(name)` to obtain another strategy's trained
    model from the run cache (DeiT's teacher)."""

    config: RunConfig
    tokenizer: Tokenizer
    build_text_encoder: Callable[[], TextEncoder]
    pretrained: Callable[[str], "Strategy"]


class Strategy(nn.Module):
    """A pretraining objective. Subclasses set `image_encoder` (and `text_encoder`)."""

    has_text_tower: ClassVar[bool] = True
    #: other strategies whose checkpoints must exist first (e.g. DeiT's CLIP-trained ResNet teacher)
    requires: ClassVar[tuple[str, ...]] = ()
    #: False for a reference row that is evaluated with its initial weights (no pretraining steps)
    pretrains: ClassVar[bool] = True
    #: True for a reference row without a network: `image_features` and `pixel_features` are fixed
    #: statistics of the pixels, so tasks fit linear models on them instead of training an encoder,
    #: and a task that needs a network (gradients, a latent space) reports "n/a"
    hand_crafted: ClassVar[bool] = False

    image_encoder: ImageEncoder
    text_encoder: TextEncoder | None

    #: set by `register_strategy`; names this strategy's config section `strategy.<name>`
    registered_name: ClassVar[str] = ""

    def __init__(self, context: StrategyContext) -> None:
        super().__init__()
        self.context = context
        self.config = context.config
        #: this strategy's `Options` (its config section), or None if it declares none
        self.options = context.config.strategy.get(self.registered_name)

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Return {"loss": scalar, <part>: scalar, ...} for one batch."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after every optimizer step (momentum updates, queue pushes)."""

    def report_pairing(self, train_indices: np.ndarray, seed: int) -> np.ndarray | None:
        """The report each training image is paired with, as an index array over the corpus
        (`pairing[i]` = the report of image i), fixed for the whole pretraining run `seed`; None
        keeps the corpus' own pairs. Planted reference strategies mismatch pairs on purpose."""
        return None

    def no_weight_decay(self) -> set[str]:
        """Parameter names kept out of weight decay (temperature, biases, norms by default)."""
        return {name for name, p in self.named_parameters() if p.ndim <= 1 or "logit_scale" in name}

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features before the projection: what probes and t-SNE use (differentiable,
        like `image_embedding`)."""
        return self.image_encoder.forward_features(images)

    def pixel_features(self, images: torch.Tensor) -> torch.Tensor:
        """(n, d, H, W) per-pixel features of a hand-crafted row (`hand_crafted`); others have none."""
        raise NotImplementedError(f"{type(self).__name__} has no per-pixel features (hand_crafted = False)")

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised projected image embedding (zero-shot scoring). Differentiable: callers that
        only score wrap it in `torch.no_grad()`; text-guided Grad-CAM needs its gradient."""
        return nn.functional.normalize(self.image_encoder(images), dim=-1)

    @torch.no_grad()
    def text_embedding(self, texts: list[str]) -> torch.Tensor:
        """L2-normalised projected embedding of raw texts (zero-shot prompts)."""
        if self.text_encoder is None:
            raise RuntimeError(f"{type(self).__name__} has no text tower")
        device = next(self.text_encoder.parameters()).device
        ids, mask = self.text_encoder.tokenize(texts)
        return nn.functional.normalize(self.text_encoder(ids.to(device), mask.to(device)), dim=-1)


class DualEncoderStrategy(Strategy):
    """Image tower + shared warm-started text tower + learnable temperature τ (stored as
    log(1/τ), initialised at 1/0.07, logit scale clamped to ≤ 100 as in CLIP)."""

    max_logit_scale: ClassVar[float] = 100.0

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.image_encoder = self.build_image_encoder()
        self.text_encoder = context.build_text_encoder()
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / self.config.pretrain.temperature)))

    def build_image_encoder(self) -> ImageEncoder:
        """The image tower; a strategy needing a variant (e.g. a distillation token) overrides this."""
        return build_image_encoder(self.config.encoders)

    def no_weight_decay(self) -> set[str]:
        return super().no_weight_decay() | {"log_logit_scale"}

    def logit_scale(self) -> torch.Tensor:
        return self.log_logit_scale.exp().clamp(max=self.max_logit_scale)

    def embed(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected image and text features of the global batch (gathered across ranks)."""
        image = self.image_encoder(batch.images)
        text = self.text_encoder(batch.input_ids, batch.attention_mask)
        return gather_with_grad(image), gather_with_grad(text)
