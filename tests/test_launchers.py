"""`bench run --launcher local|debug|slurm` (engine/launchers.py): one plan of units for every
launcher, records equal to a serial run's, a pretraining job of 2 gloo ranks inside a local job,
failures shown with their job id and stderr, and the sbatch scripts submitit renders for Slurm."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from submitit.slurm.slurm import _make_sbatch_string

from vlpbench.app.cli import main
from vlpbench.core.config import resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.engine.grid import plan_jobs, run_grid
from vlpbench.engine.grid_status import grid_statuses
from vlpbench.engine.run_cache import Workspace
from vlpbench.engine.units import EvaluateUnit, PretrainUnit, plan_units

RUN = ["run", "--task", "linear-probe,ood-zsc", "--dataset", "syn-refuge", "--profile", "smoke", "--seeds", "1"]


def folders(tmp_path: Path, name: str) -> list[str]:
    return ["--runs", str(tmp_path / f"{name}-runs"), "--results", str(tmp_path / name)]


def metrics(results: Path) -> dict[str, dict]:
    return {str(p.relative_to(results)): json.loads(p.read_text())["metrics"] for p in sorted(results.rglob("*.json"))}


def test_units_put_teachers_first_and_each_evaluation_right_after_its_pretraining(tmp_path):
    config = resolve_config("smoke", overrides=[f"runs_dir={tmp_path}/runs", "eval.pretrain_seeds=1"])
    jobs = plan_jobs(config, ["deit", "clip"], ["linear-probe", "ood-zsc"], ["syn-refuge", "syn-fives"])
    units = plan_units(config, jobs, tmp_path / "grid", force=False)
    assert [unit.name for unit in units] == [
        "pretrain-clip-resnet-seed0", "pretrain-deit-seed0", "evaluate-deit-seed0", "pretrain-clip-seed0", "evaluate-clip-seed0",
    ]
    assert [type(unit) for unit in units] == [PretrainUnit, PretrainUnit, EvaluateUnit, PretrainUnit, EvaluateUnit]
    assert units[1].after == ("pretrain-clip-resnet-seed0",) and units[0].after == ()
    evaluations = {unit.strategy: unit for unit in units if isinstance(unit, EvaluateUnit)}
    assert evaluations["deit"].after == ("pretrain-deit-seed0",)
    # on the one pretraining run: linear-probe 2 sets × 2 seeds, ood-zsc (deterministic) 2 sets × 1
    assert len(evaluations["deit"].jobs) == 2 * 2 + 2
    assert sum(len(unit.jobs) for unit in evaluations.values()) == len(jobs)
    # a cached checkpoint needs no pretraining unit: its evaluation has no prerequisite and comes first
    Workspace(config).checkpoint("clip", 0)
    units = plan_units(config, jobs, tmp_path / "grid", force=False)
    assert [unit.name for unit in units][0] == "evaluate-clip-seed0" and units[0].after == ()
    assert "pretrain-clip-seed0" not in [unit.name for unit in units]


def test_pretraining_goes_run_by_run_so_a_stopped_extension_leaves_equal_runs_per_strategy(tmp_path):
    config = resolve_config("smoke", overrides=[f"runs_dir={tmp_path}/runs", "eval.seeds=3", "eval.pretrain_seeds=3"])
    jobs = plan_jobs(config, ["mae", "clip"], ["ood-zsc"], ["syn-refuge"])
    names = [unit.name for unit in plan_units(config, jobs, tmp_path / "grid", force=False) if isinstance(unit, PretrainUnit)]
    assert names == [f"pretrain-{strategy}-seed{seed}" for seed in range(3) for strategy in ("mae", "clip")]


def test_workers_below_one_is_an_error(tmp_path):
    with pytest.raises(VlpbenchError, match="workers 0: expected an integer >= 1"):
        resolve_config("smoke", None, [f"runs_dir={tmp_path}/runs", f"results_dir={tmp_path}/results", "workers=0"])
    config = resolve_config("smoke", None, [f"runs_dir={tmp_path}/runs", f"results_dir={tmp_path}/results"])
    with pytest.raises(VlpbenchError, match="workers 0: expected an integer >= 1"):  # a config built in code
        run_grid(dataclasses.replace(config, workers=0), ["clip"], ["linear-probe"], ["syn-refuge"])
    with pytest.raises(VlpbenchError, match="launcher.kind 'cloud': expected one of"):
        resolve_config("smoke", None, ["launcher.kind=cloud"])


def test_debug_and_local_launchers_write_the_records_a_serial_run_writes(tmp_path, capsys):
    common = [*RUN, "--strategy", "clip,deit,mae"]
    assert main([*common, *folders(tmp_path, "serial")]) == 0
    assert main([*common, *folders(tmp_path, "debug"), "--launcher", "debug"]) == 0
    assert main([*common, *folders(tmp_path, "local"), "--launcher", "local", "--workers", "2"]) == 0
    serial = metrics(tmp_path / "serial")
    assert len(serial) == 3 * 2  # 3 strategies × 2 tasks (one seed); mae's ood-zsc is an n/a record
    assert metrics(tmp_path / "debug") == serial
    assert metrics(tmp_path / "local") == serial
    assert "mean ± SD over seeds" in capsys.readouterr().out
    # the local workers were submitit jobs: their unit states name them, `bench status` lists the cells as done
    states = [json.loads(p.read_text()) for p in (tmp_path / "local").rglob("jobs/*.status")]
    assert {s["state"] for s in states} == {"done"} and all(s["job_id"] for s in states)
    assert main(["status", "--results", str(tmp_path / "local")]) == 0
    assert ": 6 done, 0 running, 0 failed, 0 missing" in capsys.readouterr().out


def test_a_pretraining_job_runs_as_two_gloo_ranks_inside_a_local_job(tmp_path):
    assert main([*RUN, "--strategy", "clip", "--task", "linear-probe", *folders(tmp_path, "ddp"),
                 "--set", "launcher.pretrain_ranks=2"]) == 0
    status = json.loads(next((tmp_path / "ddp").rglob("jobs/pretrain-clip-seed0.status")).read_text())
    job_folder = Path(status["stdout"]).parent
    assert status["state"] == "done" and job_folder.name == status["job_id"]
    assert sorted(p.name for p in job_folder.glob("*_log.out")) == [f"{status['job_id']}_{rank}_log.out" for rank in (0, 1)]
    meta = json.loads(next((tmp_path / "ddp-runs").rglob("clip-*/meta.json")).read_text())
    assert meta["pretrain"]["steps"] == 6


def test_a_failed_unit_is_shown_with_its_job_id_and_stderr_and_in_bench_status(tmp_path, capsys):
    assert main([*RUN, "--strategy", "clip", "--task", "linear-probe", *folders(tmp_path, "r")]) == 0
    (weights,) = (tmp_path / "r-runs").rglob("clip-*/model.safetensors")
    weights.write_bytes(weights.read_bytes() + b"x")  # corrupt: its SHA-256 no longer matches meta.json
    capsys.readouterr()
    assert main([*RUN, "--strategy", "clip,mae", *folders(tmp_path, "r"), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    status = json.loads(next((tmp_path / "r").rglob("jobs/evaluate-clip-seed0.status")).read_text())
    assert status["state"] == "failed" and "is corrupt" in status["error"]
    assert f"evaluate-clip-seed0: job {status['job_id']} failed: VlpbenchError: cached checkpoint" in err
    assert f"last lines of {status['stderr']}" in err and "raise VlpbenchError(" in err  # the traceback's end
    assert err.strip().splitlines()[-1].startswith("error: 1 unit(s) did not finish (evaluate-clip-seed0)")
    assert main(["status", "--results", str(tmp_path / "r"), "--cells"]) == 0
    out = capsys.readouterr().out
    assert "failed   ood-zsc/syn-refuge/clip/seed0_frac1.json  (evaluate-clip-seed0, job " in out


def test_worker_exits_when_its_launcher_is_killed(tmp_path):
    """A `bench run` killed with -9 must not leave its workers running (they would keep
    pretraining, compete for the cores and write into the cache)."""
    ready = tmp_path / "ready"
    child = ("import os, pathlib, time; from vlpbench.engine.worker import exit_when_gone; exit_when_gone(os.getppid(), 0.1); "
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


# --- Slurm: the job scripts, checked against submitit's own rendering (no cluster needed) ----------

FAKE_SBATCH = """#!/bin/sh
# stands in for sbatch: keeps the script, answers like sbatch with the next job id
n=$(cat "$SLURM_FAKE/count" 2>/dev/null || echo 1000); n=$((n + 1)); echo $n > "$SLURM_FAKE/count"
cp "$1" "$SLURM_FAKE/job-$n.sh"; echo "Submitted batch job $n"
"""

SLURM_YAML = {"launcher": {"kind": "slurm", "max_parallel": 4, "slurm": {
    "partition": "gpu", "account": "vlp", "cpus_per_task": 10, "mem_gb": 64, "timeout_min": 600,
    "extra": {"qos": "high"}, "setup": ["source ~/venv/bin/activate"],
    "pretrain": {"gpus_per_node": 4, "timeout_min": 2880, "extra": {"constraint": "a100"}},
    "evaluate": {"gpus_per_node": 1, "mem_gb": 32},
}}}


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    bin_dir, record = tmp_path / "bin", tmp_path / "sbatch"
    bin_dir.mkdir()
    record.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    for tool in ("srun", "sinfo", "squeue", "sacct", "scancel"):  # no cluster to ask (submitit only checks srun exists)
        (bin_dir / tool).write_text("#!/bin/sh\nexit 1\n")
    for tool in ("sbatch", "srun", "sinfo", "squeue", "sacct", "scancel"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_FAKE", str(record))
    return record


def expected_script(folder: Path, array: int | None = None, **parameters) -> str:
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    common = dict(partition="gpu", account="vlp", cpus_per_task=10, nodes=1, setup=["source ~/venv/bin/activate"])
    return _make_sbatch_string(command=command, folder=folder, map_count=array, **{**common, **parameters})


def test_slurm_launcher_submits_the_scripts_submitit_renders(tmp_path, fake_slurm, capsys):
    config = tmp_path / "slurm.yaml"
    config.write_text(yaml.safe_dump(SLURM_YAML))
    code = main([*RUN, "--strategy", "clip,deit", "--task", "linear-probe", *folders(tmp_path, "r"), "--config", str(config),
                 "--seeds", "2"])
    assert code == 0
    # 6 pretraining units in two levels (clip and its teacher, then deit), 4 evaluation elements in one array
    assert "submitted 10 Slurm job(s) in 3 sbatch submission(s) (1001, 1002, 1003)" in capsys.readouterr().out
    folder = tmp_path / "r-runs" / "launcher" / "%j"
    scripts = {int(p.stem.split("-")[1]): p.read_text() for p in fake_slurm.glob("job-*.sh")}
    assert sorted(scripts) == [1001, 1002, 1003]  # level 0 (clip, clip-resnet × 2 seeds), level 1 (deit × 2), evaluation
    pretrain = dict(job_name="vlpbench-pretrain", time=2880, gpus_per_node=4, ntasks_per_node=4, mem="64GB",
                    additional_parameters={"qos": "high", "constraint": "a100"}, array_parallelism=4)
    assert scripts[1001] == expected_script(folder, array=4, **pretrain)
    states = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "r").rglob("jobs/*.status")}
    teachers = sorted(states[f"pretrain-clip-resnet-seed{k}"]["job_id"] for k in (0, 1))
    assert scripts[1002] == expected_script(folder, array=2, dependency=f"afterok:{':'.join(teachers)}", **pretrain)
    assert scripts[1003] == expected_script(
        folder, array=4, job_name="vlpbench-evaluate", time=600, gpus_per_node=1, ntasks_per_node=1, mem="32GB",
        additional_parameters={"qos": "high"}, array_parallelism=4, dependency="afterany:1001:1002")
    assert states["pretrain-deit-seed1"]["job_id"] == "1002_1" and states["evaluate-deit-seed1"]["job_id"].startswith("1003_")
    assert {s["state"] for s in states.values()} == {"queued"}
    assert main(["status", "--results", str(tmp_path / "r")]) == 0
    assert ": 0 done, 0 running, 0 failed, 4 missing" in capsys.readouterr().out


def add_tool(fake_slurm: Path, name: str, script: str) -> None:
    """Another stand-in Slurm command next to the fake sbatch."""
    tool = fake_slurm.parent / "bin" / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


CPU_ONLY_YAML = {"launcher": {"slurm": {"partition": "cpu", "cpus_per_task": 2, "mem_gb": 4, "timeout_min": 30}}}


def test_gpus_are_asked_for_where_the_partition_has_them_and_a_dry_run_submits_nothing(tmp_path, fake_slurm, capsys):
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(CPU_ONLY_YAML))
    args = [*RUN, "--strategy", "clip", "--task", "linear-probe", *folders(tmp_path, "r"), "--config", str(config),
            "--launcher", "slurm", "--dry-run"]
    add_tool(fake_slurm, "sinfo", 'echo "cpu*|(null)"; echo "gpu|gpu:a100:4(S:0-1)"')
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "dry run: 2 unit(s) for --launcher slurm; nothing started" in out
    assert "sbatch (pretrain, 1 job(s): pretrain-clip-seed0) --cpus-per-task=2" in out
    assert "--dependency=<afterany on every pretraining job>" in out.split("sbatch (evaluate")[1]
    assert "--gpus-per-node" not in out and "--partition=cpu" in out and "--mem=4GB" in out
    assert not list(fake_slurm.glob("job-*.sh")) and not list((tmp_path / "r").rglob("jobs/*.status"))
    assert main([*args, "--set", "launcher.slurm.pretrain.partition=gpu"]) == 0  # its nodes have GPUs
    pretrain, evaluate = capsys.readouterr().out.split("sbatch (evaluate")
    assert "--gpus-per-node=1" in pretrain and "--partition=gpu" in pretrain and "--gpus-per-node" not in evaluate


def test_an_sbatch_refusal_is_one_line_and_cancels_what_the_command_submitted(tmp_path, fake_slurm, capsys):
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(CPU_ONLY_YAML))
    add_tool(fake_slurm, "sbatch", 'if grep -q vlpbench-evaluate "$1"; then\n'
                                   'echo "sbatch: error: Batch job submission failed: Requested node configuration is not available" >&2\n'
                                   'exit 1; fi\necho "Submitted batch job 7"')
    add_tool(fake_slurm, "scancel", f'echo "$@" > {fake_slurm}/scancel')
    code = main([*RUN, "--strategy", "clip", "--task", "linear-probe", *folders(tmp_path, "r"), "--config", str(config),
                 "--launcher", "slurm", "--set", "launcher.slurm.evaluate.cpus_per_task=512"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: sbatch refused the evaluate job(s): --cpus-per-task=512 (launcher.slurm.evaluate.cpus_per_task or "
                   "launcher.slurm.cpus_per_task), --mem=4GB (launcher.slurm.evaluate.mem_gb or launcher.slurm.mem_gb): "
                   "Slurm said: Batch job submission failed: Requested node configuration is not available "
                   "(the 1 job(s) this command had submitted are cancelled)"]
    assert (fake_slurm / "scancel").read_text().split() == ["7"]
    states = [json.loads(p.read_text()) for p in (tmp_path / "r").rglob("jobs/*.status")]
    assert {s["state"] for s in states} == {"queued"} and not any("job_id" in s for s in states)


def test_bench_status_takes_slurms_word_for_a_job_that_died_without_writing_its_state(tmp_path, fake_slurm, capsys):
    config = tmp_path / "slurm.yaml"
    config.write_text(yaml.safe_dump(CPU_ONLY_YAML))
    assert main([*RUN, "--strategy", "clip,mae", "--task", "linear-probe", *folders(tmp_path, "r"), "--config", str(config),
                 "--launcher", "slurm"]) == 0  # pretraining: array 1001 (2 elements); evaluation: array 1002
    add_tool(fake_slurm, "squeue", 'echo "1001_0|RUNNING|None"; echo "1002_1|PENDING|DependencyNeverSatisfied"')
    add_tool(fake_slurm, "sacct", 'echo "1001_1|OUT_OF_MEMORY|0:125"; echo "1002_[0-1%4]|PENDING|0:0"')
    rows = {row.unit: row for grid in grid_statuses(tmp_path / "r") for row in grid.units}
    assert (rows["pretrain-clip-seed0"].state, rows["pretrain-mae-seed0"].state) == ("running", "failed")
    assert rows["pretrain-mae-seed0"].error.startswith("Slurm job 1001_1 ended OUT_OF_MEMORY (exit code 0:125) without")
    evaluations = sorted((row.job_id, row.state, row.error) for row in rows.values() if row.unit.startswith("evaluate"))
    assert evaluations == [("1002_0", "queued", "Slurm: PENDING"),
                           ("1002_1", "failed", "a job it depends on failed (Slurm: DependencyNeverSatisfied)")]
    add_tool(fake_slurm, "squeue", "exit 1")  # no cluster, no accounting: the unit states as written
    add_tool(fake_slurm, "sacct", "exit 1")
    assert {row.state for grid in grid_statuses(tmp_path / "r") for row in grid.units} == {"queued"}


def test_the_slurm_launcher_without_slurms_commands_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no srun
    assert main([*RUN, "--strategy", "clip", "--task", "linear-probe", *folders(tmp_path, "r"), "--launcher", "slurm"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --launcher slurm: sbatch and srun not found on PATH (submit from a machine with Slurm's client commands, "
        'e.g. a login node; or see README "Try it on one machine")']
