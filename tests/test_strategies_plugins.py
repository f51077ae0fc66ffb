"""Tests of the medclip, unicl, mflag, mae, deit and clip-resnet strategy plugins on the smoke
profile: finite losses and parts, a few AdamW steps on a fixed batch lower the loss, frozen
parts stay frozen, MAE masks exactly L − len_keep patches, zero-shot embedding shapes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vlpbench.core.config import resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES
from vlpbench.encoders.tokenizer import CharTokenizer
from vlpbench.encoders.towers import build_text_encoder
from vlpbench.strategies.base import Batch, Strategy, StrategyContext
from vlpbench.strategies.deit import ClipResNet, Deit
from vlpbench.strategies.mae import Mae, keep_count, patchify, random_masking
from vlpbench.strategies.medclip import MedClip
from vlpbench.strategies.mflag import MFlag, MFlagAlignOnly, MFlagOrthOnly, MFlagUnfrozen
from vlpbench.strategies.unicl import UniCl

TEXTS = ["视盘边界清楚，杯盘比0.3", "黄斑区见出血及硬性渗出", "豹纹状眼底，视盘周围萎缩", "未见明显异常"]
BATCH = 16
STEPS = 6


def make_context(config=None) -> StrategyContext:
    config = config or resolve_config("smoke")
    tokenizer = CharTokenizer.build(TEXTS)
    teachers: dict[str, Strategy] = {}

    def pretrained(name: str) -> Strategy:
        assert name == "clip-resnet"
        if name not in teachers:
            teachers[name] = ClipResNet(context)
        return teachers[name]

    context = StrategyContext(
        config=config, tokenizer=tokenizer,
        build_text_encoder=lambda: build_text_encoder(config.encoders, tokenizer), pretrained=pretrained,
    )
    return context


@pytest.fixture
def context() -> StrategyContext:
    torch.manual_seed(0)
    return make_context()


@pytest.fixture
def batch(context: StrategyContext) -> Batch:
    generator = torch.Generator().manual_seed(1)
    size = context.config.encoders.image.img_size
    length = 20
    input_ids = torch.randint(5, context.tokenizer.vocab_size, (BATCH, length), generator=generator)
    input_ids[:, 0] = context.tokenizer.cls_id
    return Batch(
        images=torch.randn(BATCH, 3, size, size, generator=generator),
        input_ids=input_ids,
        attention_mask=torch.ones(BATCH, length, dtype=torch.long),
        labels=(torch.rand(BATCH, 33, generator=generator) < 0.15).float(),
    )


def train_steps(model: Strategy, batch: Batch, steps: int = STEPS) -> list[dict[str, torch.Tensor]]:
    """The generic loop in miniature: AdamW with the strategy's no-decay set, `after_step` hook."""
    model.train()
    no_decay = model.no_weight_decay()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if n not in no_decay], "weight_decay": 0.01},
            {"params": [p for n, p in named if n in no_decay], "weight_decay": 0.0},
        ],
        lr=1e-3,
    )
    outputs = []
    for _ in range(steps):
        out = model.training_step(batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        model.after_step()
        outputs.append({k: v.detach() for k, v in out.items()})
    return outputs


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


PARTS = {
    "medclip": {"logit_scale"},
    "unicl": {"logit_scale"},
    "mflag": {"align", "orth"},
    "mflag-align": {"align", "orth"},
    "mflag-orth": {"align", "orth"},
    "mae": set(),
    "deit": {"clip", "distill", "logit_scale"},
    "clip-resnet": {"logit_scale"},
}


@pytest.mark.parametrize("name", sorted(PARTS))
def test_registered_and_loss_decreases(name: str, context: StrategyContext, batch: Batch) -> None:
    model = STRATEGIES.get(name)(context)
    outputs = train_steps(model, batch)
    assert set(outputs[0]) == {"loss"} | PARTS[name]
    for out in outputs:
        assert all(torch.isfinite(v).all() and v.ndim == 0 for v in out.values())
    assert outputs[-1]["loss"] < outputs[0]["loss"]


@pytest.mark.parametrize("name", ["medclip", "unicl", "deit", "clip-resnet"])
def test_temperature_kept_out_of_weight_decay(name: str, context: StrategyContext) -> None:
    assert "log_logit_scale" in STRATEGIES.get(name)(context).no_weight_decay()


def test_medclip_rejects_unknown_similarity_when_the_config_resolves() -> None:
    with pytest.raises(VlpbenchError, match="strategy.medclip.similarity 'jaccard'"):
        resolve_config("smoke", overrides=["strategy.medclip.similarity=jaccard"])
    assert MedClip(make_context(resolve_config("smoke", overrides=["strategy.medclip.similarity=cosine"]))).options.similarity == "cosine"


def test_medclip_and_unicl_losses_depend_on_labels(context: StrategyContext, batch: Batch) -> None:
    for cls in (MedClip, UniCl):
        model = cls(context).eval()
        with torch.no_grad():
            first = model.training_step(batch)["loss"]
            uniform = dataclasses.replace(batch, labels=torch.zeros_like(batch.labels))  # all pairs alike
            assert not torch.isclose(first, model.training_step(uniform)["loss"])


# ----------------------------------------------------------------------------- M-FLAG


def test_mflag_text_tower_frozen_and_bit_identical(context: StrategyContext, batch: Batch) -> None:
    model = MFlag(context)
    before = snapshot(model.text_encoder)
    image_before = snapshot(model.image_encoder)
    outputs = model.training_step(batch)
    outputs["loss"].backward()
    assert all(p.grad is None and not p.requires_grad for p in model.text_encoder.parameters())
    assert all(p.grad is not None for p in model.projector.parameters())
    model.zero_grad()
    train_steps(model, batch)
    assert not model.text_encoder.training and model.projector.training
    after = model.text_encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(not torch.equal(image_before[k], v) for k, v in model.image_encoder.state_dict().items())


def test_mflag_zero_shot_embeddings(context: StrategyContext, batch: Batch) -> None:
    model = MFlag(context).eval()
    text_dim = model.text_encoder.feature_dim
    images = model.image_embedding(batch.images)
    texts = model.text_embedding(TEXTS)
    assert images.shape == (BATCH, text_dim) and texts.shape == (len(TEXTS), text_dim)
    assert torch.allclose(images.norm(dim=-1), torch.ones(BATCH))
    assert torch.allclose(texts.norm(dim=-1), torch.ones(len(TEXTS)))


@pytest.mark.parametrize("variant, terms", [(MFlag, ("align", "orth")), (MFlagAlignOnly, ("align",)), (MFlagOrthOnly, ("orth",))])
def test_mflag_table4_variants_train_with_their_terms_only(variant, terms, context: StrategyContext, batch: Batch) -> None:
    """Eq 1 with a term left out: the loss is the sum of the variant's terms (M-FLAG Table 4)."""
    model = variant(context)
    out = model.training_step(batch)
    torch.testing.assert_close(out["loss"].detach(), sum(out[term] for term in terms))
    out["loss"].backward()
    projector_trained = all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.projector.parameters())
    assert projector_trained == ("align" in terms)  # L_orth acts on z_v only


