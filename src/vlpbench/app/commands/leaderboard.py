"""`bench leaderboard`: markdown, CSV, figures and the static site from result records, then
per task a terminal summary that fits the console (report/leaderboard_summary.py).

Imports only the report layer: plugin metadata comes from the plugin catalog, so a build
imports no deep-learning library (an import-linter contract keeps it so). When the catalog is
stale (a new checkout, an edited plugin), a child process imports the plugins and writes it
while this one imports the report layer and reads the records."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.core.checks import expect_folder
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES, TASKS, prefetch_infos


def main(args: argparse.Namespace, console: Console) -> int:
    if not args.results.exists():
        raise VlpbenchError(f"results folder {args.results} does not exist (run `bench run` first)")
    expect_folder(args.results, "--results")
    expect_folder(args.out, "--out")
    if args.html is not None:
        expect_folder(args.html, "--html")
    prefetch_infos(STRATEGIES, TASKS)
    from vlpbench.report.leaderboard import build_leaderboards  # noqa: PLC0415 — after the catalog child has started

    paths = build_leaderboards(args.results, args.out, correction=args.correction, baseline=args.baseline, margin=args.margin,
                               html=args.html)
    from vlpbench.report.leaderboard_summary import leaderboard_tables  # noqa: PLC0415 — with the report layer, as above

    for table in leaderboard_tables([p for p in paths if p.suffix == ".csv"], console.width):
        console.print(table)
    markdown = [p for p in paths if p.suffix == ".md"]
    for path in markdown:
        console.print(f"wrote {path}")
    others = sorted({p.suffix.lstrip(".") for p in paths} - {"md"})
    console.print(f"and {len(paths) - len(markdown)} other files ({', '.join(others)}) under {args.out}"
                  + (f" and {args.html}" if args.html is not None else ""))
    return 0
