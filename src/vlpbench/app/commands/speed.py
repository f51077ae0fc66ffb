"""`bench speed`: median step time per strategy."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.app.command_config import config_from
from vlpbench.app.speed import speed_table


def main(args: argparse.Namespace, console: Console) -> int:
    console.print(speed_table(config_from(args), args.strategy, args.steps))
    return 0