def test_mflag_unfreezes_the_last_n_text_layers() -> None:
    """M-FLAG Table 5's Unfreeze_n: the last n transformer layers train, the rest stays frozen."""
    torch.manual_seed(0)
    context = make_context(resolve_config("smoke", overrides=["encoders.text.layers=3", "strategy.mflag-unfreeze.unfreeze_last_n=2"]))
    model = MFlagUnfrozen(context)
    layers = model.text_encoder.backbone.encoder.layer
    trainable = [all(p.requires_grad for p in layer.parameters()) for layer in layers]
    assert trainable == [False, True, True]
    assert not any(p.requires_grad for p in model.text_encoder.backbone.embeddings.parameters())
    ids = torch.randint(5, context.tokenizer.vocab_size, (4, 6))
    batch = Batch(images=torch.randn(4, 3, 32, 32), input_ids=ids, attention_mask=torch.ones_like(ids),
                  labels=torch.zeros(4, 33))
    model.training_step(batch)["loss"].backward()
    assert all(p.grad is not None for p in layers[2].parameters()) and all(p.grad is None for p in layers[0].parameters())
    too_many = make_context(resolve_config("smoke", overrides=["strategy.mflag-unfreeze.unfreeze_last_n=5"]))
    with pytest.raises(VlpbenchError, match="strategy.mflag-unfreeze.unfreeze_last_n 5: expected at most"):
        MFlagUnfrozen(too_many)
    assert not any(p.requires_grad for p in MFlag(context).text_encoder.parameters())  # M-FLAG proper stays frozen


# ----------------------------------------------------------------------------- MAE


