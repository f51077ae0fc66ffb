"""Tests parametrised over the plugin registries (as timm's tests run over `list_models()`): every
registered strategy trains one step, every dataset carries card metadata, every plugin's `Options`
survive a YAML round trip. A new plugin is covered by registering it."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
import sys

import pytest
import torch
import yaml

import vlpbench.datasets.public
from helpers import random_batch, smoke_context
from vlpbench.app.scaffold import new_strategy
from vlpbench.core.config import resolve_config
from vlpbench.core.registry import DATASETS, MODELS, STRATEGIES, TASKS, Entry
from vlpbench.strategies.base import Strategy, StrategyContext

# collected at import time, so each plugin is its own test id
STRATEGY_NAMES = STRATEGIES.names()
#: strategies with a training step (a reference row such as `random-init` declares `pretrains = False`)
TRAINABLE = [name for name in STRATEGY_NAMES if getattr(STRATEGIES.get(name), "pretrains", True)]
DATASET_ENTRIES = DATASETS.entries()
#: (config section, entry) of every plugin with an `Options` class
OPTION_ENTRIES = [(section, entry) for section, registry in (("strategy", STRATEGIES), ("task", TASKS), ("model", MODELS))
                  for entry in registry.entries() if entry.options is not None]
PUBLIC_MODULES = sorted(
    module.name for module in pkgutil.iter_modules(vlpbench.datasets.public.__path__, "vlpbench.datasets.public.")
    if not module.name.rsplit(".", 1)[-1].startswith("_")
)
#: what every public loader's CARD must say: the data-card doc (`bench list datasets --cards`) and
#: `dataset.card` show these for every set
CARD_KEYS = ("dataset", "task", "folder", "layout", "split", "licence", "citation")


def _build(name: str) -> tuple[Strategy, StrategyContext]:
    """`name` on the smoke profile (tiny encoders); a teacher (DeiT's) is built untrained."""
    torch.manual_seed(0)
    teachers: dict[str, Strategy] = {}

    def pretrained(teacher: str) -> Strategy:
        if teacher not in teachers:
            teachers[teacher] = STRATEGIES.get(teacher)(context)
        return teachers[teacher]

    context = smoke_context(pretrained=pretrained)
    return STRATEGIES.get(name)(context), context


def test_registries_are_not_empty():
    assert len(STRATEGY_NAMES) >= 10 and len(DATASET_ENTRIES) >= 16 and len(PUBLIC_MODULES) == 8
    assert set(TRAINABLE) >= {"clip", "wsc", "mae", "deit"}
    assert {entry.name for _, entry in OPTION_ENTRIES} >= {"wsc", "medclip", "seg", "finetune"}


# ----------------------------------------------------------------------------- strategies


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_strategy_builds_with_tiny_encoders(name: str):
    model, context = _build(name)
    assert model.registered_name == name
    assert model.options == context.config.strategy.get(name)
    if model.hand_crafted:  # a reference row without a network (colour statistics): nothing to train
        assert not list(model.parameters()) and not model.pretrains
    else:
        assert sum(p.numel() for p in model.image_encoder.parameters()) > 0


@pytest.mark.parametrize("name", TRAINABLE)
def test_strategy_trains_one_step(name: str):
    model, context = _build(name)
    model.train()
    out = model.training_step(random_batch(context, n=8, seed=1))
    loss = out["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss), f"{name}: loss {loss}"
    assert all(torch.isfinite(value).all() for value in out.values()), name
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads, f"{name}: backward reached no parameter"
    assert all(torch.isfinite(g).all() for g in grads), f"{name}: non-finite gradient"
    assert any(bool((g != 0).any()) for g in grads), f"{name}: every gradient is zero"


# ----------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("entry", DATASET_ENTRIES, ids=lambda entry: entry.name)
def test_dataset_has_card_metadata(entry: Entry):
    assert callable(entry.obj)
    assert entry.description.strip(), f"dataset '{entry.name}' has no description"
    assert entry.reference.strip(), f"dataset '{entry.name}' has no reference"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_loader_card_has_the_doc_fields(module_name: str):
    module = importlib.import_module(module_name)
    card = getattr(module, "CARD", None)
    assert isinstance(card, dict), f"{module_name} has no CARD dict"
    missing = [key for key in CARD_KEYS if not isinstance(card.get(key), str) or not card[key].strip()]
    assert not missing, f"{module_name}.CARD lacks {missing}"
    registered = [entry for entry in DATASET_ENTRIES if entry.obj.__module__ == module_name]
    assert len(registered) == 1, f"{module_name} registers {len(registered)} datasets"
    (entry,) = registered
    assert entry.reference == card["citation"] and entry.info.title and "public" in entry.info.tags


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("section, entry", OPTION_ENTRIES, ids=[f"{section}.{entry.name}" for section, entry in OPTION_ENTRIES])
def test_default_options_round_trip_through_a_config_file(section: str, entry: Entry, tmp_path):
    defaults = entry.default_options("smoke")
    dumped = dataclasses.asdict(defaults)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({section: {entry.name: dumped}}, allow_unicode=True), encoding="utf-8")
    resolved = getattr(resolve_config("smoke", config_file=path), section)[entry.name]
    assert type(resolved) is entry.options
    assert resolved == defaults
    assert {k: type(v) for k, v in dataclasses.asdict(resolved).items()} == {k: type(v) for k, v in dumped.items()}


# ----------------------------------------------------------------------------- scaffold


def test_scaffolded_strategy_registers_with_options_and_info(tmp_path, monkeypatch):
    """`bench new strategy` writes a plugin in the registry style and a test that passes."""
    monkeypatch.setattr(STRATEGIES, "_entries", dict(STRATEGIES._entries))  # the registration is undone after
    plugin_path, test_path = new_strategy("my-scaffold", tmp_path / "plugins", tmp_path / "tests")
    plugin = _load("vlpbench.strategies.my_scaffold", plugin_path, monkeypatch)
    entry = STRATEGIES.entry("my-scaffold")
    assert entry.obj is plugin.MyScaffold and entry.options is plugin.MyScaffoldOptions
    assert entry.info.title == "My Scaffold" and entry.info.reference and isinstance(entry.info.tags, tuple)
    assert dataclasses.asdict(entry.default_options("smoke")) == {"loss_weight": 1.0}
    generated = _load("test_strategy_my_scaffold", test_path, monkeypatch)
    generated.test_my_scaffold_option_reaches_the_plugin()  # the pretraining test is left to the scaffold's user


def _load(name: str, path, monkeypatch):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module
