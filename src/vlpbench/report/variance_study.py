"""The variance study's report: per candidate design of a profile and per task, the fitted variance
components, the minimum detectable difference at 5 and at 10 pretraining runs, and the cost of a
run, as a table (`variance-study.md` + `.csv`) and a figure of MDD against CPU-hours
(`variance-study.png`). A pure function of the study's records and its designs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from vlpbench.report.files import write_csv, write_text
from vlpbench.report.power import task_components
from vlpbench.report.rank_statistics import metric_name
from vlpbench.report.stat_figures import STYLE, pyplot, save_figure, tight_layout

RUNS = (5, 10)


@dataclass(frozen=True)
class Design:
    """A candidate design: its name, the `--set` overrides that make it, and its grid folder."""

    name: str
    overrides: tuple[str, ...]
    grid: str


def study_frame(records: pd.DataFrame, designs: list[Design]) -> pd.DataFrame:
    """One row per (design, task): components (SDs), MDD at 5 and 10 runs, minutes per run (one
    strategy's pretraining run plus its evaluation records, as run) and CPU-hours for 5 runs of
    every strategy studied."""
    rows = []
    for design in designs:
        grid = records[(records["profile"] + "-" + records["config_hash"]) == design.grid]
        for task, part in sorted(grid.groupby("task"), key=lambda item: item[0]):
            fitted = task_components(part)
            if fitted is None:
                continue
            metric, components = fitted
            main = part[~part["replicate"]]
            runs = components.runs * components.strategies
            pretrain = main.drop_duplicates("checkpoint_hash")["pretrain_wall_time_s"].sum()
            minutes = (pretrain + part["wall_time_s"].sum()) / runs / 60
            rows.append({
                "design": design.name, "overrides": " ".join(design.overrides) or "(profile)", "task": task, "metric": metric,
                "strategies": components.strategies, "runs": components.runs,
                "sd_pretraining_shared": np.sqrt(components.run), "sd_private": np.sqrt(components.cell),
                "sd_downstream": np.sqrt(components.downstream), "correlation": components.correlation,
                **{f"mdd_{n}": components.mdd(runs=n) for n in RUNS},
                "minutes_per_run": minutes, "cpu_hours_5_runs": minutes * 5 * components.strategies / 60,
            })
    return pd.DataFrame(rows)


def write_study(frame: pd.DataFrame, out_dir: Path, strategies: list[str]) -> list[Path]:
    """`variance-study.md`, `.csv` and `.png` under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    body = [[r.design, r.overrides, r.task, metric_name(r.metric), f"{r.sd_pretraining_shared:.2f}", f"{r.sd_private:.2f}",
             "–" if not np.isfinite(r.sd_downstream) else f"{r.sd_downstream:.2f}", f"{r.mdd_5:.2f}", f"{r.mdd_10:.2f}",
             f"{r.minutes_per_run:.2f}"] for r in frame.itertuples(index=False)]
    table = tabulate(body, headers=["design", "overrides", "task", "metric", "SD shared", "SD private", "SD downstream",
                                    "MDD 5 runs", "MDD 10 runs", "min / run"], tablefmt="github", disable_numparse=True)
    text = "\n".join([
        "# Variance study: what each design of the profile can detect, and what a run costs", "",
        f"Pilot strategies: {', '.join(f'`{s}`' for s in strategies)}, each design with the same seeds (seed k = pretraining "
        "run k). Per task: the variance components fitted from the pilot's records (SDs in metric points: the pretraining "
        "run's effect shared by its datasets, the part private to a (run, dataset) cell, of which downstream where "
        "measured), the minimum detectable difference of the dataset-averaged primary metric (one planned paired t-test "
        "over runs, α 0.05, 80 % power) at 5 and 10 runs, and the wall minutes of one strategy's run (pretraining + its "
        "evaluation records, as run). Regenerate: rerun the same `bench study variance` command (records are reused). "
        "Scale: the pilot strategies only; a grid's MDD uses every strategy's components.", "",
        table, "", "![MDD against CPU-hours](variance-study.png)",
    ])
    paths = [write_text(out_dir / "variance-study.md", text + "\n"), write_csv(out_dir / "variance-study.csv", frame)]
    paths.append(_figure(frame, out_dir / "variance-study"))
    return paths


def _figure(frame: pd.DataFrame, stem: Path) -> Path:
    """MDD at 5 runs against CPU-hours for 5 runs, one line per task through its designs."""
    matplotlib, plt = pyplot()
    with matplotlib.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(6.5, 4.0))
        for task, part in frame.groupby("task"):
            part = part.sort_values("cpu_hours_5_runs")
            axis.plot(part["cpu_hours_5_runs"], part["mdd_5"], marker="o", label=task)
            for r in part.itertuples(index=False):
                axis.annotate(r.design, (r.cpu_hours_5_runs, r.mdd_5), xytext=(3, 3), textcoords="offset points", fontsize=7)
        axis.set_xlabel("CPU-hours for 5 runs of every pilot strategy (wall, as run)")
        axis.set_ylabel("MDD at 5 runs (points)")
        axis.legend(fontsize=7)
        tight_layout(figure)
        paths = save_figure(figure, stem)
    plt.close(figure)
    return next(p for p in paths if p.suffix == ".png")
