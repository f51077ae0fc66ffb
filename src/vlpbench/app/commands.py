"""Implementations of the `bench` subcommands (argument parsing lives in cli.py and arguments.py)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from vlpbench.app.arguments import config_from
from vlpbench.app.data import preview_synthetic, write_synthetic
from vlpbench.app.data_cards import write_data_cards
from vlpbench.app.plot import gradcam_figure, tsne_figure
from vlpbench.app.scaffold import new_strategy
from vlpbench.app.speed import speed_table
from vlpbench.app.study import label_entropy_study
from vlpbench.core.checks import expect_file, expect_folder
from vlpbench.core.distributed import init_from_env, is_main_process
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import DATASETS, MODELS, STRATEGIES, TASKS
from vlpbench.datasets.labels.converter import ReportConverter
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.datasets.labels.label_csv import label_reports_csv
from vlpbench.engine.grid import run_grid
from vlpbench.engine.grid_status import CELL_STATES, grid_statuses
from vlpbench.report.leaderboard import build_leaderboards
from vlpbench.report.summary import summary_tables


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    if not args.strategy and not args.model:
        raise VlpbenchError("bench run: give --strategy NAME[,NAME] and/or --model NAME[,NAME]")
    config = config_from(args)
    init_from_env()  # a no-op unless launched by torchrun
    records = run_grid(config, args.strategy or [], args.task, args.dataset, force=args.force, models=args.model)
    if is_main_process():
        for table in summary_tables(records):
            console.print(table)
    return 0


def cmd_status(args: argparse.Namespace, console: Console) -> int:
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
        if args.cells:
            for row in grid.units:
                for state in CELL_STATES[1:]:
                    for cell in row.cells.get(state, []):
                        console.print(f"{state:8} {cell}  ({row.unit}, job {row.job_id or '?'})", highlight=False, markup=False)
    return 0


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    if args.cards is not None and args.kind != "datasets":
        raise VlpbenchError("bench list: --cards goes with 'datasets' (bench list datasets --cards OUT.md)")
    if args.cards is not None:
        expect_file(args.cards, "--cards")
    registries = {"strategies": STRATEGIES, "tasks": TASKS, "datasets": DATASETS, "models": MODELS}
    for kind, registry in registries.items():
        if args.kind and kind != args.kind:
            continue
        table = Table(title=kind, title_justify="left")
        for column in ("name", "description", "reference"):
            table.add_column(column)
        for entry in registry.entries():
            table.add_row(entry.name, entry.description, entry.reference)
        console.print(table)
    if args.cards is not None:
        console.print(f"wrote {write_data_cards(args.cards)}", highlight=False)
    return 0


def cmd_labels(args: argparse.Namespace, console: Console) -> int:
    if args.text is not None:
        keys = ReportConverter(load_knowledge_base(args.lang)).positive_keys(args.text)
        console.print(" ".join(keys) if keys else "(no findings recognised)", highlight=False)
        return 0
    if args.reports is None or args.out is None:
        raise VlpbenchError("bench labels: give REPORTS.csv --out LABELS.csv, or --text \"report\"")
    expect_file(args.reports, "reports CSV", must_exist=True)
    expect_file(args.out, "--out")

    stats = label_reports_csv(args.reports, args.out, args.text_column, args.lang)
    console.print(f"wrote {args.out}", highlight=False)
    console.print(stats.summary(), highlight=False)
    return 0


def cmd_data(args: argparse.Namespace, console: Console) -> int:
    (expect_folder if args.action == "write" else expect_file)(args.out, "--out")
    config = config_from(args)
    if args.action == "write":
        written = write_synthetic(config, args.out)
        console.print(f"wrote {len(written)} sets under {args.out}: {', '.join(written)}", highlight=False)
    else:
        preview_synthetic(config, args.out)
        console.print(f"wrote {args.out}", highlight=False)
    return 0


def cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    if not args.results.exists():
        raise VlpbenchError(f"results folder {args.results} does not exist (run `bench run` first)")
    expect_folder(args.results, "--results")
    expect_folder(args.out, "--out")
    if args.html is not None:
        expect_folder(args.html, "--html")
    paths = build_leaderboards(args.results, args.out, correction=args.correction, baseline=args.baseline, margin=args.margin,
                               html=args.html)
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    return 0


def cmd_new(args: argparse.Namespace, console: Console) -> int:
    if args.dir is not None:
        expect_folder(args.dir, "--dir")
    expect_folder(args.tests, "--tests")
    plugin, test = new_strategy(args.name, args.dir, args.tests)
    console.print(f"wrote {plugin}\nwrote {test}", highlight=False)
    return 0


def cmd_speed(args: argparse.Namespace, console: Console) -> int:
    console.print(speed_table(config_from(args), args.strategy, args.steps))
    return 0


def cmd_study(args: argparse.Namespace, console: Console) -> int:
    expect_folder(args.out, "--out")
    paths = label_entropy_study(config_from(args), args.strategy, args.mle, args.out)
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    return 0


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    if args.out is not None:
        expect_file(args.out, "--out")
    if args.name == "gradcam":
        if not args.lesion:
            raise VlpbenchError("bench plot gradcam: --lesion is required (a lesion type of the dataset, e.g. hemorrhage)")
        path = gradcam_figure(config_from(args), args.strategy, args.dataset, args.lesion, args.images, args.out)
    elif len(args.strategy) != 1:
        raise VlpbenchError(f"bench plot tsne: --strategy takes one strategy, got {len(args.strategy)}")
    else:
        path = tsne_figure(config_from(args), args.strategy[0], args.dataset, args.out)
    console.print(f"wrote {path}", highlight=False)
    return 0
