"""Wall time of the smoke grid (every strategy × every task both checkouts know, `--profile smoke`)
under the submitit local launcher against the hand-written `--workers` pool of an older checkout,
one run each on the same cores, fresh run and results folders, and whether their records are equal.

    python scripts/compare_launchers.py --old /path/to/old/checkout [--workers 2] [--out DIR]

The old checkout's `src` is put on PYTHONPATH for its run. Prints both wall times, the ratio
new / old (≤ 1 = no slower) and the record comparison (metrics of every record)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = "from vlpbench.core.registry import STRATEGIES, TASKS; print(','.join(STRATEGIES.names())); print(','.join(TASKS.names()))"


def registered(src: Path) -> tuple[set[str], set[str]]:
    """The strategy and task names a checkout registers."""
    lines = subprocess.run([sys.executable, "-c", NAMES], env={**os.environ, "PYTHONPATH": str(src)}, check=True,
                           capture_output=True, text=True).stdout.split()
    return set(lines[-2].split(",")), set(lines[-1].split(","))


def timed_run(src: Path, out: Path, grid: list[str], extra: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "vlpbench", *grid, "--runs", str(out / "runs"), "--results", str(out / "results"), *extra]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def metrics(results: Path) -> dict[str, dict]:
    return {str(p.relative_to(results)): json.loads(p.read_text())["metrics"] for p in sorted(results.rglob("*.json"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="checkout with the old --workers pool")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="folder for the two runs (default: a temp folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="compare-launchers-"))
    new_src = Path(__file__).resolve().parents[1] / "src"
    (old_strategies, old_tasks), (new_strategies, new_tasks) = registered(args.old.resolve() / "src"), registered(new_src)
    grid = ["run", "--strategy", ",".join(sorted(old_strategies & new_strategies)),
            "--task", ",".join(sorted(old_tasks & new_tasks)), "--profile", "smoke"]
    print(f"grid: {' '.join(grid)}")
    old_s = timed_run(args.old.resolve() / "src", out / "old", grid, ["--workers", str(args.workers)])
    new_s = timed_run(new_src, out / "new", grid, ["--launcher", "local", "--workers", str(args.workers)])
    old, new = metrics(out / "old" / "results"), metrics(out / "new" / "results")
    print(f"old --workers {args.workers} pool: {old_s:.1f} s, {len(old)} records")
    print(f"submitit local launcher, {args.workers} workers: {new_s:.1f} s, {len(new)} records")
    print(f"ratio new / old: {new_s / old_s:.3f} (≤ 1: no slower)")
    print(f"records equal: {old == new}" + ("" if old == new else f" ({sum(old.get(k) != v for k, v in new.items())} differ)"))


if __name__ == "__main__":
    main()
