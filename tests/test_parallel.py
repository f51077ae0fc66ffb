"""`bench run --workers N`: scheduling units, and records equal to a serial run's."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlpbench.app.cli import main
from vlpbench.core.config import resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.engine.grid import plan_jobs, run_grid
from vlpbench.engine.parallel import evaluation_units, strategy_groups


def test_teachers_share_a_group_with_their_students_and_come_first():
    groups = strategy_groups(["clip", "deit", "clip-resnet", "mae"])
    assert groups == [["clip"], ["clip-resnet", "deit"], ["mae"]]
    assert strategy_groups(["deit"]) == [["clip-resnet", "deit"]]


def test_evaluation_units_group_the_seeds_of_one_pretraining_run():
    # one pretraining run per seed (eval.pretrain_seeds=0): every seed is its own unit
    config = resolve_config("smoke")
    jobs = plan_jobs(config, ["clip", "mae"], ["linear-probe"], ["syn-refuge", "syn-fives"])
    units = evaluation_units(jobs)
    assert len(units) == 2 * 2 * 2 and sum(len(u) for u in units) == len(jobs)
    assert all(len(unit) == 1 for unit in units)
    # one pretraining run behind every seed: the seeds of a (task, dataset, strategy) stay together
    config = resolve_config("smoke", overrides=["eval.pretrain_seeds=1"])
    jobs = plan_jobs(config, ["clip", "mae"], ["linear-probe"], ["syn-refuge", "syn-fives"])
    units = evaluation_units(jobs)
    assert len(units) == 4 and sum(len(u) for u in units) == len(jobs)
    for unit in units:
        assert len({(j.task, j.dataset, j.strategy, j.pretrain_seed) for j in unit}) == 1
        assert sorted(j.seed for j in unit) == [0, 1]


def test_workers_below_one_is_an_error(tmp_path):
    with pytest.raises(VlpbenchError, match="workers 0: expected an integer >= 1"):
        resolve_config("smoke", None, [f"runs_dir={tmp_path}/runs", f"results_dir={tmp_path}/results", "workers=0"])
    config = resolve_config("smoke", None, [f"runs_dir={tmp_path}/runs", f"results_dir={tmp_path}/results"])
    with pytest.raises(VlpbenchError, match="workers 0: expected an integer >= 1"):  # a config built in code
        run_grid(dataclasses.replace(config, workers=0), ["clip"], ["linear-probe"], ["syn-refuge"])


def _metrics(results: Path) -> dict[str, dict]:
    return {str(p.relative_to(results)): json.loads(p.read_text())["metrics"] for p in sorted(results.rglob("*.json"))}


def test_two_workers_write_the_records_a_serial_run_writes(tmp_path, capsys):
    common = ["run", "--strategy", "clip,mae", "--task", "linear-probe,ood-zsc", "--dataset", "syn-refuge",
              "--profile", "smoke"]
    assert main([*common, "--runs", str(tmp_path / "serial-runs"), "--results", str(tmp_path / "serial")]) == 0
    assert main([*common, "--runs", str(tmp_path / "par-runs"), "--results", str(tmp_path / "par"), "--workers", "2"]) == 0
    serial, parallel = _metrics(tmp_path / "serial"), _metrics(tmp_path / "par")
    assert len(serial) == 2 * 2 + 2 * 2  # probe: 2 strategies × 2 seeds; ood-zsc: 2 strategies × 2 pretraining runs
    assert serial == parallel
    assert "mean ± std" in capsys.readouterr().out


def test_worker_exits_when_its_parent_is_killed(tmp_path):
    """A `bench run` killed with -9 must not leave its workers running (they would keep
    pretraining, compete for the cores and write into the cache)."""
    ready = tmp_path / "ready"
    child = ("from vlpbench.engine.parallel import exit_with_parent; import pathlib, time; exit_with_parent(0.1); "
             f"pathlib.Path({str(ready)!r}).touch(); time.sleep(120)")
    middle = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', {child!r}]); "
              "print(p.pid, flush=True); time.sleep(120)")
    parent = subprocess.Popen([sys.executable, "-c", middle], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline:  # the child imports torch, starts its watchdog
        time.sleep(0.2)
    assert ready.exists() and _alive(pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    survived = _alive(pid)
    if survived:
        os.kill(pid, signal.SIGKILL)
    assert not survived


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
