"""The `bench` command line: a thin layer over the library. `main(argv) -> exit code`.

One parser function per subcommand; each subcommand's work is `main` of its module in
`app/commands/` (`COMMAND_MODULES`), imported only when that subcommand runs. Defaults
of configuration values live only in the config schema and the plugins' `Options`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import typing
from pathlib import Path

from vlpbench._version import __version__
from vlpbench.app.arguments import add_config_arguments, floats, indices, names, positive_int
from vlpbench.core.console import make_console, print_error
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES

Subparsers = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _run_parser(commands_: Subparsers) -> None:
    run = commands_.add_parser("run", help="pretrain (cached) and evaluate strategies on tasks")
    run.add_argument("--strategy", type=names, help="name(s), comma-separated, or 'all'")
    run.add_argument("--model", type=names, help="released model(s) scored as they are, e.g. retfound-mae,flair (docs/models.md)")
    run.add_argument("--task", required=True, type=names, help="name(s), comma-separated, or 'all'")
    run.add_argument("--dataset", type=names, help="dataset name(s); default: the task's default sets")
    run.add_argument("--seeds", type=int, help="number of paired seeds (default: eval.seeds)")
    run.add_argument("--fraction", type=floats, help="training fractions, e.g. 0.01,0.1,1.0")
    run.add_argument("--skip-bad-images", action="store_true", help="skip undecodable images and count them")
    run.add_argument("--force", action="store_true", help="redo pretraining and existing records")
    run.add_argument("--per-seed", action="store_true",
                     help="summary: a column per seed besides mean ± SD (default: only when the terminal is wide enough)")
    run.add_argument("--workers", type=int, help="worker processes of one thread each (default 1; 2 on a 2-core machine)")
    run.add_argument("--launcher", help="local (default: this machine), slurm (submit jobs through submitit) or debug "
                                        "(in this process, pdb on failure)")
    run.add_argument("--dry-run", action="store_true", help="print the units (for slurm: the sbatch options of each "
                                                            "submission) and start nothing")
    run.add_argument("--max-parallel", type=int, help="jobs running at once (local: like --workers; slurm: array elements)")
    add_config_arguments(run)


def _list_parser(commands_: Subparsers) -> None:
    listing = commands_.add_parser("list", help="list registered strategies, tasks and datasets")
    listing.add_argument("kind", nargs="?", choices=["strategies", "tasks", "datasets", "models"])
    listing.add_argument("--cards", type=Path, metavar="OUT.md",
                         help="with 'datasets': write the public datasets' data cards as markdown to OUT.md")


def _labels_parser(commands_: Subparsers) -> None:
    labels = commands_.add_parser("labels", help="expert-knowledge report converter")
    labels.add_argument("reports", nargs="?", type=Path, help="CSV of reports")
    labels.add_argument("--out", type=Path, help="output CSV (input columns + one 0/1 column per category)")
    labels.add_argument("--text-column", default="report")
    labels.add_argument("--lang", default="zh", choices=["zh", "en"])
    labels.add_argument("--text", help="convert one report and print its positive categories")


def _data_parser(commands_: Subparsers) -> None:
    data = commands_.add_parser("data", help="write the synthetic sets to disk, draw a contact sheet, or write their data cards")
    data.add_argument("action", choices=["write", "preview", "cards"])
    data.add_argument("--out", type=Path, required=True)
    add_config_arguments(data)


def _leaderboard_parser(commands_: Subparsers) -> None:
    board = commands_.add_parser("leaderboard", help="regenerate leaderboards/*.md and *.csv from result records")
    board.add_argument("--results", type=Path, default=Path("results"))
    board.add_argument("--out", type=Path, default=Path("leaderboards"))
    board.add_argument("--correction", default="holm", choices=["none", "holm"],
                       help="multiple-comparison correction of the † marks across the rows of each column (default holm)")
    board.add_argument("--baseline", default="clip",
                       help="strategy the footer's Δ [95 %% CI], TOST verdict and win rate compare against (default clip)")
    board.add_argument("--margin", type=float, default=1.0,
                       help="TOST equivalence margin against the baseline, in metric points (default 1.0)")
    board.add_argument("--with-published", type=Path, nargs="?", const=Path("leaderboards/records"), default=None,
                       metavar="DIR", help="merge the published records (default leaderboards/records) with those of "
                                           "--results where the protocol matches; each group left out is said in one line")
    board.add_argument("--html", type=Path, default=None, metavar="SITE",
                       help="also write a static HTML leaderboard (sortable tables, figures, CSV downloads) into the "
                            "folder SITE; it opens from disk, no server or network needed")


def _records_parser(commands_: Subparsers) -> None:
    records = commands_.add_parser("records", help="pack a grid's result records into one .jsonl.gz per task (as shipped), "
                                   "or unpack shipped records so a grid resumes from them")
    records.add_argument("action", choices=["pack", "unpack"])
    records.add_argument("--results", type=Path, default=Path("results"))
    records.add_argument("--out", type=Path, default=None, help="pack: where the packed records go")
    records.add_argument("--packed", type=Path, default=None, help="unpack: the packed records (e.g. leaderboards/records)")


def _new_parser(commands_: Subparsers) -> None:
    new = commands_.add_parser("new", help="scaffold a plugin")
    new.add_argument("kind", choices=["strategy"])
    new.add_argument("name")
    new.add_argument("--dir", type=Path, default=None, help="package folder (default: vlpbench/strategies)")
    new.add_argument("--tests", type=Path, default=Path("tests"))


def _speed_parser(commands_: Subparsers) -> None:
    speed = commands_.add_parser("speed", help="median step time per strategy on the configured encoders")
    speed.add_argument("--strategy", type=names, default=["all"])
    speed.add_argument("--steps", type=positive_int, default=20)
    add_config_arguments(speed)


def _study_parser(commands_: Subparsers) -> None:
    study = commands_.add_parser("study", help="ViLReF studies (label-entropy) and the power study of a grid (power)")
    study.add_argument("name", choices=["label-entropy", "power", "variance"])
    study.add_argument("--out", type=Path, default=Path("leaderboards"))
    study.add_argument("--delta", type=float, default=1.0,
                       help="power: the difference in metric points to detect at 80 %% power (default 1.0)")
    study.add_argument("--task", type=names, default=None,
                       help="power: the tasks to study (default: every task with records); variance: the tasks the pilots "
                            "are scored on (default linear-probe,finetune,ood-zsc,seg)")
    study.add_argument("--design", action="append", default=None, metavar="NAME:key=value,…",
                       help="variance: a candidate design of the profile (repeatable; default: 300, 600 and 900 "
                            "pretraining steps)")
    study.add_argument("--seeds", type=positive_int, default=None, help="variance: pretraining runs per design and strategy; power: study runs 0 … N−1 only (a grid still growing, as it stood at N runs)")
    study.add_argument("--strategy", type=names, default=None,
                       help="default: the strategies tagged 'contrastive' (" + "see `bench list strategies`)")
    study.add_argument("--mle", type=floats, default=[0.05, 0.075, 0.1, 0.125, 0.15])
    study.add_argument("--workers", type=int, help="worker processes of one thread each (default 1)")
    add_config_arguments(study)


def _plot_parser(commands_: Subparsers) -> None:
    plot = commands_.add_parser("plot", help="figures: tsne (ViLReF Fig 5), gradcam (ViLReF Fig 3)")
    plot.add_argument("name", choices=["tsne", "gradcam"])
    plot.add_argument("--strategy", required=True, type=names, help="one strategy (tsne) or several (gradcam), comma-separated")
    plot.add_argument("--dataset", required=True)
    plot.add_argument("--lesion", help="gradcam: the lesion type whose maps are drawn")
    plot.add_argument("--images", type=indices, help="gradcam: test image indices, e.g. 0,4,7 (default: first four with the lesion)")
    plot.add_argument("--out", type=Path, default=None)
    add_config_arguments(plot)


def _status_parser(commands_: Subparsers) -> None:
    status = commands_.add_parser("status", help="done / running / failed / missing cells of the grids in a results folder")
    status.add_argument("--results", type=Path, default=Path("results"))
    status.add_argument("--cells", action="store_true", help="list every unfinished cell, not only counts per job")


PARSERS = (_run_parser, _status_parser, _list_parser, _labels_parser, _data_parser, _leaderboard_parser, _records_parser,
           _new_parser, _speed_parser, _study_parser, _plot_parser)


#: subcommand → its module in `vlpbench.app.commands`
COMMAND_MODULES = {"run": "run", "status": "status", "list": "listing", "labels": "labels", "data": "data",
                   "leaderboard": "leaderboard", "records": "records", "new": "new", "speed": "speed", "study": "study",
                   "plot": "plot"}


class _UsageError(Exception):
    """A command line argparse rejects; printed as one line by `main` (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `bench run: argument --seeds: invalid int value: 'x'`."""

    def error(self, message: str) -> typing.NoReturn:
        raise _UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description="vlpbench: benchmark medical vision-language pretraining strategies")
    parser.add_argument("--version", action="version", version=f"vlpbench {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in PARSERS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `bench` command. Every user error (a bad argument, name, value, file or folder)
    is one line on stderr and exit code 2; nothing a user types is read as terminal markup."""
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as error:
        print_error(str(error))
        return 2
    try:
        if args.command == "study" and args.name == "label-entropy" and args.strategy is None:
            args.strategy = STRATEGIES.tagged("contrastive")
        command = importlib.import_module(f"vlpbench.app.commands.{COMMAND_MODULES[args.command]}")
        return command.main(args, make_console())
    except VlpbenchError as error:
        print_error(str(error))
        return 2
    except KeyboardInterrupt:
        make_console(stderr=True).print("interrupted; finished results are kept and the next run resumes")
        return 130


if __name__ == "__main__":
    sys.exit(main())
