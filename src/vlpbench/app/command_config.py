"""The config of a config-reading `bench` command (run, data, speed, study, plot) from its parsed
arguments (`arguments.add_config_arguments`)."""

from __future__ import annotations

import argparse

from vlpbench.core.config import RunConfig, resolve_config
from vlpbench.core.threads import limit_threads


def config_from(args: argparse.Namespace) -> RunConfig:
    """Profile → YAML → `--set` → the typed command-line values, resolved and validated as one
    config (an error names the option a bad value came from); `threads` is applied to every
    compute pool of this process."""
    given = {
        "runs_dir": ("--runs", args.runs), "results_dir": ("--results", args.results), "device": ("--device", args.device),
        "workers": ("--workers", getattr(args, "workers", None)), "launcher.kind": ("--launcher", getattr(args, "launcher", None)),
        "launcher.max_parallel": ("--max-parallel", getattr(args, "max_parallel", None)), "eval.data_root": ("--data-root", args.data_root),
        "eval.seeds": ("--seeds", getattr(args, "seeds", None)), "eval.fractions": ("--fraction", getattr(args, "fraction", None)),
        "eval.skip_bad_images": ("--skip-bad-images", getattr(args, "skip_bad_images", None) or None),
    }
    config = resolve_config(args.profile, args.config, list(args.set),
                            {key: given for key, given in given.items() if given[1] is not None})
    if config.threads:
        limit_threads(config.threads)
    return config
