"""`bench run --launcher slurm`: the grid's units as Slurm jobs through submitit's SlurmExecutor.

Pretraining units become one job each (an array per level of `requires`: teachers, then their
students with `afterok` on the teachers' jobs), with one process per GPU; evaluation units become
one array, an element per checkpoint, after every pretraining job (`afterany`: an element whose
checkpoint is missing fails on its own, the others run). `launcher.max_parallel` caps the running
elements of each array. Preempted or timed-out jobs are requeued by submitit (`UnitJob.checkpoint`).
sbatch options come from `launcher.slurm`, overridden per kind by `launcher.slurm.pretrain` /
`launcher.slurm.evaluate`; GPUs are requested only where the config says so or, unset, where the
job's partition has GPU nodes. sbatch refusing a job is one line naming the option (`refusal`)."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import submitit
from submitit.core.utils import FailedJobError
from submitit.slurm.slurm import _make_sbatch_string

from vlpbench.core.config import RunConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.engine.job_status import write_status
from vlpbench.engine.slurm_queries import partition_has_gpus
from vlpbench.engine.units import Unit, UnitJob


def slurm_parameters(config: RunConfig, kind: str) -> dict[str, Any]:
    """SlurmExecutor parameters of one kind of job ("pretrain" or "evaluate")."""
    value = _setting(config, kind)
    gpus = value("gpus_per_node")
    if gpus is None:  # not configured: what the partition's nodes have
        gpus = 1 if partition_has_gpus(value("partition")) else 0
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
    base = config.launcher.slurm
    if base.setup:
        parameters["setup"] = list(base.setup)
    extra = {**base.extra, **getattr(base, kind).extra}
    if extra:
        parameters["additional_parameters"] = extra
    if config.launcher.max_parallel:
        parameters["array_parallelism"] = config.launcher.max_parallel
    return parameters


def _setting(config: RunConfig, kind: str) -> Callable[[str], Any]:
    """A lookup of one `launcher.slurm` option for `kind`: its per-kind value, else the common one."""
    base, override = config.launcher.slurm, getattr(config.launcher.slurm, kind)

    def value(name: str) -> Any:
        given = getattr(override, name)
        return getattr(base, name) if given is None else given

    return value


def sbatch_options(config: RunConfig, kind: str, count: int, folder: Path) -> list[str]:
    """The `#SBATCH` lines submitit writes for an array of `count` jobs of `kind` (dependencies
    aside: their job ids exist only once submitted)."""
    parameters = {name: v for name, v in slurm_parameters(config, kind).items() if name != "setup"}
    script = _make_sbatch_string(command="", folder=folder, map_count=count if count > 1 else None, **parameters)
    return [line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH ")]


def planned_submissions(config: RunConfig, units: list[Unit], folder: Path) -> list[str]:
    """What `submit_to_slurm` would submit, one line per sbatch call: its kind, units and options."""
    pretraining = [unit for unit in units if unit.kind == "pretrain"]
    evaluations = [unit for unit in units if unit.kind == "evaluate"]
    calls = [("pretrain", level, "afterok on its teachers' jobs" if level_number else "") for level_number, level
             in enumerate(levels(pretraining))]
    if evaluations:
        calls.append(("evaluate", evaluations, "afterany on every pretraining job" if pretraining else ""))
    return [f"sbatch ({kind}, {len(batch)} job(s): {', '.join(unit.name for unit in batch)})"
            + (f" --dependency=<{after}>" if after else "") + " " + " ".join(sbatch_options(config, kind, len(batch), folder))
            for kind, batch, after in calls]


def submit_to_slurm(config: RunConfig, units: list[Unit], folder: Path) -> dict[str, str]:
    """Submit `units`; their job ids by unit name (also written into each unit's state). A job
    sbatch refuses cancels those this call already submitted and raises one line naming the option."""
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if missing:
        raise VlpbenchError(f"--launcher slurm: {' and '.join(missing)} not found on PATH (submit from a machine with "
                            "Slurm's client commands, e.g. a login node; or see README \"Try it on one machine\")")
    ids: dict[str, str] = {}
    try:
        pretraining = [unit for unit in units if unit.kind == "pretrain"]
        for level in levels(pretraining):
            after = sorted({ids[name] for unit in level for name in unit.after})  # the teachers' own elements
            _submit(config, "pretrain", level, folder, f"afterok:{':'.join(after)}" if after else None, ids)
        evaluations = [unit for unit in units if unit.kind == "evaluate"]
        if evaluations:
            after = sorted({_raw(ids[unit.name]) for unit in pretraining})
            _submit(config, "evaluate", evaluations, folder, f"afterany:{':'.join(after)}" if after else None, ids)
    except VlpbenchError as error:
        if ids:
            subprocess.run(["scancel", *sorted({_raw(job_id) for job_id in ids.values()})], capture_output=True, check=False)
            for unit in units:
                write_status(unit.status, "queued", unit=unit.name, kind=unit.kind, cells=unit.cells())
            raise VlpbenchError(f"{error} (the {len(ids)} job(s) this command had submitted are cancelled)") from None
        raise
    return ids


def _submit(config: RunConfig, kind: str, units: list[Unit], folder: Path, dependency: str | None, ids: dict[str, str]) -> None:
    executor = submitit.SlurmExecutor(folder=folder)
    parameters = slurm_parameters(config, kind)
    if dependency:
        parameters["dependency"] = dependency
    executor.update_parameters(**parameters)
    try:  # submitit prints sbatch's refusal to stderr before raising it: it is reported in one line below
        with contextlib.redirect_stderr(io.StringIO()), executor.batch():
            jobs = [executor.submit(UnitJob(unit)) for unit in units]
    except FailedJobError as error:
        raise VlpbenchError(refusal(kind, parameters, str(error))) from None
    for unit, job in zip(units, jobs):
        ids[unit.name] = job.job_id
        write_status(unit.status, "queued", unit=unit.name, kind=unit.kind, cells=unit.cells(), job_id=job.job_id,
                     launcher="slurm", stdout=str(job.paths.stdout), stderr=str(job.paths.stderr))


#: words of sbatch's refusals → the submitit parameters they are about
CULPRITS = (
    ("gres", ("gpus_per_node",)), ("gpu", ("gpus_per_node",)), ("account", ("account",)),
    ("partition", ("partition",)), ("qos", ("qos",)), ("memory", ("mem",)), ("time limit", ("time",)),
    ("dependency", ("dependency",)), ("constraint", ("constraint",)), ("feature", ("constraint",)),
    ("cpu", ("cpus_per_task",)), ("node configuration", ("cpus_per_task", "mem", "gpus_per_node")),
)

#: submitit parameters → the `launcher.slurm` option that sets them (`extra` holds the others)
SETTINGS = {"gpus_per_node": "gpus_per_node", "partition": "partition", "account": "account", "mem": "mem_gb",
            "time": "timeout_min", "cpus_per_task": "cpus_per_task"}


def refusal(kind: str, parameters: dict[str, Any], said: str) -> str:
    """One line for sbatch refusing a `kind` job: the option(s) its message is about, their values
    and where they are set, then what Slurm said."""
    lines = [line.strip() for line in said.splitlines() if "error:" in line]
    message = "; ".join(line.split("error:", 1)[1].strip() for line in lines) or " ".join(said.split())[-300:]
    options = {**parameters, **parameters.get("additional_parameters", {})}
    for word, names in CULPRITS:
        named = [name for name in names if name in options]
        if named and re.search(word, message, re.IGNORECASE):
            break
    else:
        named = [name for name in options if name not in ("setup", "additional_parameters", "array_parallelism")]
    flags = ", ".join(f"--{name.replace('_', '-')}={options[name]} ({_where(kind, name)})" for name in named)
    return f"sbatch refused the {kind} job(s): {flags}: Slurm said: {message}"


def _where(kind: str, name: str) -> str:
    if name == "dependency":
        return "set by bench"
    if name == "ntasks_per_node":
        return "launcher.pretrain_ranks"
    key = SETTINGS.get(name, f"extra.{name}")
    return f"launcher.slurm.{kind}.{key} or launcher.slurm.{key}"


def levels(units: list[Unit]) -> list[list[Unit]]:
    """Units grouped by how many `after` links lead down from them (0: none), lowest first."""
    depth: dict[str, int] = {}
    for unit in units:  # planned order puts prerequisites first
        depth[unit.name] = 1 + max((depth[name] for name in unit.after), default=-1)
    return [[unit for unit in units if depth[unit.name] == level] for level in range(max(depth.values(), default=-1) + 1)]


def _raw(job_id: str) -> str:
    """The id a dependency names: an array element's `<array id>_<index>` depends on the whole array."""
    return job_id.split("_")[0]
