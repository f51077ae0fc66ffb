"""`bench run --launcher slurm` on a real one-node Slurm (scripts/slurm_one_node.sh: Debian's munge,
slurmctld and slurmd, started as root for this module and stopped after it): a grid with arrays,
`afterok` (DeiT's teacher) and `afterany` writes a serial run's records; `bench status` while jobs
are pending, running, done and failed; a unit failing in its Python code fails alone; a preempted
pretraining (`scancel --signal=USR2`) is requeued and ends with an uninterrupted run's checkpoint;
a job killed with SIGKILL is reported from Slurm's own records and a resubmission redoes only it;
sbatch refusing a job is one line with exit 2. Marker `slurm`: skipped, with the reason, where
the packages are missing or the tests do not run as root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from vlpbench.app.cli import main
from vlpbench.engine.grid_status import grid_statuses
from vlpbench.engine.slurm_queries import job_states

pytestmark = pytest.mark.slurm

SCRIPT = Path(__file__).parents[1] / "scripts" / "slurm_one_node.sh"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel")
SMOKE = ["--profile", "smoke", "--seeds", "1", "--dataset", "syn-refuge", "--set", "threads=1"]
CLUSTER_YAML = "launcher:\n  slurm: {partition: debug, cpus_per_task: 1, mem_gb: 1, timeout_min: 20}\n"


def _missing() -> str:
    """Why the one-node cluster cannot start here ("" when it can)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    absent = [tool for tool in DAEMONS if shutil.which(tool, path=path) is None]
    if absent:
        return (f"Slurm tests need Debian's slurmctld, slurmd, slurm-client and munge ({', '.join(absent)} not found): "
                "apt-get install --no-install-recommends slurmctld slurmd slurm-client munge")
    if _as_root() is None:
        return "Slurm tests start munged, slurmctld and slurmd as root (scripts/slurm_one_node.sh): not root, no sudo -n"
    return ""


def _as_root() -> list[str] | None:
    """The prefix running a command as root ([] when this is root), None when there is none."""
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:
        return [sudo, "-n"]
    return None


