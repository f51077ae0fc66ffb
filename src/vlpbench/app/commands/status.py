"""`bench status`: done / running / failed / missing cells of the launched grids."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from vlpbench.engine.grid_status import CELL_STATES, grid_statuses
from vlpbench.engine.job_status import stderr_tail

TAIL_LINES = 5


def main(args: argparse.Namespace, console: Console) -> int:
    grids = grid_statuses(args.results)
    if not grids:
        console.print(f"no launched grid under {args.results} (grids run before launchers kept no job states)", highlight=False)
    for grid in grids:
        counts = grid.counts()
        console.print(f"{grid.grid}: " + ", ".join(f"{counts[state]} {state}" for state in CELL_STATES), highlight=False)
        table = Table(title_justify="left")
        for column in ("unit", "job", "state", *CELL_STATES, "error"):
            table.add_column(column)
        for row in grid.units:
            table.add_row(row.unit, row.job_id, row.state, *(str(len(row.cells.get(s, []))) for s in CELL_STATES), row.error)
        console.print(table)
        for row in grid.units:
            tail = stderr_tail({"stderr": row.stderr}, TAIL_LINES) if row.state == "failed" else ""
            if tail:
                console.print(f"{row.unit} (job {row.job_id}) failed; last lines of {row.stderr}:\n{tail}",
                              highlight=False, markup=False, soft_wrap=True)
        if args.cells:
            for row in grid.units:
                for state in CELL_STATES[1:]:
                    for cell in row.cells.get(state, []):
                        console.print(f"{state:8} {cell}  ({row.unit}, job {row.job_id or '?'})", highlight=False, markup=False)
    return 0