@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.3])
def test_mae_random_masking_counts(ratio: float) -> None:
    tokens = torch.randn(8, 16, 5)
    kept, mask, ids_restore = random_masking(tokens, ratio)
    len_keep = int(16 * (1 - ratio))
    assert keep_count(16, ratio) == len_keep
    assert kept.shape == (8, len_keep, 5)
    assert (mask.sum(dim=1) == 16 - len_keep).all()
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    for row in range(8):
        visible = tokens[row][mask[row] == 0]
        assert torch.equal(kept[row][kept[row][:, 0].argsort()], visible[visible[:, 0].argsort()])
    assert len({tuple(row.tolist()) for row in mask}) > 1  # drawn per sample
    assert torch.equal(ids_restore.argsort(dim=1).argsort(dim=1), ids_restore)


def test_mae_encoder_sees_visible_patches_only(context: StrategyContext, batch: Batch) -> None:
    model = Mae(context)
    assert not model.has_text_tower and model.text_encoder is None
    latent, mask, _ = model.forward_encoder(batch.images)
    len_keep = keep_count(model.num_patches, context.config.strategy["mae"].mask_ratio)
    assert latent.shape == (BATCH, 1 + len_keep, model.image_encoder.feature_dim)
    assert (mask.sum(dim=1) == model.num_patches - len_keep).all()


def test_mae_patchify_order() -> None:
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    patches = patchify(images, 4)
    assert patches.shape == (2, 4, 48)
    assert torch.equal(patches[1, 1], images[1, :, :4, 4:].permute(1, 2, 0).reshape(-1))


def test_mae_norm_pix_and_resnet_rejected() -> None:
    model = Mae(make_context(resolve_config("smoke", overrides=["strategy.mae.norm_pix=true"])))
    assert torch.isfinite(model.training_step(Batch(torch.randn(4, 3, 32, 32), *[torch.zeros(4, 1)] * 3))["loss"])
    with pytest.raises(VlpbenchError, match="encoders.image.arch"):
        Mae(make_context(resolve_config("smoke", overrides=["encoders.image.arch=resnet"])))
    with pytest.raises(VlpbenchError, match="strategy.mae.mask_ratio"):
        Mae(make_context(resolve_config("smoke", overrides=["strategy.mae.mask_ratio=0.99"])))


# ----------------------------------------------------------------------------- DeiT


def test_deit_teacher_frozen_and_not_saved(context: StrategyContext, batch: Batch) -> None:
    model = Deit(context)
    assert model.requires == ("clip-resnet",)
    teacher = context.pretrained("clip-resnet")
    assert teacher.image_encoder.arch == "resnet" and model.image_encoder.arch == "vit"
    before = snapshot(teacher)
    train_steps(model, batch)
    assert not teacher.training
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert all(p.grad is None for p in teacher.parameters())
    own = {id(p) for p in model.parameters()}
    assert not any(id(p) in own for p in teacher.parameters())
    keys = set(model.state_dict())
    assert "dist_proj.weight" in keys and not any("teacher" in k for k in keys)
    expected = {k for name, module in model.named_children() for k in (f"{name}.{s}" for s in module.state_dict())}
    assert keys == expected | {"log_logit_scale"}


def test_deit_alpha_weights_the_two_terms(batch: Batch) -> None:
    for alpha, part in [(0.0, "clip"), (1.0, "distill")]:
        torch.manual_seed(0)
        config = resolve_config("smoke", overrides=[f"strategy.deit.alpha={alpha}", "strategy.deit.kind=soft"])
        out = Deit(make_context(config)).training_step(batch)
        assert torch.allclose(out["loss"], out[part])


def test_deit_zero_shot_embeddings(context: StrategyContext, batch: Batch) -> None:
    model = Deit(context).eval()
    proj_dim = context.config.encoders.proj_dim
    images = model.image_embedding(batch.images)
    assert images.shape == (BATCH, proj_dim) and torch.allclose(images.norm(dim=-1), torch.ones(BATCH))
    assert model.text_embedding(TEXTS).shape == (len(TEXTS), proj_dim)
    assert model.image_features(batch.images).shape == (BATCH, model.image_encoder.feature_dim)


def test_deit_rejects_bad_options() -> None:
    bad = [("strategy.deit.kind=medium", "strategy.deit.kind"), ("strategy.deit.alpha=1.5", "strategy.deit.alpha")]
    for override, field in bad:
        with pytest.raises(VlpbenchError, match=field):
            resolve_config("smoke", overrides=[override])
