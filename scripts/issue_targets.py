"""The measured targets of issues 24 ("A default that needs a representation") and 25 ("Resolution
you can see") on the published grid, each with its number and met / not met. Prints markdown.

    python scripts/issue_targets.py [--leaderboards leaderboards] [--records leaderboards/records]

Means, pairwise p-values (paired t over runs, Holm over every pair of the table) and MDDs are read
from the leaderboards `bench leaderboard` wrote; the ladder is recomputed from the records with the
leaderboards' own function (report/planted.py); chance levels and timings come from the records.
Wall time from a cold cache is estimated as the records' summed pretraining + evaluation seconds over
2 workers (the grid ran in pieces across sessions and reused cached checkpoints, so no single clock
measured it)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from vlpbench.core.registry import STRATEGIES
from vlpbench.report.planted import PLANTED_TAG, find_ladder, ladder_result
from vlpbench.report.records_frame import load_records
from vlpbench.report.table_model import REFERENCE_TAG

WORKERS = 2


def cells(table: pd.DataFrame, metric: str, dataset: str = "Avg") -> pd.DataFrame:
    """The rows of a `<task>.csv` for `metric` on `dataset` at fraction 1, indexed by strategy."""
    return table[(table["dataset"] == dataset) & (table["metric"] == metric) & (table["fraction"] == 1)].set_index("strategy")


def avg(table: pd.DataFrame, metric: str, dataset: str = "Avg") -> pd.Series:
    """Mean per strategy of `metric` on `dataset` (fraction 1), strategies it applies to."""
    rows = cells(table, metric, dataset)
    return rows.loc[rows["status"] == "ok", "mean"].astype(float)


def headline(tables: dict[str, pd.DataFrame], tags: dict[str, tuple[str, ...]]) -> list[str]:
    """Per task: the reference rows, `clip` and the best real strategy, Avg mean (SD) over runs."""
    out = ["| task (Avg) | random-init | colour-only | supervised | clip | best strategy |", "|---|---|---|---|---|---|"]
    for task, metric in (("ood-zsc", "auc"), ("linear-probe", "auc"), ("finetune", "auc"), ("seg", "dsc"), ("loc", "auc")):
        rows = cells(tables[task], metric)
        runs = int(rows["n"].max())

        def cell(name: str) -> str:
            if name not in rows.index or rows.loc[name, "status"] != "ok":
                return "n/a"
            n = int(rows.loc[name, "n"])
            return f"{rows.loc[name, 'mean']:.2f} ({rows.loc[name, 'std']:.2f})" + ("" if n >= runs else f" ({n} runs)")

        means = avg(tables[task], metric)
        best = means[[not ({REFERENCE_TAG, PLANTED_TAG} & set(tags.get(s, ()))) for s in means.index]].idxmax()
        out.append(f"| {task} {metric.upper()} | {cell('random-init')} | {cell('colour-only')} | {cell('supervised')} | "
                   f"{cell('clip')} | {best} {cell(best)} |")
    return out


def pair(pairwise: pd.DataFrame, a: str, b: str) -> tuple[float, float]:
    """(mean difference a − b, Holm-adjusted p) of one pair of a `<task>-pairwise.csv`."""
    row = pairwise[((pairwise["a"] == a) & (pairwise["b"] == b)) | ((pairwise["a"] == b) & (pairwise["b"] == a))]
    if row.empty:
        return np.nan, np.nan
    r = row.iloc[0]
    sign = 1.0 if r["a"] == a else -1.0
    return sign * float(r["mean_diff"]), float(r["p_holm"])


def line(target: str, measured: str, met: bool) -> str:
    return f"| {target} | {measured} | {'met' if met else '**not met**'} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaderboards", type=Path, default=Path("leaderboards"))
    parser.add_argument("--records", type=Path, default=Path("leaderboards/records"))
    args = parser.parse_args()
    lb = args.leaderboards
    tables = {t: pd.read_csv(lb / f"{t}.csv") for t in ("linear-probe", "finetune", "ood-zsc", "seg", "loc")}
    pairs = {t: pd.read_csv(lb / f"{t}-pairwise.csv") for t in ("linear-probe", "finetune", "ood-zsc", "seg")}
    mdd = pd.read_csv(lb / "variance-components.csv").set_index("task")["mdd"]
    everything = load_records(args.records)
    records = everything[~everything["replicate"]]  # the variance split's extra downstream draws are not runs
    tags = {name: info.tags for name, info in STRATEGIES.infos().items()}
    out = ["# Measured targets of the quick profile (issues 24 and 25)", "",
           "Regenerate: `python scripts/issue_targets.py > leaderboards/targets.md` (after `bench leaderboard`). "
           "Unit of every test: the pretraining run; p: paired t over runs, Holm over every pair of the table "
           "(the ladder's rungs: Holm over the ladder, as the tables' detection line). Wall time from a cold "
           "cache: every checkpoint's pretraining seconds and every record's evaluation seconds, summed, over 2 workers "
           "(an estimate: the published grid ran in pieces and reused cached checkpoints).", "",
           "| target | measured | |", "|---|---|---|"]

    probe = avg(tables["linear-probe"], "auc")
    out.append(line("#24 colour-only linear-probe Avg AUC ≤ 65", f"{probe['colour-only']:.2f}", probe["colour-only"] <= 65))
    for ref, margin in (("colour-only", 15), ("random-init", 10)):
        delta, p = pair(pairs["linear-probe"], "clip", ref)
        out.append(line(f"#24 clip ≥ {ref} + {margin} on the probe's Avg (p < 0.05)",
                        f"{delta:+.2f} (Holm p {p:.2g})", delta >= margin and p < 0.05))

    seg = tables["seg"]
    sets = sorted(set(seg["dataset"]) - {"Avg"})
    ratios = {}
    for name in sets:
        dsc = avg(seg, "dsc", name)
        best = dsc.drop(["colour-only"], errors="ignore").max()
        ratios[name] = dsc["colour-only"] / best
    out.append(line("#24 seg colour-only ≤ ½ the best segmenter's DSC on every set",
                    ", ".join(f"{k} {v:.2f}×" for k, v in ratios.items()), max(ratios.values()) <= 0.5))
    delta, p = pair(pairs["seg"], "clip", "random-init")
    out.append(line("#24 seg clip ≥ random-init + 10 DSC (p < 0.05)", f"{delta:+.2f} (Holm p {p:.2g})", delta >= 10 and p < 0.05))
    seg_avg = avg(seg, "dsc")
    contrastive = [s for s in seg_avg.index if "contrastive" in tags.get(s, ())]
    below = [s for s in contrastive if seg_avg[s] <= seg_avg["random-init"]]
    out.append(line("#24 seg every contrastive strategy above random-init",
                    f"{len(contrastive) - len(below)} of {len(contrastive)} above" + (f" (not: {', '.join(below)})" if below else ""),
                    not below))

    loc = tables["loc"]
    auc, pointing = avg(loc, "auc"), avg(loc, "pointing")
    chance = np.mean([r["chance"]["pointing"] for r in records.loc[records["task"] == "loc", "extra"] if "chance" in r])
    out.append(line("#24 loc best pixel AUC ≥ 70", f"{auc.idxmax()} {auc.max():.2f}", auc.max() >= 70))
    out.append(line("#24 loc random-init pixel AUC within 50 ± 5", f"{auc['random-init']:.2f}", abs(auc["random-init"] - 50) <= 5))
    out.append(line("#24 loc best pointing ≥ 3 × chance", f"{pointing.idxmax()} {pointing.max():.2f} % vs chance {chance:.2f} %",
                    pointing.max() >= 3 * chance))

    targets = {"linear-probe": 1.5, "finetune": 1.5, "ood-zsc": 3.0, "seg": 2.5}
    for task, target in targets.items():
        out.append(line(f"#25 MDD {task} ≤ {target}", f"{mdd[task]:.2f}", mdd[task] <= target))
    ladder = find_ladder(sorted(records["strategy"].unique()), tags)
    for task, metric in (("linear-probe", "auc"), ("finetune", "auc"), ("ood-zsc", "auc"), ("seg", "dsc")):
        result = ladder_result(records[records["task"] == task], metric, ladder) if ladder else None
        if result is None:
            out.append(line(f"#25 ladder in the true order on {task}", "no ladder records", False))
            continue
        out.append(line(f"#25 ladder in the true order on {task}", f"Kendall τ {result.tau:.2f} ({result.runs} runs)",
                        np.isclose(result.tau, 1.0)))
        if task != "seg":
            rung = next(r for r in result.ladder.rungs if r.endswith("-25"))
            p = result.p_holm[rung]
            out.append(line(f"#25 {rung} separated from clip on {task} (p < 0.05)", f"Holm p {p:.2g}",
                            p < 0.05 and result.means[rung] < result.means["clip"]))
    zsc = avg(tables["ood-zsc"], "auc")
    out.append(line("#25 clip zero-shot Avg AUC ≥ 75", f"{zsc['clip']:.2f}", zsc["clip"] >= 75))
    gap = (avg(tables["finetune"], "auc") - probe).drop("colour-only", errors="ignore").dropna()  # no encoder to fine-tune
    short = gap[gap < 0].sort_values()
    out.append(line("#25 finetune ≥ probe for every strategy with an encoder", f"{len(gap) - len(short)} of {len(gap)}"
                    + (f"; below: {', '.join(f'{s} {v:+.2f}' for s, v in short.items())}" if len(short) else ""), short.empty))

    checkpoints = everything.drop_duplicates("checkpoint_hash")
    pretrain = checkpoints["pretrain_wall_time_s"].fillna(0).sum()
    by_task = everything.groupby("task")["wall_time_s"].sum()
    total = pretrain + by_task.sum()
    wall = total / WORKERS / 60
    out.append(line("#25 whole grid ≤ 150 min with --workers 2", f"≈ {wall:.0f} min (summed seconds / {WORKERS} workers)", wall <= 150))
    share = by_task.sum() / total
    out.append(line("#25 evaluation ≤ 30 % of the grid", f"{100 * share:.0f} %", share <= 0.30))
    seg_loc = (by_task.get("seg", 0) + by_task.get("loc", 0)) / total
    out.append(line("#24 seg + loc ≤ 25 % of the grid's wall time", f"{100 * seg_loc:.1f} %", seg_loc <= 0.25))
    print("\n".join(out))
    print(f"\n{len(checkpoints)} checkpoints, {len(everything)} records; pretraining {pretrain / 60:.0f} min, evaluation "
          + ", ".join(f"{t} {s / 60:.1f}" for t, s in by_task.items()) + " min (summed over workers).")
    print("\n## What the default measures (mean (SD) over pretraining runs)\n")
    print("\n".join(headline(tables, tags)))


if __name__ == "__main__":
    main()
