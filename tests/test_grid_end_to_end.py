"""Every registered strategy × task runs end to end on the smoke profile (generated from the
registries, so a new plugin is covered automatically)."""

from __future__ import annotations

import math

import pytest

from vlpbench.core.config import resolve_config
from vlpbench.core.registry import STRATEGIES, TASKS
from vlpbench.engine.grid import run_grid

PAIRS = [(s, t) for s in STRATEGIES.names() for t in TASKS.names()]


@pytest.fixture(scope="module")
def smoke_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    return [f"runs_dir={root / 'runs'}", f"results_dir={root / 'results'}", "eval.seeds=1"]


@pytest.mark.parametrize("strategy, task", PAIRS)
def test_pair_runs_end_to_end(strategy, task, smoke_dirs):
    config = resolve_config("smoke", overrides=smoke_dirs)
    dataset = TASKS.entry(task).info.default_datasets[0]
    records = run_grid(config, [strategy], [task], [dataset])
    assert len(records) == 1
    record = records[0]
    if (reason := TASKS.get(task).not_applicable(STRATEGIES.get(strategy))) is not None:
        assert record["status"] == "n/a" and record["metrics"] == {} and reason in record["warnings"][0]
        return
    assert task != "ood-zsc" or STRATEGIES.get(strategy).has_text_tower
    assert record["status"] == "ok" and record["metrics"]
    descriptive = "descriptive" in TASKS.entry(task).info.tags  # e.g. geometry: ranks, distances, log potentials
    for name, value in record["metrics"].items():
        assert math.isfinite(value) and (descriptive or 0.0 <= value <= 100.0), (name, value)
    assert record["config"]["profile"] == "smoke" and record["checkpoint_hash"]
    assert record["versions"]["torch"]
    if STRATEGIES.get(strategy).pretrains:
        assert record["pretrain"]["wall_time_s"] > 0 and record["pretrain"]["steps"] > 0
    else:  # a reference row evaluated with its initial weights (random-init)
        assert record["pretrain"]["steps"] == 0
