"""Implementations of the `bench` subcommands (argument parsing lives in cli.py)."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.benchmark.cli import config_from
from vlpbench.benchmark.config import RunConfig
from vlpbench.benchmark.errors import VlpbenchError
from vlpbench.benchmark.registry import DATASETS, STRATEGIES, TASKS


def _config(args: argparse.Namespace, extra: list[str] | None = None) -> RunConfig:
    """The resolved config, with `threads` applied to every compute pool of this process."""
    config = config_from(args, extra)
    if config.threads:
        from vlpbench.benchmark.threads import limit_threads

        limit_threads(config.threads)
    return config


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from vlpbench.benchmark.distributed import init_from_env, is_main_process
    from vlpbench.benchmark.runner import run_grid
    from vlpbench.benchmark.summary import summary_tables

    extra = []
    if args.seeds is not None:
        extra.append(f"eval.seeds={args.seeds}")
    if args.fraction:
        extra.append(f"eval.fractions=[{','.join(args.fraction)}]")
    if args.skip_bad_images:
        extra.append("eval.skip_bad_images=true")
    config = _config(args, extra)
    init_from_env()  # a no-op unless launched by torchrun
    records = run_grid(config, args.strategy, args.task, args.dataset, force=args.force)
    if is_main_process():
        for table in summary_tables(records):
            console.print(table)
    return 0


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    registries = {"strategies": STRATEGIES, "tasks": TASKS, "datasets": DATASETS}
    for kind, registry in registries.items():
        if args.kind and kind != args.kind:
            continue
        table = Table(title=kind, title_justify="left")
        for column in ("name", "description", "reference"):
            table.add_column(column)
        for entry in registry.entries():
            table.add_row(entry.name, entry.description, entry.reference)
        console.print(table)
    return 0


def cmd_labels(args: argparse.Namespace, console: Console) -> int:
    from vlpbench.datasets.converter import ReportConverter
    from vlpbench.datasets.knowledge_base import load_knowledge_base

    if args.text is not None:
        keys = ReportConverter(load_knowledge_base(args.lang)).positive_keys(args.text)
        console.print(" ".join(keys) if keys else "(no findings recognised)", highlight=False)
        return 0
    if args.reports is None or args.out is None:
        raise VlpbenchError("bench labels: give REPORTS.csv --out LABELS.csv, or --text \"report\"")
    from vlpbench.datasets.label_csv import label_reports_csv

    stats = label_reports_csv(args.reports, args.out, args.text_column, args.lang)
    console.print(f"wrote {args.out}", highlight=False)
    console.print(stats.summary() if hasattr(stats, "summary") else str(stats), highlight=False)
    return 0


def cmd_data(args: argparse.Namespace, console: Console) -> int:
    from vlpbench.datasets.synthetic.disk import preview_synthetic, write_synthetic

    config = _config(args)
    if args.action == "write":
        written = write_synthetic(config, args.out)
        console.print(f"wrote {len(written)} sets under {args.out}: {', '.join(written)}", highlight=False)
    else:
        preview_synthetic(config, args.out)
        console.print(f"wrote {args.out}", highlight=False)
    return 0


def cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    from vlpbench.benchmark.leaderboard import build_leaderboards

    if not args.results.is_dir():
        raise VlpbenchError(f"results folder {args.results} does not exist (run `bench run` first)")
    paths = build_leaderboards(args.results, args.out, correction=args.correction)
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    return 0


def cmd_new(args: argparse.Namespace, console: Console) -> int:
    from vlpbench.benchmark.scaffold import new_strategy

    plugin, test = new_strategy(args.name, args.dir, args.tests)
    console.print(f"wrote {plugin}\nwrote {test}", highlight=False)
    return 0


def cmd_speed(args: argparse.Namespace, console: Console) -> int:
    from vlpbench.benchmark.speed import speed_table

    console.print(speed_table(_config(args), args.strategy, args.steps))
    return 0


def cmd_study(args: argparse.Namespace, console: Console) -> int:
    from vlpbench.benchmark.studies import label_entropy_study

    paths = label_entropy_study(_config(args), args.strategy, [float(m) for m in args.mle], args.out)
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    return 0


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    from vlpbench.benchmark.figures import tsne_figure

    path = tsne_figure(_config(args), args.strategy, args.dataset, args.out)
    console.print(f"wrote {path}", highlight=False)
    return 0
