"""`bench run --launcher local|slurm|debug`: execute the units `engine/units.py` planned; launchers
never plan. Every unit's state goes to `<grid>/jobs/` (`engine/job_status.py`, `bench status`).

- **local** — on this machine. With one slot (`--workers 1`, the default) the units run in this
  process, in plan order (also under torchrun, every rank joining pretraining); with N slots,
  N submitit local jobs (`engine/worker.py`) share the units, one thread each.
- **debug** — each unit a submitit debug job, run in this process one after another (pdb opens
  on a failure).
- **slurm** — each unit a Slurm job, submitted with its dependencies; the command returns and the
  jobs write their records into the results folder (`engine/slurm.py`)."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import submitit

from vlpbench.core.config import RunConfig
from vlpbench.core.console import make_console
from vlpbench.core.distributed import is_distributed, is_main_process
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.progress import progress_bar
from vlpbench.core.registry import STRATEGIES, TASKS
from vlpbench.engine.job_status import effective_state, read_status, stderr_tail, write_status
from vlpbench.engine.run_cache import Workspace
from vlpbench.engine.slurm import planned_submissions, submit_to_slurm
from vlpbench.engine.units import EvaluateUnit, Unit, UnitJob
from vlpbench.engine.worker import LOCAL_TIMEOUT_MIN, Worker, run_unit
from vlpbench.models.base import is_model, model_config

POLL_S = 0.5


def launch(config: RunConfig, units: list[Unit], dry_run: bool = False) -> list[str] | None:
    """Run `units` with the configured launcher: the outcome of each record ("computed" or
    "reused"), or None when they were submitted to Slurm (they finish later) or, with `dry_run`,
    only printed (with the sbatch options of each submission for Slurm)."""
    kind, slots = config.launcher.kind, local_slots(config)
    if dry_run:
        print_plan(config, units)
        return None
    if is_distributed() and (kind != "local" or slots > 1):
        raise VlpbenchError(f"--launcher {kind} with {slots} slot(s) cannot run under torchrun; "
                            "use torchrun with the default local launcher and one worker")
    if not units:
        return []
    if is_main_process():
        for unit in units:
            write_status(unit.status, "queued", unit=unit.name, kind=unit.kind, cells=unit.cells())
    folder = launcher_folder(config)
    if kind == "slurm":
        ids = submit_to_slurm(config, units, folder)
        submissions = sorted({job_id.split("_")[0] for job_id in ids.values()})
        make_console().print(f"submitted {len(ids)} Slurm job(s) in {len(submissions)} sbatch submission(s) "
                             f"({', '.join(submissions)}); they write their records into {config.results_dir}: "
                             f"follow them with `bench status --results {config.results_dir}`", soft_wrap=True, highlight=False)
        return None
    if kind == "debug":
        executor = submitit.DebugExecutor(folder=folder)
        return [outcome for unit in units for outcome in executor.submit(UnitJob(unit)).result()]
    if min(slots, len(units)) <= 1:
        workspace, ranks = Workspace(config), config.launcher.pretrain_ranks or 1
        return [outcome for unit in units for outcome in run_unit(unit, workspace, ranks, str(folder))]
    return _run_workers(config, units, min(slots, len(units)), folder)


def print_plan(config: RunConfig, units: list[Unit]) -> None:
    """`bench run --dry-run`: the units the launcher would run; nothing is started or written."""
    console = make_console()
    console.print(f"dry run: {len(units)} unit(s) for --launcher {config.launcher.kind}; nothing started", highlight=False)
    if config.launcher.kind == "slurm":
        for line in planned_submissions(config, units, launcher_folder(config)):
            console.print(line, soft_wrap=True, highlight=False, markup=False)
        return
    for unit in units:
        console.print(f"{unit.kind} {unit.name}" + (f" after {', '.join(unit.after)}" if unit.after else ""),
                      soft_wrap=True, highlight=False, markup=False)


def local_slots(config: RunConfig) -> int:
    """Units the local launcher runs at once: `--max-parallel`, else `--workers`."""
    return config.launcher.max_parallel or config.workers


def launcher_folder(config: RunConfig) -> Path:
    """Where submitit keeps its pickles and job logs (`launcher.folder`, default <runs>/launcher)."""
    return Path(config.launcher.folder or Path(config.runs_dir) / "launcher") / "%j"


def _run_workers(config: RunConfig, units: list[Unit], workers: int, folder: Path) -> list[str]:
    """`workers` local jobs sharing `units`; a progress bar until every unit is finished or every
    worker has exited; failures reported with their job's stderr tail, then raised."""
    prepare_shared(Workspace(config), units)
    executor = submitit.LocalExecutor(folder=folder)
    executor.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN)
    worker = Worker(units, os.getpid(), config.threads or 1, str(folder), config.launcher.pretrain_ranks or 1)
    with single_threaded_libraries(config.threads or 1), executor.batch():  # submitted as batch() exits
        jobs = [executor.submit(worker) for _ in range(workers)]
    try:
        _follow(units, jobs)
        while not all(job.done() for job in jobs):  # the workers exit once they find nothing left
            time.sleep(POLL_S / 5)
    except BaseException:
        for job in jobs:
            job.cancel(check=False)
        raise
    statuses = {unit.name: read_status(unit.status) for unit in units}
    failed = [unit for unit in units if effective_state(statuses[unit.name]) != "done"]
    if failed:
        report_failures(failed, statuses, [job for job in jobs if _ended_badly(job)])
    return [outcome for status in statuses.values() for outcome, count in status.get("outcomes", {}).items()
            for _ in range(count)]


