"""Result records as one table row each: every `*.json` record and every packed `*.jsonl.gz` file
under a results folder, validated (core/records.py) and flattened for the leaderboards."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from vlpbench.core.errors import VlpbenchError
from vlpbench.core.records import PACKED_SUFFIX, read_packed, read_record
from vlpbench.report.table_model import KEY


def _load_one(path: Path | str, rec: dict) -> dict:
    """One validated record (core/records.py) flattened into a table row."""
    metrics = {str(k): float(v) for k, v in (rec["metrics"] or {}).items()}
    seed, fraction = int(rec["seed"]), float(rec["fraction"])
    corpus, enc, pre = rec.get("corpus") or {}, rec.get("encoders") or {}, rec.get("pretrain") or {}
    return {
        "path": str(path), "strategy": str(rec["strategy"]), "task": str(rec["task"]),
        "dataset": str(rec["dataset"]), "fraction": fraction, "seed": seed, "status": rec["status"],
        "metrics": metrics, "ci": rec.get("ci") or {}, "bootstrap": rec.get("bootstrap") or {},
        "warnings": list(rec.get("warnings") or []), "profile": rec.get("profile") or "",
        "config_hash": rec.get("config_hash") or "", "checkpoint_hash": rec.get("checkpoint_hash") or "",
        "corpus_name": corpus.get("name") or "", "corpus_size": corpus.get("size"),
        "corpus_mle": corpus.get("mle"), "encoder_image": enc.get("image") or "",
        "encoder_text": enc.get("text") or "", "pretrain_wall_time_s": pre.get("wall_time_s"),
        "pretrain_peak_memory_mb": pre.get("peak_memory_mb"), "text_zero_shot_auc": pre.get("text_zero_shot_auc"),
        "wall_time_s": rec.get("wall_time_s"),
        "peak_memory_mb": rec.get("peak_memory_mb"),
        "version": (rec.get("versions") or {}).get("vlpbench") or "",
        "git_commit": rec.get("git_commit") or "", "created": rec.get("created") or "",
        "pretrain_seed": None if rec.get("pretrain_seed") is None else int(rec["pretrain_seed"]), "replicate": bool(rec.get("replicate", False)),
        "extra": rec.get("extra") or {}, "text_language": _text_language(rec),
        "external": rec.get("external") or {}, "weights_loaded": rec.get("weights_loaded") or [],
        "task_options": _task_options(rec),
    }


def _task_options(rec: dict) -> str:
    """The record's task options (`config.task.<task>`) as canonical JSON ("" if not stated)."""
    config = rec.get("config")
    tasks = config.get("task") if isinstance(config, dict) else None
    options = tasks.get(rec["task"]) if isinstance(tasks, dict) else None
    return json.dumps(options, sort_keys=True) if options is not None else ""


def _text_language(rec: dict) -> str:
    """The language of the record's text encoder (`config.encoders.text.language`), "" if not stated."""
    config = rec.get("config")
    encoders = config.get("encoders") if isinstance(config, dict) else None
    text = encoders.get("text") if isinstance(encoders, dict) else None
    return str(text.get("language") or "") if isinstance(text, dict) else ""


def load_records(results_dir: Path) -> pd.DataFrame:
    """Every record under `results_dir` (recursively: `*.json` files and packed `*.jsonl.gz`
    files, `bench records pack`), one row each, sorted by key.

    Dict-valued fields (`metrics`, `ci`, `bootstrap`) stay dicts; nested header fields are
    flattened (`corpus_name`, `pretrain_wall_time_s`, `version`, …). Two records with the same
    (strategy, task, dataset, fraction, seed), e.g. from two grids (`<profile>-<config hash>`
    folders) under one results folder, are an error naming both files.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise VlpbenchError(f"{results_dir}: results directory not found")
    rows = [_load_one(p, read_record(p)) for p in sorted(results_dir.rglob("*.json"))]
    rows += [_load_one(where, rec) for p in sorted(results_dir.rglob(f"*{PACKED_SUFFIX}")) for where, rec in read_packed(p)]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    dup = df[df.duplicated(KEY, keep=False)].sort_values(KEY + ["path"])
    if not dup.empty:
        a, b = dup.iloc[0], dup.iloc[1]
        raise VlpbenchError(
            f"{a['path']} and {b['path']}: two result records for the same {'/'.join(KEY)} (grids "
            f"{a['profile']}-{a['config_hash']} and {b['profile']}-{b['config_hash']}); "
            "point the results folder at one grid"
        )
    df["corpus_size"] = pd.to_numeric(df["corpus_size"])
    for col in ("corpus_mle", "pretrain_wall_time_s", "pretrain_peak_memory_mb", "text_zero_shot_auc", "wall_time_s", "peak_memory_mb"):
        df[col] = pd.to_numeric(df[col]).astype(float)
    return df.sort_values(KEY, kind="stable").reset_index(drop=True)
