"""`bench run`: plan the grid's cells (strategy × task × dataset × seed × fraction), keep those
without a current record, split them into units (`engine/units.py`: pretrain each checkpoint,
then evaluate it) and hand those to the launcher (`engine/launchers.py`: in this process, local
workers, or Slurm), which writes each record atomically as soon as it is done.

Two runs on one results folder (or two cluster jobs) share the work: each record is claimed with
a lock next to it (`core/claims.py`) and checked again once claimed, so a record another run is
computing is skipped at first and waited for at the end, never computed twice; checkpoints are
claimed the same way (`engine/run_cache.py`)."""

from __future__ import annotations

import os
import time
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vlpbench.core.atomic import sweep_stale
from vlpbench.core.checks import IMAGE_SIDE
from vlpbench.core.config import RunConfig, grid_hash, validate_config
from vlpbench.core.console import make_console
from vlpbench.core.distributed import is_main_process
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.provenance import git_commit
from vlpbench.core.records import append_run_log, grid_dir, read_record
from vlpbench.core.registry import DATASETS, STRATEGIES, TASKS
from vlpbench.engine.cells import Job, cell_path, is_current, record_key
from vlpbench.engine.input_digests import refresh_input_digests
from vlpbench.engine.launchers import launch, local_slots
from vlpbench.engine.units import plan_units
from vlpbench.models.base import is_model, model_entry, model_inputs
from vlpbench.tasks.base import Task

__all__ = ["Job", "expand", "plan_jobs", "record_key", "run_grid", "seed_plan"]


def expand(names: list[str], registry_names: list[str]) -> list[str]:
    return registry_names if names == ["all"] else names


def plan_jobs(
    config: RunConfig, strategies: list[str], tasks: list[str], datasets: list[str] | None, models: list[str] | None = None,
) -> list[Job]:
    """Every job of the grid, validating every name before anything runs; an empty list of
    strategies (and no external models), tasks or datasets is an error (a grid of nothing is
    never what was meant). External models (`vlpbench.models`) are rows like strategies."""
    models = models or []
    for kind, given, hint in (("strategy", None if models else strategies, " or 'all'"), ("task", tasks, " or 'all'"),
                              ("dataset", datasets, "")):
        if given is not None and not given:
            raise VlpbenchError(f"no {kind} named: expected at least one {kind} name{hint}")
    strategies = expand(strategies, STRATEGIES.names())
    tasks = expand(tasks, TASKS.names())
    for name in strategies:
        STRATEGIES.entry(name)
    for name in models:
        model_entry(name)
        if name in STRATEGIES.names():
            raise VlpbenchError(f"model '{name}' has the name of a strategy; rows must be unique")
    _check_model_inputs(config, models, tasks)
    strategies = [*strategies, *dict.fromkeys(models)]
    jobs = []
    for task_name in tasks:
        task_class = TASKS.get(task_name)
        dataset_names = datasets or list(TASKS.entry(task_name).info.default_datasets)
        for name in dataset_names:
            DATASETS.entry(name)
        fractions = config.eval.fractions if task_class.uses_fractions else [1.0]
        plan = seed_plan(config, task_class)
        # a released model is the same for every pretraining run: a deterministic task scores it once
        model_plan = plan[:1] if task_class.deterministic else plan
        jobs += [Job(task_name, d, s, seed, f, pretrain_seed, replicate)
                 for d in dataset_names for s in strategies
                 for seed, pretrain_seed, replicate in (model_plan if is_model(s) else plan) for f in fractions]
    return jobs


def _check_model_inputs(config: RunConfig, models: list[str], tasks: list[str]) -> None:
    """Each external model's input size, and every task image side (`checks.image_side`, e.g.
    `task.seg.image_size`), must be a multiple of its patch size; checked before any work."""
    for name in dict.fromkeys(models):
        family, inputs = model_entry(name), model_inputs(config, name)
        patch = inputs.patch_size
        if not patch:
            continue
        sides = [(f"model.{family.name}.img_size", inputs.img_size)]
        for task in tasks:
            options = config.task.get(task)
            sides += [(f"task.{task}.{item.name}", getattr(options, item.name)) for item in fields(options or ())
                      if item.metadata.get(IMAGE_SIDE) and getattr(options, item.name)] if options is not None else []
        for key, value in sides:
            if value % patch:
                raise VlpbenchError(f"{key} {value!r}: expected a multiple of {inputs.patch_source} ({patch}) "
                                    f"for model '{name}'")


def seed_plan(config: RunConfig, task_class: type[Task]) -> list[tuple[int, int, bool]]:
    """(downstream seed, pretraining run seed, replicate?) of every cell of one task.

    Seed k evaluates pretraining run pretrain.seed + (k mod N), N = eval.pretrain_seeds (0: N = seeds),
    so strategies pair by seed across both sources of variance. A deterministic task (no
    downstream randomness) runs once per pretraining run. `eval.downstream_replicates` adds draws
    k = seeds, seeds + 1, … on the first pretraining run, for the variance split only."""
    evaluation, base = config.eval, config.pretrain.seed
    runs = evaluation.pretrain_seeds or evaluation.seeds
    if task_class.deterministic:
        return [(k, base + k, False) for k in range(min(runs, evaluation.seeds))]
    plan = [(k, base + k % runs, False) for k in range(evaluation.seeds)]
    if runs > 1:
        plan += [(evaluation.seeds + j, base, True) for j in range(evaluation.downstream_replicates)]
    return plan


def run_grid(
    config: RunConfig, strategies: list[str], tasks: list[str], datasets: list[str] | None = None, force: bool = False,
    models: list[str] | None = None, dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Run the grid of `strategies` and external `models`; returns all records of the grid (new
    and reused; none when submitted to Slurm or, `dry_run`, only printed). A config built in code
    (not by `resolve_config`) is validated here, before any work."""
    validate_config(config)
    _check_data_root(config)
    refresh_input_digests()  # files may have changed since an earlier grid of this process
    jobs = plan_jobs(config, strategies, tasks, datasets, models)
    grid = grid_dir(Path(config.results_dir), config.profile, grid_hash(config))
    if is_main_process() and not dry_run:
        sweep_stale(grid, recursive=True)  # temp records of killed runs
    todo = [job for job in jobs if force or not is_current(cell_path(grid, job), record_key(config, job))]
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    outcomes = launch(config, plan_units(config, todo, grid, force) if todo else [], dry_run)
    if outcomes is None:  # submitted to a cluster (its jobs write the records), or a dry run
        return []
    if todo and is_main_process():
        computed = outcomes.count("computed")
        if computed < len(todo):
            make_console().print(f"{len(todo) - computed} of {len(todo)} record(s) computed meanwhile by another run, not repeated")
        append_run_log(grid, {
            "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "wall_time_s": round(time.perf_counter() - clock, 1),
            "records": computed, "reused": len(todo) - computed, "workers": local_slots(config), "threads": config.threads,
            "launcher": config.launcher.kind,
            "cpus": os.cpu_count(), "git_commit": git_commit(), "pid": os.getpid(),
        })
    return [read_record(cell_path(grid, job)) for job in jobs] if is_main_process() else []


def _check_data_root(config: RunConfig) -> None:
    """A `--data-root` that does not exist is an error even when every dataset is synthetic
    (where it would otherwise be ignored)."""
    root = config.eval.data_root
    if root and not Path(root).is_dir():
        raise VlpbenchError(f"eval.data_root '{root}': folder does not exist (expected the folder holding the datasets)")
