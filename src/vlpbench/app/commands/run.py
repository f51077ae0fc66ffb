"""`bench run`: pretrain (cached) and evaluate strategies and released models on tasks."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.app.command_config import config_from
from vlpbench.core.distributed import init_from_env, is_main_process
from vlpbench.core.errors import VlpbenchError
from vlpbench.engine.grid import run_grid
from vlpbench.report.summary import summary_tables


def main(args: argparse.Namespace, console: Console) -> int:
    if not args.strategy and not args.model:
        raise VlpbenchError("bench run: give --strategy NAME[,NAME] and/or --model NAME[,NAME]")
    config = config_from(args)
    init_from_env()  # a no-op unless launched by torchrun
    records = run_grid(config, args.strategy or [], args.task, args.dataset, force=args.force, models=args.model,
                       dry_run=args.dry_run)
    if is_main_process():
        for table in summary_tables(records, console.width, per_seed=args.per_seed):
            console.print(table)
    return 0
