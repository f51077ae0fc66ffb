"""Arguments shared by several `bench` subcommands: their types and the config options
(`command_config.config_from` turns them into a config). Imports nothing heavy: the CLI parses
every command line with it before it knows which command runs."""

from __future__ import annotations

import argparse


def names(value: str) -> list[str]:
    """A comma-separated list of names (`clip,wsc`); empty items are dropped, but at least one
    name must remain (`--strategy ,` is an error, not an empty grid)."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected one or more comma-separated names, got {value!r}")
    return items


def floats(value: str) -> list[float]:
    """A comma-separated list of numbers (`0.01,0.1,1.0`); their ranges are the config's to check."""
    try:
        return [float(item) for item in names(value)]
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.1,1.0, got {value!r}") from None


def indices(value: str) -> list[int]:
    """A comma-separated list of indices ≥ 0 (`0,4,7`)."""
    try:
        items = [int(item) for item in names(value)]
    except (ValueError, argparse.ArgumentTypeError):
        items = [-1]
    if min(items) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated indices >= 0 such as 0,4,7, got {value!r}")
    return items


def positive_int(value: str) -> int:
    """An integer ≥ 1 (a count of steps, say)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value!r}")
    return number


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--profile/--config/--set and the run-location options every config-reading command takes."""
    parser.add_argument("--profile", default="quick", help="smoke | quick (default) | paper")
    parser.add_argument("--config", help="YAML file overriding the profile")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override, e.g. pretrain.steps=100 or strategy.wsc.queue_size=256")
    parser.add_argument("--runs", help="run cache folder (default: runs)")
    parser.add_argument("--results", help="results folder (default: results)")
    parser.add_argument("--data-root", help="folder holding real datasets / written synthetic sets")
    parser.add_argument("--device", help="auto | cpu | cuda")
