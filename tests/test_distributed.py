"""torchrun code paths on CPU: 2 gloo processes. The WSC step (gathered features, averaged
gradients, gathered queue keys) must equal the single-process step on the same global batch,
and the generic loop must keep both ranks' parameters identical."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from helpers import random_batch, random_corpus_arrays, smoke_context
from vlpbench.datasets.base import PretrainCorpus
from vlpbench.engine.pretraining import _average_gradients, make_optimizer, pretrain
from vlpbench.strategies.base import Batch
from vlpbench.strategies.wsc import WeightedSimilarityCoupling

OVERRIDES = ["strategy.wsc.queue_size=12"]


def _wsc_step(model: WeightedSimilarityCoupling, batch: Batch) -> None:
    optimizer, _ = make_optimizer(model, model.config.pretrain)
    out = model.training_step(batch)
    optimizer.zero_grad()
    out["loss"].backward()
    _average_gradients(model)
    optimizer.step()
    model.after_step()


def _init(rank: int, init_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)


def _wsc_worker(rank: int, init_file: str, out_dir: str) -> None:
    _init(rank, init_file)
    torch.manual_seed(0)
    model = WeightedSimilarityCoupling(smoke_context(OVERRIDES))
    full = random_batch(model.context, 8)
    half = slice(rank * 4, rank * 4 + 4)
    for _ in range(2):
        _wsc_step(model, Batch(full.images[half], full.input_ids[half], full.attention_mask[half], full.labels[half]))
    if rank == 0:
        torch.save({"queue": model.image_queue, "labels": model.label_queue, "proj": model.image_encoder.proj.weight.detach()},
                   os.path.join(out_dir, "rank0.pt"))
    dist.destroy_process_group()


def test_wsc_two_processes_equal_single_process(tmp_path):
    mp.spawn(_wsc_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    distributed = torch.load(tmp_path / "rank0.pt")
    torch.manual_seed(0)
    model = WeightedSimilarityCoupling(smoke_context(OVERRIDES))
    full = random_batch(model.context, 8)
    for _ in range(2):
        _wsc_step(model, full)
    torch.testing.assert_close(distributed["queue"], model.image_queue, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(distributed["labels"], model.label_queue)
    torch.testing.assert_close(distributed["proj"], model.image_encoder.proj.weight.detach(), rtol=1e-4, atol=1e-5)


def _loop_worker(rank: int, init_file: str, out_dir: str) -> None:
    _init(rank, init_file)
    torch.manual_seed(0)
    context = smoke_context(["pretrain.steps=3", "pretrain.batch_size=8", "strategy.wsc.queue_size=12"])
    model = WeightedSimilarityCoupling(context)
    images, reports, labels = random_corpus_arrays(40, 32)
    ids, mask = context.tokenizer.encode(reports, context.config.encoders.text.max_length)
    corpus = PretrainCorpus("tiny", images, reports, labels, np.arange(4))
    stats = pretrain(model, "wsc", corpus, ids, mask, context.config.pretrain, 32, seed=0, out_dir=None, device=torch.device("cpu"))
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    torch.save({"params": flat, "steps": stats.steps}, os.path.join(out_dir, f"loop{rank}.pt"))
    dist.destroy_process_group()


def test_generic_loop_two_gloo_processes_stay_in_sync(tmp_path):
    mp.spawn(_loop_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    first, second = torch.load(tmp_path / "loop0.pt"), torch.load(tmp_path / "loop1.pt")
    assert first["steps"] == second["steps"] == 3
    torch.testing.assert_close(first["params"], second["params"], rtol=0, atol=1e-6)
