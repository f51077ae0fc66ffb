"""`bench records pack --results DIR --out DIR`: a grid's records as one `.jsonl.gz` per task, the
form the published records ship in (`bench leaderboard --results` reads both forms);
`bench records unpack --packed DIR --results DIR`: back to one file per record, so that a grid
resumes from shipped records on another machine."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.core.checks import expect_folder
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.records import pack_records, unpack_records


def main(args: argparse.Namespace, console: Console) -> int:
    if args.action == "unpack":
        if args.packed is None:
            raise VlpbenchError("bench records unpack: --packed DIR (the packed records, e.g. leaderboards/records) is required")
        expect_folder(args.packed, "--packed")
        expect_folder(args.results, "--results")
        written, kept = unpack_records(args.packed, args.results)
        console.print(f"unpacked {written} records into {args.results} ({kept} already there, kept)", highlight=False, soft_wrap=True)
        return 0
    if args.out is None:
        raise VlpbenchError("bench records pack: --out DIR (where the packed records go) is required")
    if not args.results.exists():
        raise VlpbenchError(f"results folder {args.results} does not exist (run `bench run` first)")
    expect_folder(args.results, "--results")
    expect_folder(args.out, "--out")
    for path in pack_records(args.results, args.out):
        console.print(f"wrote {path}", highlight=False)
    return 0
