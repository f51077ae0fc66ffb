"""`bench run`: pretrain (or reuse) each strategy, then evaluate every (task, dataset, seed,
fraction) that has no record yet, writing each record atomically as soon as it is done."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import torch

from vlpbench.benchmark.config import RunConfig, grid_hash
from vlpbench.benchmark.distributed import is_distributed, is_main_process
from vlpbench.benchmark.encoders import describe_encoders
from vlpbench.benchmark.errors import VlpbenchError
from vlpbench.benchmark.parallel import run_parallel
from vlpbench.benchmark.pretraining import peak_memory_mb
from vlpbench.benchmark.progress import progress_bar
from vlpbench.benchmark.provenance import git_commit, package_versions
from vlpbench.benchmark.registry import DATASETS, STRATEGIES, TASKS
from vlpbench.benchmark.results import append_run_log, grid_dir, make_record, read_record, record_path, write_record
from vlpbench.benchmark.workspace import Workspace
from vlpbench.tasks.base import Task, TaskContext


@dataclass(frozen=True)
class Job:
    task: str
    dataset: str
    strategy: str
    seed: int
    fraction: float


def expand(names: list[str], registry_names: list[str]) -> list[str]:
    return registry_names if names == ["all"] else names


def plan_jobs(config: RunConfig, strategies: list[str], tasks: list[str], datasets: list[str] | None) -> list[Job]:
    """Every job of the grid, validating every name before anything runs."""
    strategies = expand(strategies, STRATEGIES.names())
    tasks = expand(tasks, TASKS.names())
    for name in strategies:
        STRATEGIES.entry(name)
    jobs = []
    for task_name in tasks:
        task_class = TASKS.get(task_name)
        dataset_names = datasets or list(task_class.default_datasets)
        for name in dataset_names:
            DATASETS.entry(name)
        seeds = [0] if task_class.deterministic else list(range(config.eval.seeds))
        fractions = config.eval.fractions if task_class.uses_fractions else [1.0]
        jobs += [Job(task_name, d, s, seed, f) for d in dataset_names for s in strategies for seed in seeds for f in fractions]
    return jobs


def run_grid(
    config: RunConfig, strategies: list[str], tasks: list[str], datasets: list[str] | None = None, force: bool = False,
) -> list[dict[str, Any]]:
    """Run the grid; returns all records of the grid (new and reused)."""
    jobs = plan_jobs(config, strategies, tasks, datasets)
    grid = grid_dir(Path(config.results_dir), config.profile, grid_hash(config))
    todo = [job for job in jobs if force or not _path(grid, job).exists()]
    if config.workers < 1:
        raise VlpbenchError(f"workers: expected an integer >= 1, got {config.workers}")
    if config.workers > 1 and is_distributed():
        raise VlpbenchError("--workers > 1 cannot be combined with torchrun; use one or the other")
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    if config.workers > 1 and todo:
        run_parallel(config, todo, force, _evaluate, partial(_path, grid))
    else:
        _run_serial(config, todo, force, grid)
    if todo and is_main_process():
        append_run_log(grid, {
            "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "wall_time_s": round(time.perf_counter() - clock, 1),
            "records": len(todo), "workers": config.workers, "threads": config.threads, "cpus": os.cpu_count(),
            "git_commit": git_commit(),
        })
    return [read_record(_path(grid, job)) for job in jobs] if is_main_process() else []


def _run_serial(config: RunConfig, todo: list[Job], force: bool, grid: Path) -> None:
    """Pretrain (every torchrun rank joins) then evaluate `todo` in this process (rank 0 writes)."""
    workspace = Workspace(config)
    task_objects: dict[str, Task] = {}
    for job in todo:
        if job.task not in task_objects:
            task_objects[job.task] = TASKS.get(job.task)(config)
    for name in dict.fromkeys(job.strategy for job in todo):  # every rank joins pretraining
        workspace.checkpoint(name, force=force)
    if not is_main_process():  # evaluation is single-process; rank 0 writes every record
        return
    with progress_bar("evaluate", len(todo), enabled=bool(todo)) as advance:
        for job in todo:
            record = _evaluate(workspace, task_objects[job.task], job, workspace.checkpoint(job.strategy))
            write_record(_path(grid, job), record)
            advance(f"{job.task} {job.dataset} {job.strategy} seed {job.seed}")


def _path(grid: Path, job: Job) -> Path:
    return record_path(grid, job.task, job.dataset, job.strategy, job.seed, job.fraction)


def _evaluate(workspace: Workspace, task: Task, job: Job, checkpoint) -> dict[str, Any]:
    config = workspace.config
    common = {
        "strategy": job.strategy, "task": job.task, "dataset": job.dataset, "seed": job.seed, "fraction": job.fraction,
        "profile": config.profile, "config_hash": grid_hash(config), "checkpoint_hash": checkpoint.sha256,
        "corpus": workspace.corpus_summary(), "encoders": describe_encoders(config.encoders),
        "pretrain": {k: checkpoint.meta.get("pretrain", {}).get(k) for k in ("wall_time_s", "peak_memory_mb", "steps")},
        "versions": package_versions(), "git_commit": git_commit(), "config": asdict(config),
    }
    if task.needs_text_tower and not checkpoint.model.has_text_tower:
        return make_record(**common, status="n/a", metrics={}, warnings=[f"{job.strategy} has no text tower"],
                           wall_time_s=0.0, peak_memory_mb=0.0)
    dataset = workspace.dataset(job.dataset, task.image_size(config))
    task.check_dataset(dataset)
    context = TaskContext(workspace.root / "cache" / job.task, checkpoint.sha256, str(workspace.device))
    start = time.perf_counter()
    torch.manual_seed(job.seed)
    result = task.evaluate(checkpoint.model, dataset, job.seed, job.fraction, context)
    return make_record(
        **common, status="ok", metrics=result.metrics, ci=result.ci, bootstrap=result.bootstrap, warnings=result.warnings,
        wall_time_s=time.perf_counter() - start, peak_memory_mb=peak_memory_mb(workspace.device),
    )
