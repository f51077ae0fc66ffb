"""WSC plugin: eq 7 momentum update, FIFO queues (eqs 11–13), ablation variants."""

from __future__ import annotations

import torch

from helpers import random_batch, smoke_context
from vlpbench.engine.pretraining import make_optimizer
from vlpbench.strategies.clip import Clip
from vlpbench.strategies.losses import clip_loss, label_similarity, wsc_loss
from vlpbench.strategies.wsc import ClipBatchExpansion, WeightedSimilarityCoupling, WeightedSimilarityCouplingNoQueue


def _step(model, batch):
    optimizer, _ = make_optimizer(model, model.config.pretrain)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = model.training_step(batch)
    optimizer.zero_grad()
    out["loss"].backward()
    optimizer.step()
    model.after_step()
    return out, before


def test_momentum_update_follows_eq7():
    torch.manual_seed(0)
    model = WeightedSimilarityCoupling(smoke_context(["strategy.wsc.queue_size=20"]))
    online = dict(model.image_encoder.named_parameters())
    for name, p in model.momentum_image_encoder.named_parameters():  # eq 7, t = 0
        assert torch.equal(p, online[name])
    _, before = _step(model, random_batch(model.context, 8))
    m = model.momentum
    for name, p in model.momentum_image_encoder.named_parameters():
        expected = m * before[f"momentum_image_encoder.{name}"] + (1 - m) * online[name].detach()
        torch.testing.assert_close(p, expected, rtol=0, atol=1e-7)
        assert not p.requires_grad


def test_queue_holds_last_keys_in_order():
    torch.manual_seed(0)
    model = WeightedSimilarityCoupling(smoke_context(["strategy.wsc.queue_size=20"])).eval()
    keys = []
    for step in range(4):  # 4 × 8 = 32 keys, queue keeps the newest 20
        batch = random_batch(model.context, 8, seed=step)
        model.training_step(batch)
        keys.append(model._pending[0].clone())
        model.after_step()
    newest_first = torch.cat(list(reversed(keys)))[:20]
    torch.testing.assert_close(model.image_queue, newest_first)
    assert int(model.queue_count) == 20


def test_first_step_queue_loss_uses_batch_momentum_keys_only():
    torch.manual_seed(0)
    model = WeightedSimilarityCoupling(smoke_context(["strategy.wsc.queue_size=20"])).eval()
    batch = random_batch(model.context, 8)
    out = model.training_step(batch)
    image, text = model.embed(batch)
    similarity = label_similarity(batch.labels, batch.labels)
    in_batch = wsc_loss(image, text, similarity, model.logit_scale())
    torch.testing.assert_close(out["loss_batch"], in_batch.detach())
    # momentum encoders equal the online ones before any update ⇒ queue term equals in-batch term
    torch.testing.assert_close(out["loss_queue"], in_batch.detach(), rtol=1e-5, atol=1e-6)


def test_ablations_are_variants():
    torch.manual_seed(0)
    sa = WeightedSimilarityCouplingNoQueue(smoke_context())
    assert not hasattr(sa, "momentum_image_encoder")
    batch = random_batch(sa.context, 8)
    out = sa.training_step(batch)
    assert set(out) == {"loss", "loss_batch", "logit_scale"}
    be = ClipBatchExpansion(smoke_context(["strategy.clip-be.queue_size=20"])).eval()
    out = be.training_step(batch)
    image, text = be.embed(batch)
    torch.testing.assert_close(out["loss_batch"], 2 * clip_loss(image, text, be.logit_scale()).detach(), rtol=1e-5, atol=1e-6)


def test_temperature_is_out_of_weight_decay():
    model = Clip(smoke_context())
    assert "log_logit_scale" in model.no_weight_decay()
    optimizer, _ = make_optimizer(model, model.config.pretrain)
    decayed = {id(p) for p in optimizer.param_groups[0]["params"]}
    assert id(model.log_logit_scale) not in decayed
    assert torch.isclose(model.logit_scale(), torch.tensor(1 / 0.07))
