"""`bench study variance`: pilot runs of a strategy and a planted rung over candidate designs of a
profile, and what each design can detect per CPU-hour (`report/variance_study.py`).

Each design is the run's config with its own `--set` overrides, run as an ordinary grid in a results
folder of its own (`<results>-variance-study`), so its records and checkpoints are cached and an
interrupted study resumes; rerunning the command regenerates the report from the records.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from vlpbench.core.config import RunConfig, grid_hash, resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES
from vlpbench.engine.grid import run_grid
from vlpbench.report.planted import find_ladder
from vlpbench.report.records_frame import load_records
from vlpbench.report.variance_study import Design, study_frame, write_study

#: candidate designs of the quick profile: name → overrides (more with --design NAME:key=value,…)
DEFAULT_DESIGNS = {"steps-300": ("pretrain.steps=300",), "steps-600": ("pretrain.steps=600",),
                   "steps-900": ("pretrain.steps=900",)}


def pilot_strategies() -> list[str]:
    """The default pilots: the strategy tagged "baseline" and the middle rung of its planted ladder."""
    baseline = next(iter(STRATEGIES.tagged("baseline")), None)
    if baseline is None:
        raise VlpbenchError("bench study variance: no strategy is tagged 'baseline'; name the pilots with --strategy")
    ladder = find_ladder(STRATEGIES.tagged("planted"), {s: STRATEGIES.info(s).tags for s in STRATEGIES.tagged("planted")})
    if ladder is None or ladder.reference != baseline:
        return [baseline]
    return [baseline, ladder.rungs[len(ladder.rungs) // 2]]


def parse_designs(texts: list[str] | None) -> dict[str, tuple[str, ...]]:
    """`NAME:key=value,key=value` → {NAME: overrides}; none given: the default candidates."""
    if not texts:
        return dict(DEFAULT_DESIGNS)
    designs = {}
    for text in texts:
        name, _, rest = text.partition(":")
        overrides = tuple(item for item in rest.split(",") if item)
        if not name or any("=" not in item for item in overrides):
            raise VlpbenchError(f"--design {text!r}: expected NAME:key=value[,key=value…] (NAME alone: the profile as it is)")
        designs[name] = overrides
    return designs


def variance_study(config: RunConfig, base_overrides: list[str], strategies: list[str], tasks: list[str],
                   designs: dict[str, tuple[str, ...]], out_dir: Path) -> list[Path]:
    """Run every design's pilot grid and write the study's report under `out_dir`."""
    results = Path(f"{config.results_dir.rstrip('/')}-variance-study")
    planned = []
    for name, overrides in designs.items():
        design_config = resolve_config(config.profile, None, [*base_overrides, *overrides])
        design_config = dataclasses.replace(design_config, results_dir=str(results), runs_dir=config.runs_dir,
                                            threads=config.threads, workers=config.workers, eval=dataclasses.replace(
                                                design_config.eval, seeds=config.eval.seeds))
        planned.append((Design(name, overrides, f"{design_config.profile}-{grid_hash(design_config)}"), design_config))
    for _, design_config in planned:
        run_grid(design_config, strategies, tasks)
    records = pd.concat([load_records(results / design.grid) for design, _ in planned], ignore_index=True)
    frame = study_frame(records[records["task"].isin(tasks)], [design for design, _ in planned])  # a design's folder may hold other tasks
    if frame.empty:
        raise VlpbenchError(f"bench study variance: no task with ≥ 2 strategies and ≥ 2 runs in {results}")
    return write_study(frame, out_dir, strategies)
