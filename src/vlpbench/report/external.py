"""Released foundation models in the leaderboards: their own section under each task's table
(they were pretrained on other data, so they are references, not strategies in the tests), and
`foundation-models.md`, the comparison in the layout of ViLReF Tables VI–VIII (fine-tuning,
prompt-based OOD zero-shot, lesion segmentation per lesion type), released models first, then
the benchmark's own strategies. Everything is read from the records' `external` field."""

from __future__ import annotations

from typing import Callable

import pandas as pd
from tabulate import tabulate

AVG = "Avg"
METRIC_NAMES = {"auc": "AUC", "map": "mAP", "dsc": "DSC", "iou": "IoU"}
#: ViLReF Tables VI, VII and VIII: (task, caption)
VILREF_TABLES = (
    ("finetune", "Table VI layout — fully fine-tuned classification (%)"),
    ("ood-zsc", "Table VII layout — prompt-based OOD zero-shot classification (%)"),
    ("seg", "Table VIII layout — lesion segmentation (%)"),
)


def is_external(df: pd.DataFrame) -> pd.Series:
    """Rows of records that carry an `external` description (a released model)."""
    return df["external"].map(bool)


def _cells(t: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """(row, dataset, metric) → mean, std, n over the seeds of the `ok` records, with Avg per
    seed over datasets (only when every dataset has that metric)."""
    ok = t[t["status"] == "ok"]
    rows = [(r.strategy, r.dataset, r.seed, m, r.metrics[m]) for r in ok.itertuples(index=False) for m in metrics if m in r.metrics]
    long = pd.DataFrame(rows, columns=["row", "dataset", "seed", "metric", "value"])
    if long.empty:
        return long
    datasets = long["dataset"].nunique()
    per_seed = long.groupby(["row", "seed", "metric"])["value"].agg(["mean", "count"]).reset_index()
    avg = per_seed[per_seed["count"] == datasets].assign(dataset=AVG).rename(columns={"mean": "value"})
    if datasets >= 2:
        long = pd.concat([long, avg[["row", "dataset", "seed", "metric", "value"]]], ignore_index=True)
    return long.groupby(["row", "dataset", "metric"])["value"].agg(["mean", "std", "count"]).reset_index()


def _cell(stats: pd.DataFrame, row: str, dataset: str, metric: str, status: str) -> str:
    hit = stats[(stats["row"] == row) & (stats["dataset"] == dataset) & (stats["metric"] == metric)] if not stats.empty else stats
    if hit.empty:
        return status
    mean, std, count = hit.iloc[0][["mean", "std", "count"]]
    return f"{mean:.2f}" if count < 2 else f"{mean:.2f} ({std:.2f})"


def _grid(t: pd.DataFrame, rows: list[str], metrics: list[str], first: Callable[[str], list[str]], heads: list[str]) -> str:
    """A GitHub table: `heads` columns from `first(row)`, then dataset × metric, then Avg."""
    stats = _cells(t, metrics)
    datasets = sorted(set(t["dataset"])) + ([AVG] if t["dataset"].nunique() >= 2 else [])
    columns = [(d, m) for d in datasets for m in metrics if not stats.empty and ((stats["dataset"] == d) & (stats["metric"] == m)).any()]
    status = {r: ("n/a" if (t[t["strategy"] == r]["status"] == "n/a").all() else "–") for r in rows}
    body = [[*first(r), *(_cell(stats, r, d, m, status[r]) for d, m in columns)] for r in rows]
    header = [*heads, *(f"{d} {METRIC_NAMES.get(m.partition('/')[0], m)}" for d, m in columns)]
    return tabulate(body, headers=header, tablefmt="github", disable_numparse=True)


def _external_info(t: pd.DataFrame) -> dict[str, dict]:
    """Row → its `external` description (the newest record's)."""
    return {row: group.sort_values("created")["external"].iloc[-1] for row, group in t.groupby("strategy")}


def external_section(t: pd.DataFrame, metrics: list[str]) -> list[str]:
    """Markdown lines for one task: a heading, then `external_tables`; appended under the task's
    strategy table."""
    return ["", "## Released foundation models (references: pretrained on other data, not in the tests above)", "",
            *external_tables(t, metrics)]


def external_tables(t: pd.DataFrame, metrics: list[str]) -> list[str]:
    """The released models of one task as two markdown tables: title, name, backbone and cells
    `mean (std)` over seeds; then source, licence and the fraction of each tower the file set."""
    info = _external_info(t)
    rows = sorted(info)

    def first(row: str) -> list[str]:
        return [info[row].get("title") or row, f"`{row}`", info[row].get("backbone", "")]

    lines = [_grid(t, rows, metrics, first, ["Model", "name", "Visual backbone"]), "",
             "| name | source | licence | weights loaded |", "|---|---|---|---|"]
    for row in rows:
        loaded = t[t["strategy"] == row]["weights_loaded"].iloc[-1]
        fractions = ", ".join(f"{w['tower']} {float(w['fraction']):.0%}" for w in loaded) or "–"
        lines.append(f"| `{row}` | {info[row].get('source', '')} | {info[row].get('licence', '')} | {fractions} |")
    return lines


def vilref_tables(df: pd.DataFrame, order: Callable[[str], tuple]) -> str | None:
    """`foundation-models.md` in the layout of ViLReF Tables VI–VIII when external rows exist:
    released models, then the strategies of the same results; None when there are none."""
    records = df[~df["replicate"]]
    if not is_external(records).any():
        return None
    lines = ["# Released foundation models and vlpbench strategies (ViLReF Tables VI–VIII layout)", "",
             "Released models are evaluated as they are (their own pretraining data); strategies are pretrained on this "
             "benchmark's corpus. Cells: mean (std) over seeds; one value when the task is deterministic. "
             "n/a: the model has no text tower.", ""]
    for task, caption in VILREF_TABLES:
        t = records[records["task"] == task]
        if t.empty or not is_external(t).any():
            continue
        info = _external_info(t[is_external(t)])
        strategies = sorted(set(t[~is_external(t)]["strategy"]), key=order)
        rows = sorted(info) + strategies

        def first(row: str, info: dict = info, t: pd.DataFrame = t) -> list[str]:
            if row in info:
                return [info[row].get("title") or row, info[row].get("backbone", "")]
            return [f"{row} (vlpbench)", str(t[t["strategy"] == row]["encoder_image"].iloc[-1])]

        lines += [f"## {caption} (`{task}`)", ""]
        if task == "seg":
            lesions = sorted({m.partition("/")[2] for ms in t["metrics"] for m in ms if "/" in m})
            for lesion in lesions:
                lines += [f"### {lesion.replace('_', ' ')}", "",
                          _grid(t, rows, [f"dsc/{lesion}", f"iou/{lesion}"], first, ["Pre-trained visual encoder", "Visual backbone"]), ""]
        else:
            lines += [_grid(t, rows, ["auc", "map"], first, ["Model", "Visual backbone"]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
