"""The results store: one JSON record per (strategy, task, dataset, seed, fraction), written
atomically; a rerun skips a record whose `record_key` still matches unless forced.

The one record schema: `REQUIRED` fields (+ optional ci/bootstrap/warnings/provenance fields),
`STATUSES`, checked by `validate_record` whenever a record is read."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vlpbench.core.atomic import atomic_write, atomic_write_json
from vlpbench.core.errors import VlpbenchError

SCHEMA_VERSION = 1
KEY = ("strategy", "task", "dataset", "fraction", "seed")
REQUIRED = ("schema_version", *KEY, "status", "metrics")
STATUSES = ("ok", "n/a")


def grid_dir(results_dir: Path, profile: str, config_hash: str) -> Path:
    return results_dir / f"{profile}-{config_hash}"


def record_path(grid: Path, task: str, dataset: str, strategy: str, seed: int, fraction: float) -> Path:
    return grid / task / dataset / strategy / f"seed{seed}_frac{fraction:g}.json"


def make_record(**fields: Any) -> dict[str, Any]:
    """A record with the schema version and creation time stamped."""
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"schema_version": SCHEMA_VERSION, "created": created, **fields}


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Validate, then write atomically (a reader never sees a partial or ill-formed record)."""
    atomic_write_json(path, validate_record(record, path))


def read_record(path: Path) -> dict[str, Any]:
    """A validated record; any problem is a VlpbenchError naming the file."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VlpbenchError(f"result record {path} unreadable: {error}") from None
    return validate_record(record, path)


def validate_record(record: Any, path: Path) -> dict[str, Any]:
    """Check the schema: an object with every REQUIRED field, this schema version, a known
    status, an integer seed, a numeric fraction and numeric metrics."""
    if not isinstance(record, dict):
        raise VlpbenchError(f"{path}: expected a JSON object (result record)")
    for name in REQUIRED:
        if name not in record:
            raise VlpbenchError(f"{path}: missing field '{name}'")
    if record["schema_version"] != SCHEMA_VERSION:
        raise VlpbenchError(f"{path}: schema_version {record['schema_version']!r}, expected {SCHEMA_VERSION}")
    if record["status"] not in STATUSES:
        raise VlpbenchError(f"{path}: status {record['status']!r}, expected one of {', '.join(STATUSES)}")
    try:
        int(record["seed"]), float(record["fraction"])
        [float(v) for v in (record["metrics"] or {}).values()]
    except (TypeError, ValueError, AttributeError):
        raise VlpbenchError(f"{path}: 'seed', 'fraction' and 'metrics' values must be numbers") from None
    return record


RUN_LOG = "runs.jsonl"  # not *.json: never read as a result record


def append_run_log(grid: Path, entry: dict[str, Any]) -> None:
    """Append one `bench run` call (wall time, workers, records computed) to the grid's run log."""
    path = grid / RUN_LOG
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    line = json.dumps(entry, sort_keys=True)
    atomic_write(path, lambda tmp: tmp.write_text(previous + line + "\n", encoding="utf-8"))


def read_run_logs(results_dir: Path) -> list[dict[str, Any]]:
    """Every run-log entry under `results_dir`, each with its grid folder's name as `grid`."""
    entries = []
    for path in sorted(Path(results_dir).rglob(RUN_LOG)):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                entries.append({**json.loads(line), "grid": path.parent.name})
            except json.JSONDecodeError:
                raise VlpbenchError(f"{path}: line {number} is not JSON (run log)") from None
    return entries
