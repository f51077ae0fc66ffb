"""Fault handling of the local launcher (slow: real grids in subprocesses): a killed grid,
resubmitted, completes without recomputing its finished records and resumes an interrupted
pretraining from its last saved step; a preempted worker job (submitit's USR2) is requeued by
submitit and the grid completes in the same command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SETTINGS = ["--task", "linear-probe", "--dataset", "syn-refuge", "--profile", "smoke", "--seeds", "2", "--workers", "2",
            "--set", "pretrain.steps=40", "--set", "launcher.save_every=4"]


def bench(tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vlpbench", "run", "--strategy", "clip,mae", *SETTINGS, *extra,
            "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results")]


def wait_for(condition, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the grid finished before the moment the test waits for"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def kill_everything(process: subprocess.Popen, tmp_path: Path) -> None:
    """kill -9 the launcher and, at the same instant, every worker job of this grid (their command
    lines name its run folder): a crash of the whole machine, leaving no worker a moment to finish
    more records."""
    pids = [process.pid]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(tmp_path).encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:  # the process ended meanwhile
            continue
    for pid in dict.fromkeys(pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    process.wait()


def resume_states(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "runs" / "smoke" / "resume").glob("*/state.json"))


def records(tmp_path: Path) -> dict[Path, str]:
    return {path: path.read_text() for path in (tmp_path / "results").rglob("*.json")}


def resumed_checkpoints(tmp_path: Path) -> list[int]:
    metas = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "smoke").glob("*-*/meta.json")]
    return [meta["pretrain"].get("resumed_from", 0) for meta in metas if meta.get("kind") == "strategy"]


def test_a_killed_grid_resubmitted_resumes_pretraining_and_keeps_finished_records(tmp_path):
    # 1. killed while pretraining, after a resume state was saved
    process = subprocess.Popen(bench(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: resume_states(tmp_path), process)
    kill_everything(process, tmp_path)
    # 2. resubmitted with one more task, and killed again once some of the new records are written
    process = subprocess.Popen(bench(tmp_path, "--task", "linear-probe,finetune"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for(lambda: len(records(tmp_path)) >= 2, process)
    kill_everything(process, tmp_path)
    assert max(resumed_checkpoints(tmp_path)) > 0, "no pretraining continued from its saved step"
    finished = records(tmp_path)
    assert 2 <= len(finished) < 8
    # 3. resubmitted: completes, computing only what was missing
    done = subprocess.run(bench(tmp_path, "--task", "linear-probe,finetune"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    final = records(tmp_path)
    assert len(final) == 2 * 2 * 2  # 2 strategies × 2 tasks × 2 seeds
    assert all(final[path] == text for path, text in finished.items()), "a finished record was recomputed"
    (log,) = (tmp_path / "results").rglob("runs.jsonl")
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["records"] == len(final) - len(finished) and last["reused"] == 0
    assert not resume_states(tmp_path), "resume states are removed once their checkpoint is saved"


def test_a_preempted_worker_is_requeued_by_submitit_and_the_grid_completes(tmp_path):
    process = subprocess.Popen(bench(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: resume_states(tmp_path), process)
    running = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("jobs/pretrain-*.status")]
    worker = next(status for status in running if status["state"] == "running")
    os.kill(worker["pid"], signal.SIGUSR2)  # what Slurm sends before preempting or timing a job out
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    assert max(resumed_checkpoints(tmp_path)) > 0
    log = Path(worker["stdout"]).read_text()
    assert f"Requeued job {worker['job_id']}" in log  # submitit's local requeue, not a second command
    assert len(records(tmp_path)) == 2 * 2
