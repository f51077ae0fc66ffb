"""Arguments shared by several `bench` subcommands, and how their typed values reach the config."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from vlpbench.core.config import RunConfig, resolve_config
from vlpbench.core.threads import limit_threads


def names(value: str) -> list[str]:
    """A comma-separated list of names (`clip,wsc`); empty items are dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def floats(value: str) -> list[float]:
    """A comma-separated list of numbers (`0.01,0.1,1.0`)."""
    try:
        return [float(item) for item in names(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.1,1.0, got {value!r}") from None


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


def config_from(args: argparse.Namespace) -> RunConfig:
    """Profile → YAML → `--set`, then the typed command-line values applied to the config
    directly; `threads` is applied to every compute pool of this process."""
    config = resolve_config(args.profile, args.config, list(args.set))
    top = {"runs_dir": args.runs, "results_dir": args.results, "device": args.device,
           "workers": getattr(args, "workers", None)}
    evaluation = {"data_root": args.data_root, "seeds": getattr(args, "seeds", None),
                  "fractions": getattr(args, "fraction", None),
                  "skip_bad_images": getattr(args, "skip_bad_images", None) or None}
    config = dataclasses.replace(config, **_given(top))
    config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, **_given(evaluation)))
    if config.threads:
        limit_threads(config.threads)
    return config


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
