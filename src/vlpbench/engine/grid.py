"""`bench run`: pretrain (or reuse) each strategy, then evaluate every (task, dataset, seed,
fraction) that has no record yet, writing each record atomically as soon as it is done.

Two runs on one results folder (or two cluster jobs) share the work: each record is claimed with
a lock next to it (`core/claims.py`) and checked again once claimed, so a record another run is
computing is skipped at first and waited for at the end, never computed twice; checkpoints are
claimed the same way (`engine/run_cache.py`)."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from vlpbench.core.atomic import sweep_stale
from vlpbench.core.checks import IMAGE_SIDE
from vlpbench.core.claims import claim
from vlpbench.core.config import GRID_EXTENDING, RunConfig, config_hash, grid_hash, plugin_options, validate_config
from vlpbench.core.console import make_console
from vlpbench.core.distributed import is_distributed, is_main_process
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.progress import progress_bar
from vlpbench.core.provenance import git_commit, package_versions
from vlpbench.core.records import append_run_log, grid_dir, make_record, read_record, record_path, write_record
from vlpbench.core.registry import DATASETS, STRATEGIES, TASKS
from vlpbench.core.seeding import seeded
from vlpbench.encoders.towers import describe_encoders
from vlpbench.engine.input_digests import refresh_input_digests
from vlpbench.engine.parallel import run_parallel
from vlpbench.engine.pretraining import peak_memory_mb
from vlpbench.engine.run_cache import Workspace, checkpoint_key
from vlpbench.models.base import is_model, model_config, model_entry, model_inputs
from vlpbench.tasks.base import Task, TaskContext


@dataclass(frozen=True)
class Job:
    """One cell of the grid: evaluate `strategy` (pretrained with run seed `pretrain_seed`) on
    `dataset` with `task`, downstream seed `seed`, training fraction `fraction`."""

    task: str
    dataset: str
    strategy: str
    seed: int
    fraction: float
    pretrain_seed: int = 0
    replicate: bool = False  # an extra downstream draw for the variance split, not a table cell


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
    models: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Run the grid of `strategies` and external `models`; returns all records of the grid (new
    and reused). A config built in code (not by `resolve_config`) is validated here, before any work."""
    validate_config(config)
    _check_data_root(config)
    refresh_input_digests()  # files may have changed since an earlier grid of this process
    jobs = plan_jobs(config, strategies, tasks, datasets, models)
    grid = grid_dir(Path(config.results_dir), config.profile, grid_hash(config))
    if is_main_process():
        sweep_stale(grid, recursive=True)  # temp records of killed runs
    todo = [job for job in jobs if force or not _is_current(_path(grid, job), record_key(config, job))]
    if config.workers > 1 and is_distributed():
        raise VlpbenchError("--workers > 1 cannot be combined with torchrun; use one or the other")
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    if config.workers > 1 and todo:
        outcomes = run_parallel(config, todo, force, partial(claim_and_evaluate, grid=grid, force=force))
    else:
        outcomes = _run_serial(config, todo, force, grid)
    if todo and is_main_process():
        computed = outcomes.count("computed")
        if computed < len(todo):
            make_console().print(f"{len(todo) - computed} of {len(todo)} record(s) computed meanwhile by another run, not repeated")
        append_run_log(grid, {
            "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "wall_time_s": round(time.perf_counter() - clock, 1),
            "records": computed, "reused": len(todo) - computed, "workers": config.workers, "threads": config.threads,
            "cpus": os.cpu_count(), "git_commit": git_commit(), "pid": os.getpid(),
        })
    return [read_record(_path(grid, job)) for job in jobs] if is_main_process() else []


def _check_data_root(config: RunConfig) -> None:
    """A `--data-root` that does not exist is an error even when every dataset is synthetic
    (where it would otherwise be ignored)."""
    root = config.eval.data_root
    if root and not Path(root).is_dir():
        raise VlpbenchError(f"eval.data_root '{root}': folder does not exist (expected the folder holding the datasets)")


def _run_serial(config: RunConfig, todo: list[Job], force: bool, grid: Path) -> list[str]:
    """Pretrain (every torchrun rank joins) then evaluate `todo` in this process (rank 0 writes);
    the outcome of each job ("computed" or "reused"). A record another run holds is skipped at
    first and waited for after the others."""
    workspace = Workspace(config)
    task_objects: dict[str, Task] = {}
    for job in todo:
        if job.task not in task_objects:
            task_objects[job.task] = TASKS.get(job.task)(config)
    for name, seed in dict.fromkeys((job.strategy, job.pretrain_seed) for job in todo):  # every rank joins pretraining
        workspace.checkpoint(name, seed, force=force)
    if not is_main_process():  # evaluation is single-process; rank 0 writes every record
        return []
    outcomes: list[str] = []
    with progress_bar("evaluate", len(todo), enabled=bool(todo)) as advance:
        deferred = []
        for wait, jobs in ((False, todo), (True, deferred)):
            for job in list(jobs):
                outcome = claim_and_evaluate(workspace, task_objects[job.task], job, grid, force, wait=wait)
                if outcome is None:
                    deferred.append(job)
                    continue
                outcomes.append(outcome)
                advance(f"{job.task} {job.dataset} {job.strategy} seed {job.seed}")
    return outcomes


