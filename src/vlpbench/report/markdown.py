"""Markdown renderers of a leaderboard: the wide table of one task (every dataset × fraction × metric
column, ViLReF Tables I–III layout), its provenance header, legend and warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tabulate import tabulate

from vlpbench.core.registry import STRATEGIES, TASKS
from vlpbench.report.planted import LadderResult
from vlpbench.report.rank_statistics import TaskStatistics, metric_name
from vlpbench.report.table_model import (
    ALPHA,
    FLOOR_MARK,
    MARK,
    REFERENCE_TAG,
    Column,
    cell_stats,
    checkpoints,
    column_label,
    costs,
    num,
    plugin_info,
    strategy_key,
)


def cell_text(c: dict, single_run: bool) -> str:
    if c["status"] != "ok":
        return "n/a" if c["status"] == "n/a" else "–"
    if single_run:
        text = f"{c['mean']:.2f}" + ("" if pd.isna(c["lo"]) else f" [{c['lo']:.2f}, {c['hi']:.2f}]")
    else:
        text = f"{c['mean']:.2f} ({num(c['std'], '.2f')})"
    text += FLOOR_MARK if c["below_floor"] else ""
    if c["best"]:
        return f"**{text}**"
    return text + (MARK if c["significant"] else "")


def markdown_table(t: pd.DataFrame, strategies: list[str], expected_seeds: int, correction: str,
           ablation: dict[str, list[str]] | None = None, ranked: bool = True,
           pairwise: tuple[Column, pd.DataFrame] | None = None) -> tuple[str, pd.DataFrame, bool]:
    """Markdown table (GitHub) and the long CSV frame for the given rows of one task.

    `ablation` (row → its components) adds the check-mark columns of ViLReF Tables IV–V / M-FLAG Table 4.
    """
    components = list(dict.fromkeys(c for parts in (ablation or {}).values() for c in parts))
    t = t[t["strategy"].isin(strategies)]
    cols, cells, single_run = cell_stats(t, strategies, correction, ranked, pairwise)
    show_fraction = set(t["fraction"]) != {1.0}
    seeds = t.groupby(["strategy", "dataset", "fraction"])["seed"].nunique().groupby("strategy").min()
    cost = costs(t)
    by_cell = {(r["strategy"], Column(r["dataset"], r["fraction"], r["metric"])): r for r in cells.to_dict("records")}
    headers = ["Strategy", *components, *(column_label(c, show_fraction) for c in cols),
               "Pretrain (s)", "Peak mem (MB)"]
    body, labels = [], {}
    for s in strategies:
        labels[s] = s if seeds[s] >= expected_seeds else f"{s} ({seeds[s]}/{expected_seeds} seeds)"
        body.append([
            labels[s], *("✓" if c in (ablation or {}).get(s, ()) else "" for c in components), *(cell_text(by_cell[(s, c)], single_run) for c in cols),
            num(cost.at[s, "pretrain_wall_time_s"], ".1f"), num(cost.at[s, "pretrain_peak_memory_mb"], ".0f"),
        ])
    markdown = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
    cells.insert(1, "label", cells["strategy"].map(labels))
    cells = cells.join(cost, on="strategy")
    return markdown, cells, single_run


def distinct(t: pd.DataFrame, col: str) -> str:
    vals = sorted({str(v) for v in t[col].unique() if v != "" and not pd.isna(v)})
    return ", ".join(vals) if vals else "–"


def wall_time(t: pd.DataFrame, run_logs: list[dict]) -> list[str]:
    """The run-log line: wall time of the `bench run` calls that computed this table's grid(s)."""
    grids = {f"{p}-{h}" for p, h in t[["profile", "config_hash"]].drop_duplicates().itertuples(index=False)}
    runs = [r for r in run_logs if r.get("grid") in grids]
    if not runs:
        return []
    setups = sorted({f"workers {r.get('workers', 1)} on {r.get('cpus', '?')} CPUs" for r in runs})
    return [f"- grid wall time: {sum(float(r['wall_time_s']) for r in runs):.0f} s over {len(runs)} `bench run` call(s) "
            f"computing {sum(int(r['records']) for r in runs)} record(s) of every task in the grid ({'; '.join(setups)})"]


