"""`bench status`: done / running / failed / missing cells of the launched grids.

Per grid, a title line with the cell counts, then one row per unit (its job, its state and how
many of its cells are done) in a table that fits the console with every unit name whole; a column
every unit shares the value of (the state, no job ids) is said in the title instead. Errors
follow the table, one line per failed unit, wrapped at spaces."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.core.console import printable
from vlpbench.core.tables import TextTable, fit
from vlpbench.engine.grid_status import CELL_STATES, GridStatus, grid_statuses
from vlpbench.engine.job_status import stderr_tail

TAIL_LINES = 5


def status_table(grid: GridStatus) -> TextTable:
    """One grid's units as a `TextTable` (constant columns folded into the title)."""
    counts = grid.counts()
    title = [f"{grid.grid}: " + ", ".join(f"{counts[state]} {state}" for state in CELL_STATES)]
    states = {row.state for row in grid.units}
    show_state = len(states) > 1
    show_job = any(row.job_id for row in grid.units)
    if not show_state and states:
        title.append(f"every unit {next(iter(states))}")
    if not show_job:
        title.append("no job ids")
    table = TextTable(title=" · ".join(title), keys=["unit"] + (["job"] if show_job else []),
                      values=(["state"] if show_state else []) + ["cells done"])
    for row in grid.units:
        total = sum(len(cells) for cells in row.cells.values())
        table.add_row([row.unit, *([row.job_id] if show_job else []), *([row.state] if show_state else []),
                       f"{len(row.cells.get('done', []))}/{total}" if total else "–"])
    return table


def main(args: argparse.Namespace, console: Console) -> int:
    grids = grid_statuses(args.results)
    if not grids:
        console.print(f"no launched grid under {args.results} (grids run before launchers kept no job states)")
    for grid in grids:
        for part in fit(status_table(grid), console.width):
            console.print(part)
        for row in grid.units:
            if row.error:
                console.print(f"{row.unit} (job {row.job_id or '?'}): {printable(row.error)}")
            tail = stderr_tail({"stderr": row.stderr}, TAIL_LINES) if row.state == "failed" else ""
            if tail:
                console.print(f"{row.unit} (job {row.job_id}) failed; last lines of {row.stderr}:\n{tail}",
                              highlight=False, markup=False, soft_wrap=True)
        if args.cells:
            for row in grid.units:
                for state in CELL_STATES[1:]:
                    for cell in row.cells.get(state, []):
                        console.print(f"{state:8} {cell}  ({row.unit}, job {row.job_id or '?'})")
    return 0
