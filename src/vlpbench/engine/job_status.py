"""The state of each unit of a launched grid, one small file per unit in `<grid>/jobs/`
(`<unit>.status`, JSON text; not `*.json`, which is a result record): queued, running (with job
id, host, pid and log files), done, or failed (with the error). Launchers and jobs write it, the
local workers use it as their shared queue, and `bench status` reads it; the records themselves
stay the source of truth for what is finished."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import submitit

from vlpbench.core.atomic import atomic_write_json, pid_alive

STATES = ("queued", "running", "done", "failed")


def status_path(grid: Path, unit: str) -> Path:
    return grid / "jobs" / f"{unit}.status"


def read_status(path: Path) -> dict[str, Any]:
    """The unit's last written state ({} when none was written or it cannot be read)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def write_status(path: Path, state: str, **info: Any) -> None:
    """Replace the unit's state; `info` adds fields (job id, error, …) to those kept from before
    (what the unit is, and where its job runs); `queued` starts afresh."""
    previous = {} if state == "queued" else read_status(path)
    keep = {k: previous[k] for k in ("unit", "kind", "cells", "launcher", "job_id", "host", "pid", "stdout", "stderr") if k in previous}
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    atomic_write_json(path, {**keep, **info, "state": state, "updated": stamp})


def this_job() -> dict[str, Any]:
    """Where this process runs: host, pid, and the submitit job id and log files when it is a job."""
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    environment = submitit_environment()
    if environment is not None:
        info["job_id"] = environment.job_id
        if "SUBMITIT_FOLDER" in os.environ:  # not set in the in-process debug executor
            info.update(stdout=str(environment.paths.stdout), stderr=str(environment.paths.stderr))
    return info


def submitit_environment() -> submitit.JobEnvironment | None:
    """submitit's JobEnvironment when this process is a submitit job, else None."""
    try:
        return submitit.JobEnvironment()
    except RuntimeError:
        return None


def effective_state(status: dict[str, Any]) -> str:
    """The state, with a `running` unit whose process on this host is gone read as failed."""
    state = status.get("state", "queued")
    if state == "running" and status.get("host") == socket.gethostname() and not pid_alive(int(status.get("pid", 0))):
        return "failed"
    return state


def stderr_tail(status: dict[str, Any], lines: int = 15) -> str:
    """The last lines of the unit's job stderr log ("" when there is none)."""
    path = status.get("stderr")
    if not path or not Path(path).is_file():
        return ""
    return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
