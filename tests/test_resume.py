"""Pretraining resumes from its last saved step (engine/resume.py): an interrupted run continued
from its resume state ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from helpers import random_corpus_arrays, smoke_context
from vlpbench.core.registry import STRATEGIES
from vlpbench.datasets.base import PretrainCorpus
from vlpbench.engine import pretraining, resume
from vlpbench.engine.pretraining import make_optimizer, pretrain
from vlpbench.engine.resume import flatten_optimizer, unflatten_optimizer

OVERRIDES = ["pretrain.steps=6", "pretrain.batch_size=8", "pretrain.warmup_steps=2", "strategy.wsc.queue_size=12"]


class Interrupted(Exception):
    """Stands in for a preemption right after a resume state was saved."""


def _train(name: str, resume_dir, monkeypatch=None, stop_after: int | None = None) -> tuple[torch.Tensor, object]:
    context = smoke_context(OVERRIDES)
    torch.manual_seed(0)
    model = STRATEGIES.get(name)(context)
    images, reports, labels = random_corpus_arrays(40, 32)
    ids, mask = context.tokenizer.encode(reports, context.config.encoders.text.max_length)
    corpus = PretrainCorpus("tiny", images, reports, labels, np.arange(4))
    if stop_after is not None:
        save = resume.save_training_state

        def save_then_stop(folder, step, *args, **kwargs):
            save(folder, step, *args, **kwargs)
            if step == stop_after:
                raise Interrupted
        monkeypatch.setattr(pretraining, "save_training_state", save_then_stop)
    stats = pretrain(model, name, corpus, ids, mask, context.config.pretrain, 32, seed=3, out_dir=None,
                     device=torch.device("cpu"), resume_dir=resume_dir, save_every=2)
    return torch.cat([t.detach().flatten().float() for t in model.state_dict().values()]), stats


@pytest.mark.parametrize("name", ["wsc", "mae"])
def test_an_interrupted_pretraining_resumes_to_the_uninterrupted_weights(name, tmp_path, monkeypatch):
    straight, stats = _train(name, None)
    assert stats.resumed_from == 0
    with pytest.raises(Interrupted):
        _train(name, tmp_path / "resume", monkeypatch, stop_after=4)
    assert sorted(p.name for p in (tmp_path / "resume").iterdir()) == [
        "model-4.safetensors", "optimizer-4.safetensors", "rng-4-rank0.safetensors", "state.json"]
    monkeypatch.undo()
    resumed, stats = _train(name, tmp_path / "resume")
    assert stats.resumed_from == 4 and stats.steps == 6
    torch.testing.assert_close(resumed, straight, rtol=0, atol=0)


def test_optimizer_state_round_trips_through_safetensors(tmp_path):
    model = STRATEGIES.get("clip")(smoke_context())
    optimizer, _ = make_optimizer(model, model.config.pretrain)
    for parameter in model.parameters():
        parameter.grad = torch.ones_like(parameter)
    optimizer.step()
    tensors, structure = flatten_optimizer(optimizer.state_dict())
    from safetensors.torch import save_file
    save_file(tensors, str(tmp_path / "o.safetensors"))
    restored = unflatten_optimizer(load_file(str(tmp_path / "o.safetensors")), structure)
    original = optimizer.state_dict()
    assert restored["param_groups"] == original["param_groups"]
    assert restored["state"].keys() == original["state"].keys()
    for key, entries in original["state"].items():
        for name, value in entries.items():
            torch.testing.assert_close(restored["state"][key][name], value, rtol=0, atol=0)
