"""`bench study power --results DIR [--delta 1.0] [--task …] [--seeds N]`: per task, the pretraining runs
needed to detect a difference at 80 % power and the simulated power of the printed tests at the current
run count (`report/power.py`); with `--seeds N`, of the grid's runs 0 … N−1 alone, so a number quoted
from a grid that is still growing can be regenerated at the run count it was quoted at."""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console

from vlpbench.core.checks import expect_folder
from vlpbench.core.errors import VlpbenchError, did_you_mean
from vlpbench.core.tables import TextTable, fit
from vlpbench.report.power import power_table
from vlpbench.report.records_frame import load_records


def power_study(results: Path, delta: float, tasks: list[str] | None, console: Console, runs: int | None = None) -> int:
    """Print the power table of the grid under `results` (its runs 0 … `runs` − 1 when given)."""
    if not (math.isfinite(delta) and delta > 0):
        raise VlpbenchError(f"--delta {delta!r}: expected a positive number of metric points")
    if not results.exists():
        raise VlpbenchError(f"results folder {results} does not exist (run `bench run` first)")
    expect_folder(results, "--results")
    records = load_records(results)
    if records.empty:
        raise VlpbenchError(f"{results}: no result records (*.json or *.jsonl.gz) found")
    if runs is not None:
        seed = records["pretrain_seed"]
        records = records[seed.isna() | (seed < seed.min() + runs)]  # a released model has no run: kept
    known = set(records["task"])
    for task in tasks or []:
        if task not in known:
            raise VlpbenchError(f"--task {task!r}: no records of that task in {results}{did_you_mean(task, known)}")
    table = power_table(records, delta, tasks)
    if table.empty:
        raise VlpbenchError(f"{results}: no task with ≥ 2 strategies and ≥ 2 complete runs to study")
    view = TextTable(title=f"Power to detect Δ = {delta:g} point(s) (unit: the pretraining run; α = 0.05, 80 % power)",
                     keys=["task"], values=["runs", "MDD", "MDD Holm", f"runs for {delta:g}", "power now"],
                     caption="MDD: smallest difference detected with 80 % power by one planned paired t-test over runs "
                             "(Holm: a pair of the table under Holm over all its pairs; in brackets likewise). Power now: "
                             f"simulated, {int(table['simulated_grids'].iloc[0])} grids from the fitted components.")
    for r in table.itertuples(index=False):
        view.add_row([r.task, str(r.runs), f"{r.mdd:.2f}", f"{r.mdd_holm:.2f}", f"{r.runs_needed} ({r.runs_needed_holm})",
                      f"{100 * r.power_simulated:.0f} % ({100 * r.power_simulated_holm:.0f} %)"])
    for part in fit(view, console.width):
        console.print(part)
    console.print("Components (SD, metric points): " + "; ".join(
        f"{r.task}: pretraining shared {r.sd_pretraining_shared:.2f}, private {r.sd_private:.2f}, "
        f"strategy × dataset {r.sd_interaction:.2f}" for r in table.itertuples(index=False)), highlight=False)
    return 0
