"""The power study of a grid: per task, the fitted variance components, the smallest difference the
printed tests detect, the pretraining runs a given difference needs, and the simulated power of the
printed tests at the grid's run count (`bench study power`).

Each task is read as its leaderboard reads it: the primary metric (the first of auc, map, dsc, iou
its records report) at label fraction 1, the strategies' own records (not released models, not
the extra downstream draws, which give the downstream variance); the power table also leaves out the
planted ladder, as the leaderboard's ranks and tests do, so the MDD it prints is the table's. (The
variance study fits `clip` with a planted rung, so it keeps them.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.power import TTestPower

from vlpbench.core.registry import STRATEGIES
from vlpbench.report.external import is_external
from vlpbench.report.planted import planted_rows
from vlpbench.report.rank_statistics import metric_values
from vlpbench.report.simulation import SIMULATED_GRIDS, simulated_power
from vlpbench.report.table_model import plugin_info, primary_metric
from vlpbench.report.variance import downstream_cell_variance
from vlpbench.report.variance_components import ALPHA, POWER, VarianceComponents, fit_components, value_cube


def task_components(records: pd.DataFrame, without_planted: bool = False) -> tuple[str, VarianceComponents] | None:
    """(primary metric, fitted components) of one task's records; None when it has no primary
    metric or too few strategies or runs to fit. `without_planted`: the leaderboard's ranked rows
    only (the planted ladder left out, as its tables do), so the MDD is the table's."""
    main, replicates = records[~records["replicate"]], records[records["replicate"]]
    metric = primary_metric(main)
    if metric is None:
        return None
    values = metric_values(main, metric)
    if without_planted:
        names = sorted(values["strategy"].unique()) if not values.empty else []
        values = values[~values["strategy"].isin(planted_rows(names, {s: plugin_info(STRATEGIES, s).tags for s in names}))]
    if values.empty:
        return None
    order = sorted(values["strategy"].unique())
    components = fit_components(value_cube(values, order)[0], downstream_cell_variance(main, replicates, metric))
    return (metric, components) if components is not None else None


def power_table(records: pd.DataFrame, delta: float = 1.0, tasks: list[str] | None = None,
                grids: int = SIMULATED_GRIDS) -> pd.DataFrame:
    """One row per task: runs and strategies, the SDs of the components, the MDD at the current
    run count (one planned comparison, and a pair under Holm over all pairs), the runs needed to
    detect `delta` at 80 % power (both ways), and the power at `delta` now: analytic for the
    planned paired t-test, simulated for it and for the Holm-adjusted pair."""
    own = records[~is_external(records)] if "external" in records else records
    rows = []
    for task in sorted(set(own["task"]) if tasks is None else tasks):
        fitted = task_components(own[own["task"] == task], without_planted=True)
        if fitted is None:
            continue
        metric, c = fitted
        pairs = c.strategies * (c.strategies - 1) // 2
        holm_alpha = ALPHA / max(pairs, 1)
        planned, holm = simulated_power(c, delta, grids=grids)
        analytic = TTestPower().power(effect_size=abs(delta) / c.sd_difference, nobs=c.runs, alpha=ALPHA) if c.sd_difference > 0 else 1.0
        rows.append({
            "task": task, "metric": metric, "strategies": c.strategies, "datasets": c.datasets, "runs": c.runs,
            "sd_pretraining_shared": np.sqrt(c.run), "sd_private": np.sqrt(c.cell), "sd_downstream": np.sqrt(c.downstream),
            "sd_interaction": np.sqrt(c.interaction), "correlation": c.correlation, "mdd": c.mdd(),
            "mdd_holm": c.mdd(alpha=holm_alpha), "delta": delta, "runs_needed": c.runs_needed(delta),
            "runs_needed_holm": c.runs_needed(delta, alpha=holm_alpha), "power_analytic": float(analytic),
            "power_simulated": planned, "power_simulated_holm": holm, "power_target": POWER, "simulated_grids": grids,
        })
    return pd.DataFrame(rows)
