"""`bench new`: scaffold a strategy plugin and its test."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.app.scaffold import new_strategy
from vlpbench.core.checks import expect_folder


def main(args: argparse.Namespace, console: Console) -> int:
    if args.dir is not None:
        expect_folder(args.dir, "--dir")
    expect_folder(args.tests, "--tests")
    plugin, test = new_strategy(args.name, args.dir, args.tests)
    console.print(f"wrote {plugin}\nwrote {test}", highlight=False)
    return 0
