"""A local worker: one submitit job that runs units of a grid until none is left. `--workers N`
starts N of them; they share the units through the units' state files (`engine/job_status.py`),
each unit claimed with a lock (`core/claims.py`) while it runs, so N single-threaded processes
keep N cores busy for the whole grid while paying the start-up (imports, cached data) only once.

A worker takes the first unit in plan order whose prerequisites are done and which no other
worker holds; a unit whose prerequisite failed fails too. A unit failure is recorded and the
worker goes on with the others. A killed worker's unit is taken up by the next worker that finds
its lock free (a pretraining resumes from its last saved step). A worker exits when the process
that launched it is gone (no orphans keep computing after a killed `bench run`)."""

from __future__ import annotations

import os
import threading
import time
import traceback

import submitit

from vlpbench.core.atomic import pid_alive
from vlpbench.core.claims import claim
from vlpbench.core.console import make_console
from vlpbench.core.distributed import is_distributed
from vlpbench.core.progress import set_progress_enabled
from vlpbench.core.threads import limit_threads
from vlpbench.engine.job_status import read_status, write_status
from vlpbench.engine.run_cache import Workspace
from vlpbench.engine.units import PretrainUnit, Unit, UnitJob, run_with_status

POLL_S = 0.2


class Worker(submitit.helpers.Checkpointable):
    """Run `units` (shared with the other workers) in this process with `threads` threads; `owner`
    is the launching process' pid. A pretraining unit runs as its own local job of `ranks`
    processes when `ranks` > 1 (submitit files under `folder`)."""

    def __init__(self, units: list[Unit], owner: int, threads: int, folder: str, ranks: int = 1) -> None:
        self.units, self.owner, self.threads, self.folder, self.ranks = units, owner, threads, folder, ranks

    def __call__(self) -> None:
        exit_when_gone(self.owner)
        limit_threads(self.threads)
        set_progress_enabled(False)
        workspace = Workspace(self.units[0].config)
        while (runnable := self._runnable()) is not None:
            if not any(self._try(unit, workspace) for unit in runnable):  # any() stops after the unit it ran
                time.sleep(POLL_S)

    def _runnable(self) -> list[Unit] | None:
        """Units whose prerequisites are done and which are not finished, in plan order; None when
        every unit is done or failed (a unit whose prerequisite failed is marked failed here)."""
        states = {unit.name: read_status(unit.status).get("state", "queued") for unit in self.units}
        runnable, remaining = [], False
        for unit in self.units:
            if states[unit.name] in FINISHED:
                continue
            failed = [name for name in unit.after if states.get(name) == "failed"]
            if failed:
                write_status(unit.status, "failed", error=f"its prerequisite {failed[0]} failed")
                states[unit.name] = "failed"
                continue
            remaining = True
            if all(states.get(name) == "done" for name in unit.after):
                runnable.append(unit)
        return runnable if remaining else None

    def _try(self, unit: Unit, workspace: Workspace) -> bool:
        """Run `unit` if no other worker holds it and it is still unfinished; whether it ran."""
        with claim(unit.status, unit.name, wait=False) as held:
            if not held or read_status(unit.status).get("state") in FINISHED:
                return False
            try:
                run_unit(unit, workspace, self.ranks, self.folder)
            except Exception:  # its state says failed (run_with_status); the other units go on
                make_console(stderr=True).print(f"unit {unit.name} failed:\n{traceback.format_exc()}", soft_wrap=True,
                                                highlight=False, markup=False)
            return True


FINISHED = ("done", "failed")


def run_unit(unit: Unit, workspace: Workspace, ranks: int, folder: str) -> list[str]:
    """Run `unit` here, or, a pretraining unit with `ranks` > 1 outside torchrun, as a local job
    of that many processes; the outcomes of its records."""
    if isinstance(unit, PretrainUnit) and ranks > 1 and not is_distributed():
        run_ranks(unit, ranks, folder)
        return []
    return run_with_status(unit, workspace)


def run_ranks(unit: PretrainUnit, ranks: int, folder: str) -> None:
    """Run a pretraining unit as a local job of `ranks` processes (gloo on the CPU) and wait for it."""
    executor = submitit.LocalExecutor(folder=folder)
    executor.update_parameters(tasks_per_node=ranks, timeout_min=LOCAL_TIMEOUT_MIN)
    with submitit.helpers.clean_env():
        job = executor.submit(UnitJob(unit))
    job.results()


#: local jobs run until done (submitit's default would stop them after 2 minutes)
LOCAL_TIMEOUT_MIN = 7 * 24 * 60


def exit_when_gone(pid: int, poll_s: float = 1.0) -> threading.Thread:
    """Exit this process as soon as process `pid` is gone (a killed `bench run` leaves no
    orphaned workers pretraining on, competing for the cores and writing into the cache)."""

    def watch() -> None:
        while pid_alive(pid):
            time.sleep(poll_s)
        os._exit(1)

    thread = threading.Thread(target=watch, name="exit-with-launcher", daemon=True)
    thread.start()
    return thread
