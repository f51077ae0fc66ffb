"""Small builders shared by tests: a smoke-profile strategy context on random data."""

from __future__ import annotations

import numpy as np
import torch

from vlpbench.core.config import RunConfig, resolve_config
from vlpbench.encoders.tokenizer import CharTokenizer
from vlpbench.encoders.towers import build_text_encoder
from vlpbench.strategies.base import Batch, StrategyContext

REPORTS = ["双眼糖尿病视网膜病变III期，可见出血及硬性渗出", "眼底未见明显异常，杯盘比0.3", "视盘杯盘比0.7，疑似青光眼", "黄斑区玻璃膜疣"]


def smoke_context(overrides: list[str] | None = None, pretrained=None) -> StrategyContext:
    config: RunConfig = resolve_config("smoke", overrides=overrides or [])
    tokenizer = CharTokenizer.build(REPORTS)
    return StrategyContext(config, tokenizer, lambda: build_text_encoder(config.encoders, tokenizer),
                           pretrained or (lambda name: None))


def random_batch(context: StrategyContext, n: int = 8, seed: int = 0) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    size = context.config.encoders.image.img_size
    texts = [REPORTS[i % len(REPORTS)] for i in range(n)]
    ids, mask = context.tokenizer.encode(texts, context.config.encoders.text.max_length)
    labels = (torch.rand(n, 33, generator=generator) < 0.1).float()
    labels[::3, 0] = 1.0
    return Batch(torch.randn(n, 3, size, size, generator=generator), ids, mask, labels)


def random_corpus_arrays(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    reports = [REPORTS[i % len(REPORTS)] for i in range(n)]
    labels = (rng.random((n, 33)) < 0.1).astype(np.uint8)
    return images, reports, labels
