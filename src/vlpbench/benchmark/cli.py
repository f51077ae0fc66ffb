"""The `bench` command line: a thin layer over the library. `main(argv) -> exit code`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from vlpbench import __version__
from vlpbench.benchmark.config import RunConfig, resolve_config
from vlpbench.benchmark.errors import VlpbenchError


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="quick", help="smoke | quick (default) | paper")
    parser.add_argument("--config", help="YAML file overriding the profile")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. pretrain.steps=100")
    parser.add_argument("--runs", help="run cache folder (default: runs)")
    parser.add_argument("--results", help="results folder (default: results)")
    parser.add_argument("--data-root", help="folder holding real datasets / written synthetic sets")
    parser.add_argument("--device", help="auto | cpu | cuda")


def config_from(args: argparse.Namespace, extra: list[str] | None = None) -> RunConfig:
    overrides = list(args.set) + list(extra or [])
    pairs = (("runs_dir", args.runs), ("results_dir", args.results), ("eval.data_root", args.data_root),
             ("device", args.device), ("workers", getattr(args, "workers", None)))
    for key, value in pairs:
        if value:
            overrides.append(f"{key}={value}")
    return resolve_config(args.profile, args.config, overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="vlpbench: benchmark medical vision-language pretraining strategies")
    parser.add_argument("--version", action="version", version=f"vlpbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="pretrain (cached) and evaluate strategies on tasks")
    run.add_argument("--strategy", required=True, type=_split, help="name(s), comma-separated, or 'all'")
    run.add_argument("--task", required=True, type=_split, help="name(s), comma-separated, or 'all'")
    run.add_argument("--dataset", type=_split, help="dataset name(s); default: the task's default sets")
    run.add_argument("--seeds", type=int, help="number of paired seeds (default 5)")
    run.add_argument("--fraction", type=_split, help="training fractions, e.g. 0.01,0.1,1.0")
    run.add_argument("--skip-bad-images", action="store_true", help="skip undecodable images and count them")
    run.add_argument("--force", action="store_true", help="redo pretraining and existing records")
    run.add_argument("--workers", type=int, help="worker processes of one thread each (default 1; 2 on a 2-core machine)")
    _add_config_arguments(run)

    listing = commands.add_parser("list", help="list registered strategies, tasks and datasets")
    listing.add_argument("kind", nargs="?", choices=["strategies", "tasks", "datasets"])

    labels = commands.add_parser("labels", help="expert-knowledge report converter")
    labels.add_argument("reports", nargs="?", type=Path, help="CSV of reports")
    labels.add_argument("--out", type=Path, help="output CSV (input columns + one 0/1 column per category)")
    labels.add_argument("--text-column", default="report")
    labels.add_argument("--lang", default="zh", choices=["zh", "en"])
    labels.add_argument("--text", help="convert one report and print its positive categories")

    data = commands.add_parser("data", help="write the synthetic sets to disk, or draw a contact sheet")
    data.add_argument("action", choices=["write", "preview"])
    data.add_argument("--out", type=Path, required=True)
    _add_config_arguments(data)

    board = commands.add_parser("leaderboard", help="regenerate leaderboards/*.md and *.csv from result records")
    board.add_argument("--results", type=Path, default=Path("results"))
    board.add_argument("--out", type=Path, default=Path("leaderboards"))
    board.add_argument("--correction", default="none", choices=["none", "holm"])

    new = commands.add_parser("new", help="scaffold a plugin")
    new.add_argument("kind", choices=["strategy"])
    new.add_argument("name")
    new.add_argument("--dir", type=Path, default=None, help="package folder (default: vlpbench/strategies)")
    new.add_argument("--tests", type=Path, default=Path("tests"))

    speed = commands.add_parser("speed", help="median step time per strategy on the configured encoders")
    speed.add_argument("--strategy", type=_split, default=["all"])
    speed.add_argument("--steps", type=int, default=20)
    _add_config_arguments(speed)

    study = commands.add_parser("study", help="ViLReF studies")
    study.add_argument("name", choices=["label-entropy"])
    study.add_argument("--out", type=Path, default=Path("leaderboards"))
    study.add_argument("--strategy", type=_split, default=["clip", "wsc-sa", "clip-be", "wsc", "medclip", "unicl"])
    study.add_argument("--mle", type=_split, default=["0.05", "0.075", "0.1", "0.125", "0.15"])
    study.add_argument("--workers", type=int, help="worker processes of one thread each (default 1)")
    _add_config_arguments(study)

    plot = commands.add_parser("plot", help="figures")
    plot.add_argument("name", choices=["tsne"])
    plot.add_argument("--strategy", required=True)
    plot.add_argument("--dataset", required=True)
    plot.add_argument("--out", type=Path, default=None)
    _add_config_arguments(plot)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        from vlpbench.benchmark import commands

        return getattr(commands, f"cmd_{args.command}")(args, console)
    except VlpbenchError as error:
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted; finished results are kept and the next run resumes")
        return 130


if __name__ == "__main__":
    sys.exit(main())
