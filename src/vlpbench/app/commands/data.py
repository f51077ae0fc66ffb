"""`bench data`: write the synthetic sets to disk, draw their contact sheet, or write their data cards."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.app.command_config import config_from
from vlpbench.app.data import preview_synthetic, write_synthetic
from vlpbench.app.synthetic_cards import write_synthetic_cards
from vlpbench.core.checks import expect_file, expect_folder


def main(args: argparse.Namespace, console: Console) -> int:
    (expect_folder if args.action == "write" else expect_file)(args.out, "--out")
    config = config_from(args)
    if args.action == "write":
        written = write_synthetic(config, args.out)
        console.print(f"wrote {len(written)} sets under {args.out}: {', '.join(written)}", highlight=False)
    elif args.action == "cards":
        console.print(f"wrote {write_synthetic_cards(config, args.out)}", highlight=False)
    else:
        preview_synthetic(config, args.out)
        console.print(f"wrote {args.out}", highlight=False)
    return 0
