"""The study scripts behind README claims, run on the shipped records: each reproduces the number
the published leaderboard prints for the same rows, so a script and the table cannot drift apart."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / name)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| protocol") and not line.startswith("| task")]


def published_mdd(task: str) -> str:
    line = re.search(r"MDD (\d+\.\d+) points", (ROOT / "leaderboards" / f"{task}.md").read_text(encoding="utf-8"))
    assert line, f"no MDD in leaderboards/{task}.md"
    return line.group(1)


def test_zero_shot_protocols_term_row_is_the_published_table():
    rows = {row[0]: row for row in table_rows(run_script("zero_shot_protocols.py"))}
    assert set(rows) == {"term", "template-ensemble", "knowledge"}
    assert rows["term"][2] == published_mdd("ood-zsc")
    assert rows["term"][5].startswith("clip-mismatch-50")  # the published detection line's rung


def test_compare_test_scale_pairs_recipe_and_scaled_rows_over_the_same_strategies():
    out = run_script("compare_test_scale.py")
    rows = table_rows(out)
    recipe, scaled = (next(r for r in rows if r[1] == label) for label in ("recipe", "× 4"))
    assert recipe[0] == scaled[0] == "linear-probe" and recipe[2] == scaled[2] and int(recipe[2]) >= 10
    assert out.startswith("strategies compared:")


def test_run_independence_check_finds_planted_lag_correlation_and_runs_on_the_shipped_grid():
    import importlib.util  # noqa: PLC0415 — the script is not a package module

    spec = importlib.util.spec_from_file_location("check_run_independence", ROOT / "scripts" / "check_run_independence.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rng = __import__("numpy").random.default_rng(0)
    noise = rng.normal(size=(40, 12))
    walk = noise.cumsum(axis=1)  # neighbouring runs alike: strongly lag-correlated
    assert script.lag_correlation(walk - walk.mean(1, keepdims=True), 1) > 0.5
    assert abs(script.lag_correlation(noise - noise.mean(1, keepdims=True), 1)) < 0.2
    rows = table_rows(run_script("check_run_independence.py"))
    assert [row[0] for row in rows] == ["linear-probe", "finetune", "ood-zsc", "seg", "loc"]
    assert all(row[1].endswith("× 5") and 0 < float(row[4]) <= 1 for row in rows)
