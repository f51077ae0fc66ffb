"""`bench run --workers N`: the grid in N single-threaded worker processes on one machine.

Small CPU models scale poorly over intra-op threads, so N processes of one thread each use N
cores far better than one process of N threads. The parent first builds everything the
workers share (corpus, tokens, MLM warm start, evaluation sets — all cached on disk), then
runs two phases, each longest-first over a process pool:

1. pretraining: one unit per group of strategies linked by `requires` (a teacher is trained
   in the same process as its students, never twice at once);
2. evaluation: one unit per (task, dataset, strategy) — all its seeds and fractions, so a
   per-checkpoint feature cache is filled by one process.

Workers claim, evaluate and write records through the grid's one path (`evaluate_job`, which
locks each record and writes it atomically), so an interrupted parallel grid resumes like a serial
one and a second run on the same folders computes nothing twice. The parent owns the only
progress bars.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Callable

from vlpbench.core.config import RunConfig
from vlpbench.core.progress import progress_bar, set_progress_enabled
from vlpbench.core.registry import STRATEGIES, TASKS
from vlpbench.core.threads import limit_threads
from vlpbench.engine.run_cache import Workspace
from vlpbench.models.base import is_model, model_config

# set in each worker process by `_init_worker`
_WORKER: dict = {}


def run_parallel(config: RunConfig, todo: list, force: bool, evaluate_job: Callable) -> list[str]:
    """Pretrain then evaluate the `todo` jobs of a grid in `config.workers` processes;
    `evaluate_job(workspace, task, job)` claims, evaluates and writes one record and returns its
    outcome ("computed" or "reused"), the list returned."""

    _prepare_shared(Workspace(config), todo)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(config.workers, mp_context=context, initializer=_init_worker,
                             initargs=(config, evaluate_job)) as pool:
        groups = [(group, seed) for seed in dict.fromkeys(job.pretrain_seed for job in todo)
                  for group in strategy_groups([job.strategy for job in todo if job.pretrain_seed == seed])]
        _run_phase(pool, "pretrain", [(_pretrain_group, (group, seed, force), len(group)) for group, seed in groups],
                   lambda args: f"{', '.join(args[0])} (seed {args[1]})")
        units = evaluation_units(todo)
        outcomes = _run_phase(pool, "evaluate", [(_evaluate_unit, (unit,), _unit_cost(unit)) for unit in units],
                              lambda unit: f"{unit[0][0].task} {unit[0][0].dataset} {unit[0][0].strategy}",
                              count=lambda unit: len(unit[0]))
    return [outcome for unit in outcomes for outcome in unit]


def strategy_groups(strategies: list[str]) -> list[list[str]]:
    """Strategies joined with everything they transitively `require`, teachers first."""
    groups: list[list[str]] = []
    for name in dict.fromkeys(strategies):
        members = _with_requirements(name)
        overlapping = [group for group in groups if set(group) & set(members)]
        merged = list(dict.fromkeys([m for group in overlapping for m in group] + members))
        groups = [group for group in groups if group not in overlapping] + [merged]
    return groups


def evaluation_units(todo: list) -> list[list]:
    """Jobs grouped by (task, dataset, strategy, pretraining seed), in first-seen order."""
    units: dict[tuple[str, str, str, int], list] = {}
    for job in todo:
        units.setdefault((job.task, job.dataset, job.strategy, job.pretrain_seed), []).append(job)
    return list(units.values())


def _with_requirements(name: str) -> list[str]:
    if is_model(name):  # an external model requires nothing and is loaded, not trained
        return [name]
    ordered: list[str] = []
    for required in STRATEGIES.get(name).requires:
        ordered += [r for r in _with_requirements(required) if r not in ordered]
    return ordered + [name]


def _prepare_shared(workspace, todo: list) -> None:
    """Build (and cache on disk) what every worker would otherwise race to build."""
    needs_text = any(not is_model(job.strategy) and STRATEGIES.get(job.strategy).has_text_tower for job in todo)
    if needs_text:
        workspace.build_text_encoder()
    else:
        workspace.tokens()
    for task_name, dataset, row in dict.fromkeys((job.task, job.dataset, job.strategy) for job in todo):
        config = model_config(workspace.config, row) if is_model(row) else workspace.config
        workspace.dataset(dataset, TASKS.get(task_name).image_size(config))


def _unit_cost(unit: list) -> float:
    """Relative cost for longest-first scheduling: the task's metadata cost hint × jobs."""
    return TASKS.entry(unit[0].task).info.cost * len(unit)


def _run_phase(pool: ProcessPoolExecutor, name: str, items: list[tuple[Callable, tuple, float]],
               label: Callable, count: Callable | None = None) -> list:
    """Submit `items` longest-first and advance one bar as they finish; their results, or the
    first failure re-raised."""
    if not items:
        return []
    results = []
    items = sorted(items, key=lambda item: -item[2])
    total = sum(count(item[1]) if count else 1 for item in items)
    with progress_bar(name, total) as advance:
        pending: dict[Future, tuple] = {pool.submit(function, *args): args for function, args, _ in items}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                args = pending.pop(future)
                try:
                    results.append(future.result())
                except BaseException:
                    for other in pending:  # running units finish and keep their records
                        other.cancel()
                    raise
                for _ in range(count(args) if count else 1):
                    advance(label(args))
    return results


def exit_with_parent(poll_s: float = 1.0) -> threading.Thread:
    """Exit this process as soon as its parent is gone (a killed `bench run` leaves no orphaned
    workers pretraining on, competing for the cores and writing into the cache): a daemon thread
    polls the parent pid, which changes when the process is re-parented."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


def _init_worker(config: RunConfig, evaluate_job: Callable) -> None:
    exit_with_parent()
    limit_threads(config.threads or 1)
    set_progress_enabled(False)
    _WORKER.update(workspace=Workspace(config), evaluate=evaluate_job, tasks={})


def _pretrain_group(group: list[str], seed: int, force: bool) -> None:
    for name in group:
        _WORKER["workspace"].checkpoint(name, seed, force=force)


def _evaluate_unit(unit: list) -> list[str]:
    workspace, tasks = _WORKER["workspace"], _WORKER["tasks"]
    outcomes = []
    for job in unit:
        if job.task not in tasks:
            tasks[job.task] = TASKS.get(job.task)(workspace.config)
        outcomes.append(_WORKER["evaluate"](workspace, tasks[job.task], job))
    return outcomes
