"""`bench run --launcher slurm`: the grid's units as Slurm jobs through submitit's SlurmExecutor.

Pretraining units become one job each (an array per level of `requires`: teachers, then their
students with `afterok` on the teachers' jobs), with one process per GPU; evaluation units become
one array, an element per checkpoint, after every pretraining job (`afterany`: an element whose
checkpoint is missing fails on its own, the others run). `launcher.max_parallel` caps the running
elements of each array. Preempted or timed-out jobs are requeued by submitit (`UnitJob.checkpoint`).
sbatch options come from `launcher.slurm`, overridden per kind by `launcher.slurm.pretrain` /
`launcher.slurm.evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import submitit

from vlpbench.core.config import RunConfig
from vlpbench.engine.job_status import write_status
from vlpbench.engine.units import Unit, UnitJob

KINDS = ("pretrain", "evaluate")


def slurm_parameters(config: RunConfig, kind: str) -> dict[str, Any]:
    """SlurmExecutor parameters of one kind of job ("pretrain" or "evaluate")."""
    base, override = config.launcher.slurm, getattr(config.launcher.slurm, kind)

    def value(name: str) -> Any:
        given = getattr(override, name)
        return getattr(base, name) if given is None else given

    gpus = value("gpus_per_node")
    ranks = (config.launcher.pretrain_ranks or max(1, gpus)) if kind == "pretrain" else 1
    parameters: dict[str, Any] = {
        "job_name": f"vlpbench-{kind}", "time": value("timeout_min"), "nodes": 1, "ntasks_per_node": ranks,
        "cpus_per_task": value("cpus_per_task"),
    }
    if gpus:
        parameters["gpus_per_node"] = gpus
    for name in ("partition", "account"):
        if value(name):
            parameters[name] = value(name)
    if value("mem_gb"):
        memory = value("mem_gb")
        parameters["mem"] = f"{int(memory)}GB" if memory == int(memory) else f"{int(memory * 1024)}MB"
    if base.setup:
        parameters["setup"] = list(base.setup)
    extra = {**base.extra, **override.extra}
    if extra:
        parameters["additional_parameters"] = extra
    if config.launcher.max_parallel:
        parameters["array_parallelism"] = config.launcher.max_parallel
    return parameters


def submit_to_slurm(config: RunConfig, units: list[Unit], folder: Path) -> dict[str, str]:
    """Submit `units`; their job ids by unit name (also written into each unit's state)."""
    ids: dict[str, str] = {}
    pretraining = [unit for unit in units if unit.kind == "pretrain"]
    for level in _levels(pretraining):
        after = sorted({ids[name] for unit in level for name in unit.after})  # the teachers' own elements
        _submit(config, "pretrain", level, folder, f"afterok:{':'.join(after)}" if after else None, ids)
    evaluations = [unit for unit in units if unit.kind == "evaluate"]
    if evaluations:
        after = sorted({_raw(ids[unit.name]) for unit in pretraining})
        _submit(config, "evaluate", evaluations, folder, f"afterany:{':'.join(after)}" if after else None, ids)
    return ids


def _submit(config: RunConfig, kind: str, units: list[Unit], folder: Path, dependency: str | None, ids: dict[str, str]) -> None:
    executor = submitit.SlurmExecutor(folder=folder)
    parameters = slurm_parameters(config, kind)
    if dependency:
        parameters["dependency"] = dependency
    executor.update_parameters(**parameters)
    with executor.batch():
        jobs = [executor.submit(UnitJob(unit)) for unit in units]
    for unit, job in zip(units, jobs):
        ids[unit.name] = job.job_id
        write_status(unit.status, "queued", unit=unit.name, kind=unit.kind, cells=unit.cells(), job_id=job.job_id,
                     stdout=str(job.paths.stdout), stderr=str(job.paths.stderr))


def _levels(units: list[Unit]) -> list[list[Unit]]:
    """Units grouped by how many `after` links lead down from them (0: none), lowest first."""
    depth: dict[str, int] = {}
    for unit in units:  # planned order puts prerequisites first
        depth[unit.name] = 1 + max((depth[name] for name in unit.after), default=-1)
    return [[unit for unit in units if depth[unit.name] == level] for level in range(max(depth.values(), default=-1) + 1)]


def _raw(job_id: str) -> str:
    """The id a dependency names: an array element's `<array id>_<index>` depends on the whole array."""
    return job_id.split("_")[0]
