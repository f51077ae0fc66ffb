"""`bench leaderboard`: markdown, CSV, figures and the static site from result records, then
per task a terminal summary that fits the console (report/leaderboard_summary.py).

Imports only the report layer: plugin metadata comes from the plugin catalog, so a build
imports no deep-learning library (an import-linter contract keeps it so). When the catalog is
stale (a new checkout, an edited plugin), a child process imports the plugins and writes it
while this one imports the report layer and reads the records."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from vlpbench.core.checks import expect_folder
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES, TASKS, prefetch_infos
from vlpbench.core.tables import TextTable, fit


def main(args: argparse.Namespace, console: Console) -> int:
    if not args.results.exists():
        raise VlpbenchError(f"results folder {args.results} does not exist (run `bench run` first)")
    expect_folder(args.results, "--results")
    expect_folder(args.out, "--out")
    if args.html is not None:
        expect_folder(args.html, "--html")
    prefetch_infos(STRATEGIES, TASKS)
    from vlpbench.report.leaderboard import build_leaderboards  # noqa: PLC0415 — after the catalog child has started

    if args.with_published is not None and not args.with_published.is_dir():
        raise VlpbenchError(f"--with-published {args.with_published}: no such folder of published records (run from the "
                            "repository root, or name the folder)")
    paths = build_leaderboards(args.results, args.out, correction=args.correction, baseline=args.baseline, margin=args.margin,
                               html=args.html, published=args.with_published,
                               note=lambda line: console.print(line, highlight=False, soft_wrap=True))
    from vlpbench.report.leaderboard_summary import leaderboard_tables  # noqa: PLC0415 — with the report layer, as above

    for table in leaderboard_tables([p for p in paths if p.suffix == ".csv"], console.width):
        console.print(table)
    summary = args.out / "variance-components.csv"
    if summary in paths:
        for table in fit(components_table(summary), console.width):
            console.print(table)
    markdown = [p for p in paths if p.suffix == ".md"]
    for path in markdown:
        console.print(f"wrote {path}")
    others = sorted({p.suffix.lstrip(".") for p in paths} - {"md"})
    console.print(f"and {len(paths) - len(markdown)} other files ({', '.join(others)}) under {args.out}"
                  + (f" and {args.html}" if args.html is not None else ""))
    return 0


def components_table(path: Path) -> TextTable:
    """Per task: the fitted variance components (SD, metric points) and the MDD they imply."""
    frame = pd.read_csv(path)
    table = TextTable(title="What each table can detect (unit: the pretraining run)", keys=["task"],
                      values=["runs", "pretraining SD", "downstream SD", "strategy×dataset SD", "MDD", "MDD Holm"],
                      caption="SDs in metric points; pretraining SD includes the downstream part where that was not "
                              "measured. MDD: 80 % power, α = 0.05, one planned paired t-test over runs (Holm: a pair "
                              "under Holm over the table's pairs).")
    for r in frame.itertuples(index=False):
        pretraining = r.sd_pretraining if np.isfinite(r.sd_pretraining) else np.hypot(r.sd_pretraining_shared, r.sd_private)
        table.add_row([r.task, str(r.runs), f"{pretraining:.2f}", "–" if not np.isfinite(r.sd_downstream) else f"{r.sd_downstream:.2f}",
                       f"{r.sd_interaction:.2f}", f"{r.mdd:.2f}", f"{r.mdd_holm:.2f}"])
    return table