def header_lines(t: pd.DataFrame, run_logs: list[dict]) -> list[str]:
    """Provenance lines stated above a table; date = the newest record's `created` date."""
    corpora = t.drop_duplicates(["corpus_name", "corpus_size", "corpus_mle"])
    corpus = sorted(
        f"{r.corpus_name or '–'} ({num(r.corpus_size, '.0f')} pairs, mLE {num(r.corpus_mle, 'g')})"
        for r in corpora.itertuples(index=False)
    )
    encoders = sorted(f"image {image or '–'}; text {text or '–'}"
                      for image, text in t[["encoder_image", "encoder_text"]].drop_duplicates().itertuples(index=False))
    ck = checkpoints(t)
    pretrain = ck["pretrain_wall_time_s"].sum()
    evaluation = t["wall_time_s"].sum()
    created = max((c for c in t["created"] if c), default="")
    return [
        f"- profile: {distinct(t, 'profile')}",
        f"- corpus: {', '.join(corpus)}",
        f"- encoders: {' | '.join(encoders)}",
        f"- config hash: {distinct(t, 'config_hash')}",
        f"- code: vlpbench {distinct(t, 'version')}, git {distinct(t, 'git_commit')}",
        f"- date: {created[:10] or '–'}",
        f"- compute: {pretrain + evaluation:.1f} s in total ({pretrain:.1f} s pretraining "
        f"{len(ck)} checkpoint(s), {evaluation:.1f} s evaluating {len(t)} record(s))",
        *wall_time(t, run_logs),
    ]


def legend_text(single_run: bool, correction: str, primary: str = "") -> str:
    """Legend of a ranked table; `primary`: the Avg column whose marks come from the pairwise tests."""
    corrected = (", Holm-corrected over every pair of rows of the column, so that picking the best row does not "
                 "inflate the error rate" if correction == "holm" else ", not corrected for multiple comparisons")
    if single_run:
        cells = ("Cells: point estimate [95 % percentile bootstrap CI] of one deterministic run, in %. "
                 "Avg: mean over datasets, CI from the dataset-averaged replicates.")
        test = "paired bootstrap test over the same resamples"
    else:
        cells = ("Cells: mean (sample std) over seeds, in %. "
                 "Avg: mean over datasets per seed, then mean (std) over seeds.")
        test = "paired t-test across pretraining runs matched by seed"
    best = "value" if single_run else "mean"
    return (f"{cells} **Bold**: best {best} in the column. {MARK}: the best row is significantly better than this row"
            f" ({test}, p < {ALPHA}{corrected}"
            + (f"; in the {primary} column, the pair's p from the pairwise tests below, so the mark and the pairwise "
               "list agree" if primary and correction == "holm" else "")
            + "). `(k/K seeds)`: incomplete row, averaged "
            "over the seeds that exist. n/a: task not applicable to the strategy; –: no record. "
            f"{FLOOR_MARK}: below the `random-init` reference row (the untrained encoders) in this column. "
            f"Reference rows: {reference_rows()}. "
            "Pretrain (s) / Peak mem (MB): pretraining wall time and peak memory of the strategy's checkpoint(s), summed over its pretraining runs.")


def reference_rows() -> str:
    """Every registered reference row with its title, in row order (README says what each rules out)."""
    names = sorted(STRATEGIES.tagged(REFERENCE_TAG), key=strategy_key)
    return "; ".join(f"`{name}` — {plugin_info(STRATEGIES, name).title or name}" for name in names) or "none"