@pytest.fixture(scope="module")
def cluster() -> Path:
    """A one-node Slurm for this module; SLURM_CONF points the clients (and `bench`) at it."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="slurm-"))  # short: munged's socket path must fit 108 bytes
    environment = {**os.environ, "PATH": f"{os.environ['PATH']}{os.pathsep}/usr/sbin{os.pathsep}/sbin"}
    root = _as_root() or []
    started = subprocess.run([*root, str(SCRIPT), "start", str(folder)], env=environment, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(folder / "slurm.conf")
    try:
        yield folder
    finally:
        subprocess.run([*root, str(SCRIPT), "stop", str(folder)], env=environment, capture_output=True)
        subprocess.run([*root, "rm", "-rf", str(folder)], capture_output=True)
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved


def run_args(tmp_path: Path, name: str, *extra: str) -> list[str]:
    config = tmp_path / "cluster.yaml"
    config.write_text(CLUSTER_YAML)
    return ["run", *SMOKE, *extra, "--config", str(config), "--runs", str(tmp_path / f"{name}-runs"),
            "--results", str(tmp_path / name)]


def states(results: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in results.rglob("jobs/*.status")}


def records(results: Path) -> dict[str, str]:
    return {str(p.relative_to(results)): p.read_text() for p in sorted(results.rglob("*.json"))}


def metrics(results: Path) -> dict[str, dict]:
    return {name: json.loads(text)["metrics"] for name, text in records(results).items()}


def in_queue(job_ids: list[str]) -> bool:
    """Any of `job_ids` (or their arrays) still pending or running."""
    listed = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, check=True).stdout.split()
    return any(job in listed or job.split("_")[0] in listed for job in job_ids)


def wait(condition, timeout: float = 240, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def status(results: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["status", "--results", str(results), "--cells"]) == 0
    return capsys.readouterr().out


def unit_states(results: Path) -> dict[str, tuple[str, str]]:
    """What `bench status` reports of each unit: (state, error)."""
    return {row.unit: (row.state, row.error) for grid in grid_statuses(results) for row in grid.units}


def job_ids(results: Path) -> list[str]:
    return [s["job_id"] for s in states(results).values() if s.get("job_id")]


def test_a_grid_writes_a_serial_runs_records_and_a_failing_unit_fails_alone(cluster, tmp_path, capsys):
    grid = ["--strategy", "clip,deit", "--task", "linear-probe"]
    assert main(run_args(tmp_path, "slurm", *grid, "--launcher", "slurm")) == 0
    out = capsys.readouterr().out
    # level 0: clip and deit's teacher (an array of 2); level 1: deit (afterok); evaluation: an array of 2 (afterany)
    assert "submitted 5 Slurm job(s) in 3 sbatch submission(s)" in out
    submitted = states(tmp_path / "slurm")
    teacher, deit = submitted["pretrain-clip-resnet-seed0"]["job_id"], submitted["pretrain-deit-seed0"]["job_id"]
    dependency = subprocess.run(["scontrol", "show", "job", deit], capture_output=True, text=True, check=True).stdout
    assert f"Dependency=afterok:{teacher}" in dependency
    # pending: deit waits for its teacher's job
    assert unit_states(tmp_path / "slurm")["pretrain-deit-seed0"] == ("queued", "Slurm: PENDING (Dependency)")
    wait(lambda: "running" in dict(unit_states(tmp_path / "slurm").values()), what="a running unit")
    assert main(run_args(tmp_path, "serial", *grid)) == 0  # the same grid in this process, meanwhile
    wait(lambda: not in_queue(job_ids(tmp_path / "slurm")), what="the grid's jobs")
    assert ": 2 done, 0 running, 0 failed, 0 missing" in status(tmp_path / "slurm", capsys)
    assert metrics(tmp_path / "slurm") == metrics(tmp_path / "serial") and len(metrics(tmp_path / "serial")) == 2

    # a unit failing in its Python code (deit's cached checkpoint corrupted): it fails, clip's goes on
    (weights,) = (tmp_path / "slurm-runs").rglob("deit-*/model.safetensors")
    weights.write_bytes(weights.read_bytes() + b"x")
    assert main(run_args(tmp_path, "slurm", *grid, "--task", "linear-probe,ood-zsc", "--launcher", "slurm")) == 0
    assert "submitted 2 Slurm job(s) in 1 sbatch submission(s)" in capsys.readouterr().out  # evaluation only
    wait(lambda: not in_queue(job_ids(tmp_path / "slurm")), what="the evaluation jobs")
    final = states(tmp_path / "slurm")
    assert final["evaluate-deit-seed0"]["state"] == "failed" and "is corrupt" in final["evaluate-deit-seed0"]["error"]
    assert final["evaluate-clip-seed0"]["state"] == "done"
    shown = status(tmp_path / "slurm", capsys)
    assert ": 1 done, 0 running, 1 failed, 0 missing" in shown  # the cells of this submission
    job = final["evaluate-deit-seed0"]["job_id"]
    assert f"evaluate-deit-seed0 (job {job}) failed; last lines of {final['evaluate-deit-seed0']['stderr']}" in shown
    assert "Exited with exit code 1" in shown.split("last lines of", 1)[1], shown


def test_a_preempted_pretraining_resumes_and_a_killed_job_is_reported_from_slurm(cluster, tmp_path, capsys):
    longer = ["--strategy", "clip", "--task", "linear-probe", "--set", "pretrain.steps=60", "--set", "launcher.save_every=4"]
    assert main(run_args(tmp_path, "slurm", *longer, "--launcher", "slurm")) == 0
    job = states(tmp_path / "slurm")["pretrain-clip-seed0"]["job_id"]
    resume = tmp_path / "slurm-runs" / "smoke" / "resume"
    wait(lambda: any(resume.glob("*/state.json")), what="a resume state")
    subprocess.run(["scancel", "--signal=USR2", job], check=True)  # what Slurm sends before preempting a job
    wait(lambda: "Requeued job" in Path(states(tmp_path / "slurm")["pretrain-clip-seed0"]["stdout"]).read_text(),
         what="submitit's requeue")
    assert unit_states(tmp_path / "slurm")["pretrain-clip-seed0"][0] in ("queued", "running")
    assert main(run_args(tmp_path, "serial", *longer)) == 0  # uninterrupted, in this process, meanwhile

    # the evaluation job, killed without a chance to write its state (as the OOM killer would)
    evaluation = states(tmp_path / "slurm")["evaluate-clip-seed0"]["job_id"]
    wait(lambda: getattr(job_states([evaluation]).get(evaluation), "running", False), what="the evaluation job to start")
    subprocess.run(["scancel", "--signal=KILL", evaluation], check=True)  # while it starts: its unit is not done
    wait(lambda: not in_queue([evaluation]), what="the killed job to end")
    assert states(tmp_path / "slurm")["evaluate-clip-seed0"]["state"] in ("queued", "running")  # not how it ended …
    state, error = unit_states(tmp_path / "slurm")["evaluate-clip-seed0"]
    assert state == "failed" and error.startswith(f"Slurm job {evaluation} ended ")  # … which Slurm knows
    assert f"evaluate-clip-seed0 (job {evaluation}) failed; last lines of" in status(tmp_path / "slurm", capsys)

    (meta,) = [json.loads(p.read_text()) for p in (tmp_path / "slurm-runs" / "smoke").glob("clip-*/meta.json")]
    assert meta["pretrain"]["resumed_from"] > 0  # the requeued job continued from its resume state …
    (weights,) = (tmp_path / "slurm-runs" / "smoke").glob("clip-*/model.safetensors")
    (reference,) = (tmp_path / "serial-runs" / "smoke").glob("clip-*/model.safetensors")
    assert weights.read_bytes() == reference.read_bytes()  # … to an uninterrupted run's weights

    # resubmitted: only the killed evaluation runs again; the checkpoint is reused
    capsys.readouterr()
    assert main(run_args(tmp_path, "slurm", *longer, "--launcher", "slurm")) == 0
    assert "submitted 1 Slurm job(s) in 1 sbatch submission(s)" in capsys.readouterr().out
    wait(lambda: not in_queue(job_ids(tmp_path / "slurm")), what="the resubmitted job")
    assert ": 1 done, 0 running, 0 failed, 0 missing" in status(tmp_path / "slurm", capsys)
    assert metrics(tmp_path / "slurm") == metrics(tmp_path / "serial")
    assert weights.read_bytes() == reference.read_bytes()


def test_sbatch_refusing_a_job_is_one_line_and_exit_2(cluster, tmp_path, capsys):
    args = run_args(tmp_path, "r", "--strategy", "clip", "--task", "linear-probe", "--launcher", "slurm",
                    "--set", "launcher.slurm.evaluate.gpus_per_node=1")  # this node has no GPU
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "--gpus-per-node" not in out.split("sbatch (evaluate")[0]  # none asked for where the config does not say so
    assert "--gpus-per-node=1" in out.split("sbatch (evaluate")[1]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: sbatch refused the evaluate job(s): --gpus-per-node=1 (launcher.slurm.evaluate.gpus_per_node or "
                   "launcher.slurm.gpus_per_node): Slurm said: Invalid generic resource (gres) specification "
                   "(the 1 job(s) this command had submitted are cancelled)"]
    assert not in_queue(job_ids(tmp_path / "r"))
    assert {s["state"] for s in states(tmp_path / "r").values()} == {"queued"}
    assert not any(s.get("job_id") for s in states(tmp_path / "r").values())
