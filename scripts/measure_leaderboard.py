"""How long `bench leaderboard` (markdown + CSV + figures + HTML site) takes on a results folder
(issue: ≤ 15 s for the full quick grid), warm and cold, and whether every run writes the same bytes.

Each run is a fresh `bench leaderboard --results R --out TMP/lb-i --html TMP/site-i` process, timed
from start to exit:
- warm: the plugin catalog is current (as after any `bench run` or `bench list`), so the build
  imports no plugin;
- cold: an empty cache folder (`VLPBENCH_CACHE_DIR`), so the first thing the build does is import
  every strategy and task plugin (torch, timm, transformers, …) and write the catalog.

    python scripts/measure_leaderboard.py --results results/quick-0e1fe1f1cd64 --runs 5

Run it on an idle machine; it prints each time, then min / median / max per mode.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build(results: Path, out: Path, cache: Path) -> float:
    """Seconds for one `bench leaderboard` process writing into `out`."""
    env = {**os.environ, "VLPBENCH_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "vlpbench", "leaderboard", "--results", str(results), "--out", str(out / "lb"),
               "--html", str(out / "site")]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def same_tree(one: Path, two: Path) -> bool:
    """Whether two folders hold the same files with the same bytes."""
    compared = filecmp.dircmp(one, two)
    if compared.left_only or compared.right_only or compared.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(one, two, compared.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(one / d, two / d) for d in compared.common_dirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5, help="runs per mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="measure-leaderboard-") as temp:
        root, warm_cache = Path(temp), Path(temp) / "warm-cache"
        build(args.results, root / "first", warm_cache)  # writes the catalog
        times: dict[str, list[float]] = {"warm": [], "cold": []}
        for i in range(args.runs):
            for mode in times:
                cache = warm_cache if mode == "warm" else root / f"cold-cache-{i}"
                seconds = build(args.results, root / f"{mode}-{i}", cache)
                times[mode].append(seconds)
                identical = same_tree(root / "first", root / f"{mode}-{i}")
                print(f"{mode} run {i + 1}: {seconds:.1f} s, files identical to the first build: {identical}", flush=True)
                shutil.rmtree(root / f"{mode}-{i}")
        for mode, values in times.items():
            print(f"{mode}: min {min(values):.1f} s, median {statistics.median(values):.1f} s, max {max(values):.1f} s "
                  f"({len(values)} runs)")


if __name__ == "__main__":
    main()