def text_diagnostic_lines(t: pd.DataFrame) -> list[str]:
    """For a zero-shot table: each strategy's text tower alone (the checkpoints' text-only zero-shot
    diagnostic), so a row can be read against what its words give without the image."""
    known = t.dropna(subset=["text_zero_shot_auc"]).drop_duplicates(["strategy", "checkpoint_hash"])
    if known.empty:
        return []
    means = known.groupby("strategy")["text_zero_shot_auc"].agg(["mean", "count"])
    cells = [f"{s} {means.loc[s, 'mean']:.1f} ({int(means.loc[s, 'count'])} run(s))"
             for s in sorted(means.index, key=strategy_key)]
    return ["", "Text tower alone (each checkpoint's text-only zero-shot macro AUC on the corpus validation reports, "
            "the image unused; rows without a text tower are n/a above): " + ", ".join(cells) + "."]


def descriptive_legend(task: str) -> str:
    """Legend of a descriptive table: what each metric means, no ranking."""
    notes = " ".join(f"{metric}: {note}." for metric, note in plugin_info(TASKS, task).metric_notes.items())
    return ("Cells: mean (sample std) over seeds (each its own pretraining run). A description, not a ranking: "
            f"no bold, no tests. {notes} –: the metric does not apply to the strategy (e.g. no text tower) or no record. "
            "Pretrain (s) / Peak mem (MB): as in the other tables.")


def warning_lines(t: pd.DataFrame) -> list[str]:
    w = t[["dataset", "warnings"]].explode("warnings").dropna()
    if w.empty:
        return []
    counts = w.groupby(["dataset", "warnings"]).size().sort_index()
    return ["", "Warnings:", ""] + [f"- {d}: {msg} ({n} record(s))" for (d, msg), n in counts.items()]


# ---------------------------------------------------------------- headline


