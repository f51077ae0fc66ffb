"""What Slurm itself says, for `bench run --launcher slurm` and `bench status`: whether a partition
has GPU nodes (`sinfo`), and the state of submitted jobs — `squeue` while slurmctld still holds
them (pending with its reason, running, and finished for `MinJobAge`), then `sacct` (Slurm's
accounting, where the cluster keeps one) for the others. A job that died without writing its
unit's state (killed by the OOM killer, `scancel`, a node failure) is known only here."""

from __future__ import annotations

import getpass
import re
import subprocess
from dataclasses import dataclass

QUERY_TIMEOUT_S = 30

#: Slurm job states by what they mean for a unit (anything else is a finished job)
WAITING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "CONFIGURING"}
RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING"}


@dataclass(frozen=True)
class SlurmJob:
    """One job (or array element) as Slurm reports it."""

    job_id: str
    state: str  # Slurm's word: PENDING, RUNNING, COMPLETED, CANCELLED, OUT_OF_MEMORY, …
    detail: str = ""  # a pending job's reason, or a finished job's exit code

    @property
    def waiting(self) -> bool:
        return self.state in WAITING

    @property
    def running(self) -> bool:
        return self.state in RUNNING


def partition_has_gpus(partition: str) -> bool | None:
    """Whether the nodes of `partition` ("" = the default partition) have GPUs (a `gpu` generic
    resource in `sinfo`); None when `sinfo` cannot tell (not installed, no such partition)."""
    output = _query(["sinfo", "-h", "-o", "%P|%G"])
    if output is None:
        return None
    gres = [line.split("|", 1)[1] for line in output.splitlines() if "|" in line
            and (line.split("|")[0].rstrip("*") == partition if partition else line.split("|")[0].endswith("*"))]
    return any("gpu" in entry for entry in gres) if gres else None


def job_states(job_ids: list[str]) -> dict[str, SlurmJob]:
    """Slurm's state of each of `job_ids` (array elements as `<array>_<index>`) that it still knows."""
    wanted = set(job_ids)
    found: dict[str, SlurmJob] = {}
    if not wanted:
        return found
    queue = _query(["squeue", "-h", "-r", "-t", "all", "-u", getpass.getuser(), "-o", "%i|%T|%r"])
    for line in (queue or "").splitlines():
        job_id, state, reason = (line.split("|") + ["", ""])[:3]
        if job_id in wanted:
            found[job_id] = SlurmJob(job_id, state, "" if reason == "None" else reason)
    missing = sorted(wanted - set(found))
    if missing:
        arrays = sorted({job_id.split("_")[0] for job_id in missing})
        accounting = _query(["sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode", "-j", ",".join(arrays)])
        for line in (accounting or "").splitlines():
            job_id, state, exit_code = (line.split("|") + ["", ""])[:3]
            for element in _expand(job_id):
                if element in wanted and element not in found:
                    job = SlurmJob(element, state.split()[0] if state else "")
                    ended = not (job.waiting or job.running)
                    found[element] = SlurmJob(job.job_id, job.state, f"exit code {exit_code}" if ended else "")
    return found


def _expand(job_id: str) -> list[str]:
    """sacct's `123_[0-2,5%4]` (pending elements of an array) as `123_0 … 123_5`; other ids as they are."""
    match = re.fullmatch(r"(\d+)_\[([\d,\-]+)(?:%\d+)?\]", job_id)
    if not match:
        return [job_id]
    elements = []
    for part in match.group(2).split(","):
        low, _, high = part.partition("-")
        elements += [f"{match.group(1)}_{index}" for index in range(int(low), int(high or low) + 1)]
    return elements


def _query(command: list[str]) -> str | None:
    """The command's output, or None when it is not installed or fails (no accounting, no cluster)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
