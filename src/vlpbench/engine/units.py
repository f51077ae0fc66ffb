"""The units a grid's work is split into — the shapes of its jobs — planned once for every launcher:

- **pretrain** — one per (strategy, pretraining run seed) whose checkpoint is not cached; it
  depends on the units of the strategies it `requires` (DeiT's teacher), and may run as several
  data-parallel processes (one per GPU);
- **evaluate** — one per checkpoint: all its (task, dataset, seed, fraction) cells, after the
  checkpoint's pretraining unit.

A unit runs inside any process holding a `Workspace` (`Unit.run`); `UnitJob` makes one unit a
submitit job (its own process or processes, requeued with its state on disk when preempted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import submitit
import torch.distributed as dist

from vlpbench.core.config import RunConfig
from vlpbench.core.distributed import init_from_env, is_distributed, is_main_process
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.progress import progress_bar
from vlpbench.core.registry import STRATEGIES, TASKS
from vlpbench.engine.cells import Job, cell_path, claim_and_evaluate
from vlpbench.engine.job_status import status_path, submitit_environment, this_job, write_status
from vlpbench.engine.run_cache import Workspace
from vlpbench.models.base import is_model
from vlpbench.tasks.base import Task


@dataclass(frozen=True)
class Unit:
    """What every unit shares: the run's config, the grid folder its records and state go to, --force."""

    config: RunConfig
    grid: Path
    force: bool
    after: tuple[str, ...] = ()  # names of the units that must be done first
    strategy: str = ""

    kind = ""

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def status(self) -> Path:
        return status_path(self.grid, self.name)

    def cells(self) -> list[str]:
        """The records this unit writes, relative to the grid folder."""
        return []

    def cost(self) -> float:
        """Relative cost, for longest-first scheduling."""
        return 1.0

    def run(self, workspace: Workspace) -> list[str]:
        """Do the work in this process; the outcome of each record ("computed" or "reused")."""
        raise NotImplementedError


@dataclass(frozen=True)
class PretrainUnit(Unit):
    """Pretrain `strategy` with run seed `seed` (every data-parallel rank runs it; rank 0 writes)."""

    seed: int = 0
    kind = "pretrain"

    @property
    def name(self) -> str:
        return f"pretrain-{self.strategy}-seed{self.seed}"

    def run(self, workspace: Workspace) -> list[str]:
        workspace.checkpoint(self.strategy, self.seed, force=self.force)
        return []


@dataclass(frozen=True)
class EvaluateUnit(Unit):
    """Evaluate checkpoint (`strategy`, `pretrain_seed`) on every cell in `jobs` (rank 0 only)."""

    pretrain_seed: int = 0
    jobs: tuple[Job, ...] = field(default_factory=tuple)
    kind = "evaluate"

    @property
    def name(self) -> str:
        return f"evaluate-{self.strategy}-seed{self.pretrain_seed}"

    def cells(self) -> list[str]:
        return [str(cell_path(self.grid, job).relative_to(self.grid)) for job in self.jobs]

    def cost(self) -> float:
        return sum(TASKS.entry(job.task).info.cost for job in self.jobs)

    def run(self, workspace: Workspace) -> list[str]:
        if not is_main_process():
            return []
        if not workspace.has_checkpoint(self.strategy, self.pretrain_seed):
            raise VlpbenchError(f"checkpoint {self.strategy} (seed {self.pretrain_seed}) is missing from "
                                f"{workspace.root}: its pretraining job did not finish (see `bench status`)")
        tasks: dict[str, Task] = {}
        outcomes: list[str] = []
        with progress_bar(f"evaluate {self.strategy} (seed {self.pretrain_seed})", len(self.jobs)) as advance:
            deferred: list[Job] = []  # cells another run holds: waited for after the others
            for wait, jobs in ((False, list(self.jobs)), (True, deferred)):
                for job in jobs:
                    task = tasks.setdefault(job.task, TASKS.get(job.task)(workspace.config))
                    outcome = claim_and_evaluate(workspace, task, job, self.grid, self.force, wait=wait)
                    if outcome is None:
                        deferred.append(job)
                        continue
                    outcomes.append(outcome)
                    advance(f"{job.task} {job.dataset} seed {job.seed}")
        return outcomes


