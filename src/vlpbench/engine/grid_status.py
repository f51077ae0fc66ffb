"""`bench status --results DIR`: for each grid in a results folder, every cell the launched units
were to write, as done (its record exists), running (its unit's job is running), failed (its
unit failed, or its job is gone) or missing (queued, or never launched), with the unit's job id.
A Slurm job's unit whose state file is silent (queued or running) takes Slurm's word for it
(`engine/slurm_queries.py`): pending with its reason, running, or ended without writing its state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vlpbench.core.errors import VlpbenchError
from vlpbench.engine.job_status import effective_state, read_status
from vlpbench.engine.slurm_queries import SlurmJob, job_states

CELL_STATES = ("done", "running", "failed", "missing")


@dataclass
class UnitRow:
    """One unit of a grid: its job, state, error and how many of its cells are in each state."""

    unit: str
    job_id: str
    state: str
    error: str
    stderr: str = ""  # the job's stderr log
    cells: dict[str, list[str]] = field(default_factory=dict)  # cell state → cells (relative record paths)


@dataclass
class GridStatus:
    grid: str
    units: list[UnitRow]

    def counts(self) -> dict[str, int]:
        return {state: sum(len(row.cells.get(state, [])) for row in self.units) for state in CELL_STATES}


def grid_statuses(results_dir: Path) -> list[GridStatus]:
    """The status of every launched grid under `results_dir` (a grid folder with a `jobs/` folder)."""
    if not results_dir.is_dir():
        raise VlpbenchError(f"--results {results_dir}: folder does not exist (expected a results folder of `bench run`)")
    grids = []
    for jobs in sorted(results_dir.rglob("jobs")):
        if not jobs.is_dir():
            continue
        statuses = {path: read_status(path) for path in sorted(jobs.glob("*.status"))}
        slurm = job_states([s["job_id"] for s in statuses.values() if _asks_slurm(s)])
        rows = [_unit_row(jobs.parent, path, status, slurm) for path, status in statuses.items()]
        grids.append(GridStatus(str(jobs.parent.relative_to(results_dir)), rows))
    return grids


def _asks_slurm(status: dict) -> bool:
    """A Slurm job's unit whose own state does not say how it ended."""
    return status.get("launcher") == "slurm" and bool(status.get("job_id")) and status.get("state") in ("queued", "running")


def _unit_row(grid: Path, path: Path, status: dict, slurm: dict[str, SlurmJob]) -> UnitRow:
    state, error = effective_state(status), status.get("error", "")
    job = slurm.get(status.get("job_id", "")) if _asks_slurm(status) else None
    if job is not None:
        state, error = _slurm_state(job)
    cell_state = {"running": "running", "failed": "failed"}.get(state, "missing")
    cells: dict[str, list[str]] = {}
    for cell in status.get("cells", []):
        cells.setdefault("done" if (grid / cell).exists() else cell_state, []).append(cell)
    return UnitRow(status.get("unit", path.stem), str(status.get("job_id", "")), state, error, status.get("stderr", ""), cells)


def _slurm_state(job: SlurmJob) -> tuple[str, str]:
    """The unit's state and error from its Slurm job, when the unit's own state is silent."""
    if job.running:
        return "running", ""
    if job.waiting:
        if job.detail == "DependencyNeverSatisfied":
            return "failed", "a job it depends on failed (Slurm: DependencyNeverSatisfied)"
        return "queued", f"Slurm: {job.state}" + (f" ({job.detail})" if job.detail else "")
    return "failed", f"Slurm job {job.job_id} ended {job.state}" + (f" ({job.detail})" if job.detail else "") + \
        " without writing the unit's state (killed: scancel, out of memory, time limit, node failure?)"
