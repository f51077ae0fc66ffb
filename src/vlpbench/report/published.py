"""A new strategy scored against the published grid: the shipped records merged with a user's own,
only where the evaluation protocol matches (`bench leaderboard --with-published`).

For every (strategy, task) group of the user's records, the protocol — profile, grid hash (encoders,
corpus, pretraining and the shared evaluation settings: `config_hash`), the task's options and the
vlpbench version that generated the synthetic data — must equal the published records' of that task.
A group that differs, or a strategy the published grid already has, is left out with a one-line
reason; nothing is mixed silently.
"""

from __future__ import annotations

import pandas as pd

PROTOCOL = ("profile", "config_hash", "task_options", "version")
LABELS = {"profile": "profile", "config_hash": "grid hash (encoders, corpus, pretraining, evaluation protocol)",
          "task_options": "task options", "version": "vlpbench version (synthetic data generator)"}


def merge_published(own: pd.DataFrame, published: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The published records plus the user's groups whose protocol matches; and one line per
    group left out, saying why."""
    if published.empty:
        return own, []
    kept, reasons = [published], []
    protocols = {task: part[list(PROTOCOL)].drop_duplicates() for task, part in published.groupby("task")}
    published_strategies = {task: set(part["strategy"]) for task, part in published.groupby("task")}
    for (strategy, task), group in own.groupby(["strategy", "task"], sort=True):
        if task not in protocols:
            reasons.append(f"{strategy} on {task}: the published grid has no {task} records to compare with; left out")
            continue
        if strategy in published_strategies[task]:
            reasons.append(f"{strategy} on {task}: the published grid has {strategy} already; its records are kept, yours left out")
            continue
        mismatch = _mismatch(group, protocols[task])
        if mismatch:
            reasons.append(f"{strategy} on {task}: {mismatch}; left out")
            continue
        kept.append(group)
    return pd.concat(kept, ignore_index=True), reasons


def _mismatch(group: pd.DataFrame, protocol: pd.DataFrame) -> str:
    """"" when every record of `group` has one of the published protocols, else what differs."""
    mine = group[list(PROTOCOL)].drop_duplicates()
    for field in PROTOCOL:
        theirs = sorted(set(protocol[field]))
        yours = sorted(set(mine[field]) - set(theirs))
        if yours:
            return f"{LABELS[field]} {_show(yours)} ≠ published {_show(theirs)}"
    if not mine.merge(protocol, how="left", indicator=True)["_merge"].eq("both").all():
        return "protocol differs from the published one in a combination of profile, grid hash, task options and version"
    return ""


def _show(values: list) -> str:
    text = ", ".join(str(v) or "–" for v in values)
    return text if len(text) <= 80 else text[:77] + "…"
