"""`bench study`: the ViLReF studies (label entropy)."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.app.command_config import config_from
from vlpbench.app.study import label_entropy_study
from vlpbench.core.checks import expect_folder


def main(args: argparse.Namespace, console: Console) -> int:
    expect_folder(args.out, "--out")
    paths = label_entropy_study(config_from(args), args.strategy, args.mle, args.out)
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    return 0