def plan_units(config: RunConfig, todo: list[Job], grid: Path, force: bool) -> list[Unit]:
    """The units of `todo`, each after the units it depends on: one evaluation per checkpoint
    whose checkpoint is cached (longest first), then each pretraining the cells need (and what it
    requires) followed by its checkpoint's evaluation. Workers take the first runnable unit, so a
    checkpoint is evaluated as soon as it is trained and an interrupted grid leaves whole
    (checkpoint, records) pairs behind, not trained checkpoints without records. Pretraining goes
    run by run (every strategy's run k before any run k + 1)."""
    workspace = Workspace(config)
    forced = {(job.strategy, job.pretrain_seed) for job in todo} if force else set()
    pretraining: dict[tuple[str, int], PretrainUnit] = {}

    def add(strategy: str, seed: int) -> None:
        if (strategy, seed) in pretraining or is_model(strategy):  # a released model is loaded, not trained
            return
        for required in STRATEGIES.get(strategy).requires:
            add(required, seed)
        if (strategy, seed) in forced or not workspace.has_checkpoint(strategy, seed):
            after = tuple(pretraining[(r, seed)].name for r in STRATEGIES.get(strategy).requires if (r, seed) in pretraining)
            pretraining[(strategy, seed)] = PretrainUnit(config, grid, (strategy, seed) in forced, after, strategy, seed)

    cells: dict[tuple[str, int], list[Job]] = {}
    for job in todo:
        cells.setdefault((job.strategy, job.pretrain_seed), []).append(job)
    for strategy, seed in cells:
        add(strategy, seed)
    evaluations = {
        key: EvaluateUnit(config, grid, force, (pretraining[key].name,) if key in pretraining else (), key[0], key[1], tuple(jobs))
        for key, jobs in cells.items()
    }
    ready = sorted((unit for key, unit in evaluations.items() if key not in pretraining), key=lambda unit: -unit.cost())
    # run-major (stable within a run, so teachers stay first): a grid extended to more runs and
    # stopped part-way leaves every strategy with the same number of runs, a grid that can be scored
    trained = sorted(pretraining.items(), key=lambda item: item[0][1])
    return [*ready, *(unit for key, pretrain in trained for unit in (pretrain, evaluations.get(key)) if unit)]


class UnitJob(submitit.helpers.Checkpointable):
    """One unit as a submitit job. Several processes of one job (one per GPU) join one process
    group first (submitit's distributed environment). Preempted or timed out, submitit calls
    `checkpoint`, which resubmits the same unit: its records and resume state are on disk."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    def __call__(self) -> list[str]:
        joined = join_job_processes()
        try:
            return run_with_status(self.unit, Workspace(self.unit.config))
        finally:
            if joined:
                dist.destroy_process_group()


def join_job_processes() -> bool:
    """Initialise the process group when this job runs as several processes; whether it did."""
    environment = submitit_environment()
    if environment is None or environment.num_tasks < 2 or is_distributed():
        return False
    submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    return init_from_env()


def run_with_status(unit: Unit, workspace: Workspace) -> list[str]:
    """`unit.run`, its state written before and after (by rank 0); a failure is recorded with its
    error and raised again."""
    main = is_main_process()
    if main:
        write_status(unit.status, "running", **this_job())
    try:
        outcomes = unit.run(workspace)
    except Exception as error:
        if main:
            write_status(unit.status, "failed", error=f"{type(error).__name__}: {error}".splitlines()[0])
        raise
    if main:
        write_status(unit.status, "done", outcomes={"computed": outcomes.count("computed"), "reused": outcomes.count("reused")})
    return outcomes
