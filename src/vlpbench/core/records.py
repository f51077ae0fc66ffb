"""The results store: one JSON record per (strategy, task, dataset, seed, fraction), written
atomically; a rerun skips a record whose `record_key` still matches unless forced.

The one record schema: `REQUIRED` fields (+ optional ci/bootstrap/warnings/provenance fields),
`STATUSES`, checked by `validate_record` whenever a record is read."""

from __future__ import annotations

import gzip
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


PACKED_SUFFIX = ".jsonl.gz"  # a packed task: one record per line, gzip (the records shipped with the repository)


def write_packed(path: Path, records: list[dict[str, Any]]) -> None:
    """Write validated records as one gzip'd JSON line each, in the given order, atomically; the
    gzip header carries no time or name, so the same records give the same bytes."""
    lines = "".join(json.dumps(validate_record(r, path), sort_keys=True, separators=(",", ":")) + "\n" for r in records)
    atomic_write(path, lambda tmp: tmp.write_bytes(gzip.compress(lines.encode("utf-8"), compresslevel=9, mtime=0)))


def read_packed(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(`<file>#<line>`, validated record) for every line of a packed file; any problem is a
    VlpbenchError naming the file and line."""
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise VlpbenchError(f"packed records {path} unreadable: {error}") from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{path}#{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise VlpbenchError(f"{where}: not a JSON record ({error})") from None
        out.append((where, validate_record(record, Path(where))))
    return out


def pack_records(results_dir: Path, out_dir: Path) -> list[Path]:
    """Pack every `*.json` record under `results_dir` into `<out_dir>/<profile>-<config hash>/<task>.jsonl.gz`
    (records sorted by strategy, task, dataset, fraction, seed and replicate flag; byte-identical for the
    same records) and copy each grid's run log beside them. Returns the written paths."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in sorted(Path(results_dir).rglob("*.json")):
        record = read_record(path)
        grid = f"{record.get('profile') or 'unknown'}-{record.get('config_hash') or 'unknown'}"
        groups.setdefault((grid, str(record["task"])), []).append(record)
    grids = {grid for grid, _ in groups}
    logs = {log.parent.name: log for log in sorted(Path(results_dir).rglob(RUN_LOG)) if log.parent.name in grids}
    if not groups:
        raise VlpbenchError(f"{results_dir}: no *.json result records to pack")
    written = []
    for (grid, task), records in sorted(groups.items()):
        records.sort(key=lambda r: (*(str(r[k]) if k in ("strategy", "task", "dataset") else float(r[k]) for k in KEY),
                                    bool(r.get("replicate", False))))
        target = Path(out_dir) / grid / f"{task}{PACKED_SUFFIX}"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_packed(target, records)
        written.append(target)
    for grid, log in sorted(logs.items()):
        written.append(_copy_text(log, Path(out_dir) / grid / RUN_LOG))
    return written


def unpack_records(packed_dir: Path, results_dir: Path) -> tuple[int, int]:
    """Write every packed record under `packed_dir` back to its own file in `results_dir`
    (`<grid>/<task>/<dataset>/<strategy>/seed<k>_frac<f>.json`, the grid folder named as the
    packed file's), so that `bench run` there reuses them and computes only what is missing; a
    record already present is kept, never overwritten. A grid's run log is copied where it has
    none. Returns (records written, records kept)."""
    packed = sorted(Path(packed_dir).rglob(f"*{PACKED_SUFFIX}"))
    if not packed:
        raise VlpbenchError(f"{packed_dir}: no packed records (*{PACKED_SUFFIX}) to unpack")
    written = kept = 0
    for path in packed:
        grid = Path(results_dir) / path.parent.name
        for _, record in read_packed(path):
            target = record_path(grid, str(record["task"]), str(record["dataset"]), str(record["strategy"]),
                                 int(record["seed"]), float(record["fraction"]))
            if target.exists():
                kept += 1
                continue
            write_record(target, record)
            written += 1
        log = path.parent / RUN_LOG
        if log.exists() and not (grid / RUN_LOG).exists():
            _copy_text(log, grid / RUN_LOG)
    return written, kept


def _copy_text(source: Path, target: Path) -> Path:
    """Copy a text file atomically (a run log beside its packed records, or back)."""
    text = source.read_text(encoding="utf-8")
    atomic_write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return target


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