@contextmanager
def single_threaded_libraries(threads: int) -> Iterator[None]:
    """Environment the worker jobs start with: every OpenMP/BLAS pool at `threads` from the start
    (`limit_threads` reaches only the libraries loaded when it runs; one loaded later with its
    default pool — scikit-learn's, scipy's — spins beside the other worker on a busy machine)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(threads) for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _ended_badly(job: submitit.Job) -> bool:
    """A worker job that was killed (no result) or raised."""
    return not job.paths.result_pickle.exists() or job.exception() is not None


def _follow(units: list[Unit], jobs: list) -> None:
    finished: set[str] = set()
    with progress_bar(f"{len(units)} units on {len(jobs)} workers", len(units)) as advance:
        while True:
            for unit in units:
                state = read_status(unit.status).get("state")
                if unit.name not in finished and state in ("done", "failed"):
                    finished.add(unit.name)
                    advance(f"{unit.name} {state}")
            if len(finished) == len(units) or all(job.done() for job in jobs):
                return
            time.sleep(POLL_S)


def report_failures(failed: list[Unit], statuses: dict[str, dict], crashed: list) -> None:
    """Print each failed unit's job id, error and stderr tail, then raise one line naming them."""
    console = make_console(stderr=True)
    for unit in failed:
        status = statuses[unit.name]
        console.print(f"{unit.name}: job {status.get('job_id', '?')} {effective_state(status)}: "
                      f"{status.get('error', 'no record of an error (killed?)')}", soft_wrap=True, highlight=False, markup=False)
        tail = stderr_tail(status)
        if tail:
            console.print(f"--- last lines of {status['stderr']} ---\n{tail}", soft_wrap=True, highlight=False, markup=False)
    for job in crashed:
        tail = "\n".join(job.paths.stderr.read_text(errors="replace").splitlines()[-15:]) if job.paths.stderr.exists() else ""
        console.print(f"worker job {job.job_id} ended without finishing; last lines of {job.paths.stderr}:\n{tail}",
                      soft_wrap=True, highlight=False, markup=False)
    raise VlpbenchError(f"{len(failed)} unit(s) did not finish ({', '.join(unit.name for unit in failed)}); finished "
                        "records are kept: fix the cause and rerun the same command (`bench status` lists the cells)")


def prepare_shared(workspace: Workspace, units: list[Unit]) -> None:
    """Build (and cache on disk) what every worker would otherwise race to build: the tokens and
    the text encoder's warm start, and the evaluation sets."""
    strategies = {unit.strategy for unit in units if not is_model(unit.strategy)}
    if any(STRATEGIES.get(name).has_text_tower for name in strategies):
        workspace.build_text_encoder()
    else:
        workspace.tokens()
    for unit in units:
        if isinstance(unit, EvaluateUnit):
            config = model_config(workspace.config, unit.strategy) if is_model(unit.strategy) else workspace.config
            for task_name, dataset in dict.fromkeys((job.task, job.dataset) for job in unit.jobs):
                workspace.dataset(dataset, TASKS.get(task_name).image_size(config))
