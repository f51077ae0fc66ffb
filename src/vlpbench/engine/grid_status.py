"""`bench status --results DIR`: for each grid in a results folder, every cell the launched units
were to write, as done (its record exists), running (its unit's job is running), failed (its
unit failed, or its job is gone) or missing (queued, or never launched), with the unit's job id."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vlpbench.core.errors import VlpbenchError
from vlpbench.engine.job_status import effective_state, read_status

CELL_STATES = ("done", "running", "failed", "missing")


@dataclass
class UnitRow:
    """One unit of a grid: its job, state, error and how many of its cells are in each state."""

    unit: str
    job_id: str
    state: str
    error: str
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
        rows = [_unit_row(jobs.parent, path) for path in sorted(jobs.glob("*.status"))]
        grids.append(GridStatus(str(jobs.parent.relative_to(results_dir)), rows))
    return grids


def _unit_row(grid: Path, path: Path) -> UnitRow:
    status = read_status(path)
    state = effective_state(status)
    cell_state = {"running": "running", "failed": "failed"}.get(state, "missing")
    cells: dict[str, list[str]] = {}
    for cell in status.get("cells", []):
        cells.setdefault("done" if (grid / cell).exists() else cell_state, []).append(cell)
    return UnitRow(status.get("unit", path.stem), str(status.get("job_id", "")), state, status.get("error", ""), cells)
