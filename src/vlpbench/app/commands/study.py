"""`bench study`: the ViLReF label-entropy study, and the power study of a grid's records."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from vlpbench.core.checks import expect_folder


def main(args: argparse.Namespace, console: Console) -> int:
    if args.name == "power":
        from vlpbench.app.power_study import power_study  # noqa: PLC0415 — reads records only: no deep-learning import

        return power_study(Path(args.results or "results"), args.delta, args.task, console, args.seeds)
    from vlpbench.app.command_config import config_from  # noqa: PLC0415 — the label-entropy and variance studies train
    if args.name == "variance":
        from vlpbench.app.variance_study import parse_designs, pilot_strategies, variance_study  # noqa: PLC0415
        from vlpbench.core.registry import TASKS  # noqa: PLC0415

        expect_folder(args.out, "--out")
        strategies = args.strategy or pilot_strategies()
        tasks = args.task or [t for t in TASKS.names() if "descriptive" not in TASKS.info(t).tags]
        paths = variance_study(config_from(args), list(args.set), strategies, tasks, parse_designs(args.design), args.out)
        for path in paths:
            console.print(f"wrote {path}", highlight=False)
        return 0
    from vlpbench.app.study import label_entropy_study  # noqa: PLC0415

    expect_folder(args.out, "--out")
    paths = label_entropy_study(config_from(args), args.strategy, args.mle, args.out)
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    return 0