def claim_and_evaluate(workspace: Workspace, task: Task, job: Job, grid: Path, force: bool, wait: bool = True) -> str | None:
    """The one evaluate-and-write path: claim the record, check again that it is still missing
    (another run may have written it meanwhile), evaluate, write. Returns "computed", "reused",
    or None when another process holds the claim and `wait` is False."""
    path = _path(grid, job)
    with claim(path, f"record {path}", wait=wait) as held:
        if not held:
            return None
        if not force and _is_current(path, record_key(workspace.config, job)):
            return "reused"
        record = _evaluate(workspace, task, job, workspace.checkpoint(job.strategy, job.pretrain_seed))
        write_record(path, record)
        return "computed"


def _path(grid: Path, job: Job) -> Path:
    return record_path(grid, job.task, job.dataset, job.strategy, job.seed, job.fraction)


def record_key(config: RunConfig, job: Job) -> str:
    """Hash of what one record depends on: its checkpoint's key, the shared evaluation protocol,
    *that* task's options, and the cell (dataset, seed, fraction). Another task's or another
    strategy's options do not enter it, nor do the settings that only add cells (seeds, fractions,
    pretraining runs, replicates): the job's own seed, pretraining run seed and replicate flag are in it."""
    evaluated = model_config(config, job.strategy) if is_model(job.strategy) else config  # a model's input size
    shared_eval = {k: v for k, v in asdict(evaluated.eval).items() if k not in GRID_EXTENDING}
    return config_hash({
        "checkpoint": checkpoint_key(config, job.strategy, job.pretrain_seed), "task": job.task,
        "options": plugin_options(config, "task", job.task), "eval": shared_eval,
        "dataset": job.dataset, "seed": job.seed, "fraction": job.fraction, "replicate": job.replicate,
    })


def _is_current(path: Path, key: str) -> bool:
    """A record exists for this cell and was computed from the same inputs."""
    return path.exists() and read_record(path).get("record_key") == key


def _evaluate(workspace: Workspace, task: Task, job: Job, checkpoint) -> dict[str, Any]:
    config = checkpoint.config or workspace.config
    if config is not workspace.config:  # an external model: the task at its input size and prompt language
        task = type(task)(config)
    external = checkpoint.meta.get("external")
    common = {
        "strategy": job.strategy, "task": job.task, "dataset": job.dataset, "seed": job.seed, "fraction": job.fraction,
        "pretrain_seed": job.pretrain_seed, "replicate": job.replicate, "profile": config.profile, "config_hash": grid_hash(config),
        "record_key": record_key(config, job), "checkpoint_hash": checkpoint.sha256,
        "corpus": workspace.corpus_summary(),
        "encoders": {"image": external["backbone"], "text": "", "proj_dim": ""} if external else describe_encoders(config.encoders),
        "pretrain": {k: checkpoint.meta.get("pretrain", {}).get(k) for k in ("wall_time_s", "peak_memory_mb", "steps")},
        "versions": package_versions(), "git_commit": git_commit(), "config": asdict(config),
        **({"weights_loaded": checkpoint.meta["weights_loaded"]} if checkpoint.meta.get("weights_loaded") else {}),
        **({"external": external} if external else {}),
    }
    if task.needs_text_tower and not checkpoint.model.has_text_tower:
        return make_record(**common, status="n/a", metrics={}, warnings=[f"{job.strategy} has no text tower"],
                           wall_time_s=0.0, peak_memory_mb=0.0)
    dataset = workspace.dataset(job.dataset, task.image_size(config))
    task.check_dataset(dataset)
    context = TaskContext(workspace.root / "cache" / job.task, checkpoint.sha256, str(workspace.device), workspace.digests)
    start = time.perf_counter()
    with seeded(job.seed):
        result = task.evaluate(checkpoint.model, dataset, job.seed, job.fraction, context)
    warnings, extra = list(result.warnings or []), result.extra
    skipped = dataset.card.get("skipped_images", 0) if isinstance(dataset.card, dict) else 0
    if skipped:  # --skip-bad-images: the record says how many images it was computed without
        warnings.append(f"{skipped} undecodable or missing image(s) of {job.dataset} skipped (--skip-bad-images)")
        extra = {**(extra or {}), "skipped_images": skipped}
    return make_record(
        **common, status="ok", metrics=result.metrics, ci=result.ci, bootstrap=result.bootstrap, warnings=warnings,
        extra=extra,
        wall_time_s=time.perf_counter() - start, peak_memory_mb=peak_memory_mb(workspace.device),
    )