def at_fraction_one(cells: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The cells of a headline: `metric` at label fraction 1."""
    return cells[(cells["metric"] == metric) & (cells["fraction"] == 1.0)]


def headline_lines(cells: pd.DataFrame, single_run: bool, metric: str, per_strategy: pd.DataFrame, baseline: str,
                   references: set[str], ladder_cells: pd.DataFrame | None, ladder: LadderResult | None) -> list[str]:
    """The headline of a task: one row per strategy with the primary metric per dataset and Avg
    at fraction 1, Δ to the baseline with its CI, the verdict and the pretraining cost (≤ 10
    columns with 5 datasets); the real strategies, then the reference rows, then the planted
    ladder, each in a table of its own."""
    primary = at_fraction_one(cells, metric)
    datasets = list(dict.fromkeys(primary["dataset"]))
    rows = list(dict.fromkeys(primary["strategy"]))
    against = {r["strategy"]: r for r in per_strategy.to_dict("records")} if not per_strategy.empty else {}
    real = [s for s in rows if s not in references]
    blocks = [("", real, against, baseline), ("Reference rows", [s for s in rows if s in references], against, baseline)]
    if ladder_cells is not None and ladder is not None:
        primary = pd.concat([primary, at_fraction_one(ladder_cells, metric)], ignore_index=True)
        rungs = {s: {"delta": d.mean, "delta_lo": d.lo, "delta_hi": d.hi, "verdict": ladder.verdicts[s]}
                 for s, d in ladder.deltas.items()}
        blocks.append((f"Planted ladder (known order: {' > '.join(ladder.ladder.rows)}; Δ and verdict against "
                       f"`{ladder.ladder.reference}`, Holm over the ladder)", list(ladder.deltas), rungs, ladder.ladder.reference))
    by_cell = {(r["strategy"], r["dataset"]): r for r in primary.to_dict("records")}
    lines = []
    for title, names, compared, base in blocks:
        if not names:
            continue
        headers = ["Strategy", *datasets, f"Δ vs {base} [95 % CI]", "Verdict", "Pretrain (s)"]
        body = []
        for s in names:
            first = by_cell[(s, datasets[0])]
            row = compared.get(s, {})
            if s == base:
                delta, verdict = "baseline", "–"
            elif row and np.isfinite(row.get("delta", np.nan)):
                ci = f" [{row['delta_lo']:+.2f}, {row['delta_hi']:+.2f}]" if np.isfinite(row["delta_lo"]) else ""
                delta, verdict = f"{row['delta']:+.2f}{ci}", row["verdict"]
            else:
                delta, verdict = "–", "–"
            body.append([first["label"], *(cell_text(by_cell[(s, d)], single_run) for d in datasets), delta, verdict,
                         num(first["pretrain_wall_time_s"], ".0f")])
        lines += ([f"{title}:", ""] if title else []) + [tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]
    return lines


def ablation_headline(cells: pd.DataFrame, components: dict[str, list[str]], metric: str, single_run: bool) -> str:
    """The first table of an ablation section (ViLReF Tables IV–V, M-FLAG Table 4): each row's
    components ✓, the primary metric per dataset and Avg at fraction 1 and the pretraining cost
    (≤ 10 columns with 5 datasets); every other metric stays in the wide table below it."""
    names = list(dict.fromkeys(c for parts in components.values() for c in parts))
    primary = at_fraction_one(cells, metric)
    datasets = list(dict.fromkeys(primary["dataset"]))
    by_cell = {(r["strategy"], r["dataset"]): r for r in primary.to_dict("records")}
    body = []
    for s, parts in components.items():
        first = by_cell[(s, datasets[0])]
        body.append([first["label"], *("✓" if c in parts else "" for c in names),
                     *(cell_text(by_cell[(s, d)], single_run) for d in datasets), num(first["pretrain_wall_time_s"], ".0f")])
    headers = ["Strategy", *names, *(column_label(Column(d, 1.0, metric), False) for d in datasets), "Pretrain (s)"]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def task_headline(title: str, task: str, metric: str, ts: TaskStatistics, references: set[str], detect: str) -> str:
    """One markdown line for the overview: the task's best real strategy with its mean, its Δ to
    the baseline with the CI and the verdict, then what the grid can detect."""
    real = [s for s in ts.runs.columns if s not in references] if not ts.runs.empty else []
    if not real:
        return f"**{title}** (`{task}`): no ranked strategy. {detect}"
    means = ts.runs[real].mean(axis=0)
    best = str(means.idxmax())
    row = ts.per_strategy.set_index("strategy").loc[best] if not ts.per_strategy.empty else None
    if best == ts.baseline:
        versus = f"it is the baseline `{ts.baseline}`"
    elif row is not None and np.isfinite(row["delta"]):
        ci = f" [{row['delta_lo']:+.2f}, {row['delta_hi']:+.2f}]" if np.isfinite(row["delta_lo"]) else ""
        versus = f"Δ vs `{ts.baseline}` {row['delta']:+.2f}{ci}: {row['verdict']}"
    else:
        versus = f"no Δ vs `{ts.baseline}`"
    return f"**{title}** (`{task}`): best `{best}`, Avg {metric_name(metric)} {means[best]:.2f}; {versus}. {detect}"


def headline_caption(metric: str, single_run: bool, runs: int, baseline: str) -> str:
    """The line above a task's headline table: what its cells and columns are."""
    cells = ("point estimate [95 % bootstrap CI] of one deterministic run" if single_run
             else f"mean (SD) over {runs} pretraining runs (seeds)")
    return (f"{metric_name(metric)} (%) at label fraction 1 per dataset and averaged (Avg): {cells}. **Bold**: best; †: "
            f"significantly below the best (paired over runs, Holm); ▽: below `random-init`. Δ and verdict against "
            f"`{baseline}`: paired over runs, Holm over the table's pairs, else TOST; *can't tell* below the MDD. "
            "Secondary metrics, every fraction, ranks and win rates: under Details.")
