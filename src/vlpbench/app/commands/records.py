"""`bench records pack --results DIR --out DIR`: a grid's records as one `.jsonl.gz` per task, the
form the published records ship in (`bench leaderboard --results` reads both forms)."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.core.checks import expect_folder
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.records import pack_records


def main(args: argparse.Namespace, console: Console) -> int:
    if not args.results.exists():
        raise VlpbenchError(f"results folder {args.results} does not exist (run `bench run` first)")
    expect_folder(args.results, "--results")
    expect_folder(args.out, "--out")
    for path in pack_records(args.results, args.out):
        console.print(f"wrote {path}", highlight=False)
    return 0
