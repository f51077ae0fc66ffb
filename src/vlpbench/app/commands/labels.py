"""`bench labels`: the expert-knowledge report converter."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.core.checks import expect_file
from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.labels.converter import ReportConverter
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.datasets.labels.label_csv import label_reports_csv


def main(args: argparse.Namespace, console: Console) -> int:
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
