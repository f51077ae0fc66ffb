"""One cell of a grid (`Job`) and the one evaluate-and-write path every launcher runs: claim the
record, check it is still missing, evaluate, write it atomically (`claim_and_evaluate`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vlpbench.core.claims import claim
from vlpbench.core.config import RunConfig, config_hash, grid_hash, hashed_eval, plugin_options
from vlpbench.core.provenance import git_commit, package_versions
from vlpbench.core.records import make_record, read_record, record_path, write_record
from vlpbench.core.seeding import seeded
from vlpbench.encoders.towers import describe_encoders
from vlpbench.engine.pretraining import peak_memory_mb
from vlpbench.engine.run_cache import Workspace, checkpoint_key
from vlpbench.models.base import is_model, model_config
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


def claim_and_evaluate(workspace: Workspace, task: Task, job: Job, grid: Path, force: bool, wait: bool = True) -> str | None:
    """The one evaluate-and-write path: claim the record, check again that it is still missing
    (another run may have written it meanwhile), evaluate, write. Returns "computed", "reused",
    or None when another process holds the claim and `wait` is False."""
    path = cell_path(grid, job)
    with claim(path, f"record {path}", wait=wait) as held:
        if not held:
            return None
        if not force and is_current(path, record_key(workspace.config, job)):
            return "reused"
        record = _evaluate(workspace, task, job, workspace.checkpoint(job.strategy, job.pretrain_seed))
        write_record(path, record)
        return "computed"


def cell_path(grid: Path, job: Job) -> Path:
    return record_path(grid, job.task, job.dataset, job.strategy, job.seed, job.fraction)


def record_key(config: RunConfig, job: Job) -> str:
    """Hash of what one record depends on: its checkpoint's key, the shared evaluation protocol,
    *that* task's options, and the cell (dataset, seed, fraction). Another task's or another
    strategy's options do not enter it, nor do the settings that only add cells (seeds, fractions,
    pretraining runs, replicates): the job's own seed, pretraining run seed and replicate flag are in it."""
    evaluated = model_config(config, job.strategy) if is_model(job.strategy) else config  # a model's input size
    shared_eval = hashed_eval(evaluated.eval)
    return config_hash({
        "checkpoint": checkpoint_key(config, job.strategy, job.pretrain_seed), "task": job.task,
        "options": plugin_options(config, "task", job.task), "eval": shared_eval,
        "dataset": job.dataset, "seed": job.seed, "fraction": job.fraction, "replicate": job.replicate,
    })


def is_current(path: Path, key: str) -> bool:
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
        "pretrain": {**{k: checkpoint.meta.get("pretrain", {}).get(k) for k in ("wall_time_s", "peak_memory_mb", "steps")},
                     "text_zero_shot_auc": checkpoint.meta.get("text_zero_shot_auc")},
        "versions": package_versions(), "git_commit": git_commit(), "config": asdict(config),
        **({"weights_loaded": checkpoint.meta["weights_loaded"]} if checkpoint.meta.get("weights_loaded") else {}),
        **({"external": external} if external else {}),
    }
    if (reason := task.not_applicable(checkpoint.model)) is not None:
        return make_record(**common, status="n/a", metrics={}, warnings=[f"{job.strategy} {reason}"],
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
