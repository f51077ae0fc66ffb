"""The results store: one JSON record per (strategy, task, dataset, seed, fraction), written
atomically; a rerun skips existing records unless forced."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vlpbench.core.atomic import atomic_write, atomic_write_json
from vlpbench.core.errors import VlpbenchError

SCHEMA_VERSION = 1


def grid_dir(results_dir: Path, profile: str, config_hash: str) -> Path:
    return results_dir / f"{profile}-{config_hash}"


def record_path(grid: Path, task: str, dataset: str, strategy: str, seed: int, fraction: float) -> Path:
    return grid / task / dataset / strategy / f"seed{seed}_frac{fraction:g}.json"


def make_record(**fields: Any) -> dict[str, Any]:
    """A record with the schema version and creation time stamped."""
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"schema_version": SCHEMA_VERSION, "created": created, **fields}


def write_record(path: Path, record: dict[str, Any]) -> None:
    atomic_write_json(path, record)


def read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise VlpbenchError(f"result record {path} unreadable: {error}") from None
    if record.get("schema_version") != SCHEMA_VERSION:
        raise VlpbenchError(f"result record {path}: schema_version {record.get('schema_version')!r}, expected {SCHEMA_VERSION}")
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
