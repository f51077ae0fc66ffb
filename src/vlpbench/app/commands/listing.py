"""`bench list`: the registered strategies, tasks, datasets and models (and the data cards)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from vlpbench.app.data_cards import write_data_cards
from vlpbench.core.checks import expect_file
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import DATASETS, MODELS, STRATEGIES, TASKS


def main(args: argparse.Namespace, console: Console) -> int:
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
