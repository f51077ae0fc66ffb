"""`encoders.image.pool`: the pooled features every probe and strategy head reads."""

from __future__ import annotations

import pytest
import torch

from helpers import smoke_context
from vlpbench.core.config import resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.encoders.towers import build_image_encoder
from vlpbench.strategies.deit import Deit


def _encoder(*overrides: str):
    return build_image_encoder(resolve_config("smoke", overrides=list(overrides)).encoders).eval()


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_vit_pools_patch_tokens_only(pool: str) -> None:
    encoder = _encoder(f"encoders.image.pool={pool}")
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        tokens = encoder.backbone.forward_features(images)
        features = encoder.forward_features(images)
    patches = tokens[:, 1:]  # the class token left out
    expected = patches.amax(1) if pool == "max" else patches.mean(1)
    torch.testing.assert_close(features, expected)


def test_default_pool_is_the_class_token() -> None:
    encoder = _encoder()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(encoder.forward_features(images), encoder.backbone.forward_features(images)[:, 0])


def test_max_pool_sees_a_small_finding_that_the_average_dilutes() -> None:
    """One bright 4 × 4 patch moves the max-pooled features more than the averaged ones."""
    images = torch.zeros(1, 3, 32, 32)
    spotted = images.clone()
    spotted[..., 12:16, 12:16] = 3.0
    moved = {}
    for pool in ("avg", "max"):
        torch.manual_seed(0)
        encoder = _encoder(f"encoders.image.pool={pool}")
        with torch.no_grad():
            moved[pool] = (encoder.forward_features(spotted) - encoder.forward_features(images)).norm().item()
    assert moved["max"] > 2 * moved["avg"]


def test_resnet_max_pool_is_timms_global_max() -> None:
    encoder = _encoder("encoders.image.arch=resnet", "encoders.image.pool=max")
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        last = encoder.backbone.forward_features(images)
        torch.testing.assert_close(encoder.forward_features(images), last.amax((2, 3)))


def test_deit_base_branch_reads_the_shared_pool() -> None:
    """With a patch-token pool, DeiT's class-token branch is the shared pooled feature, so that
    α = 0 trains it exactly like `clip`."""
    context = smoke_context(["encoders.image.pool=max"])
    student = Deit(context).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        base, _ = student.token_embeddings(images)
        torch.testing.assert_close(base, student.image_encoder(images))


def test_unknown_pool_is_a_config_error() -> None:
    with pytest.raises(VlpbenchError, match="encoders.image.pool"):
        resolve_config("smoke", overrides=["encoders.image.pool=sum"])
